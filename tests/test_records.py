"""Completion records, reviews and waivers at the model level: amounts, scopes, evidence by content
hash, and clear refusals that name the field and store nothing."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shanhai.models.catalogue import load_catalogue
from shanhai.models.errors import InputError
from shanhai.models.scopes import resolve_scope
from shanhai.models.tables import AuditEntry, CompletionRecord, EvidenceFile, Waiver
from tests.conftest import (
    at,
    count_rows,
    joint_meeting,
    make_app,
    make_catalogue,
    make_record,
    next_year_plan,
    occurrence_id,
    review,
    status_of,
    waive,
)

# --------------------------------------------------------------------------- scopes


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return load_catalogue(make_catalogue(tmp_path_factory.mktemp("calendar"), [joint_meeting()]))


@pytest.mark.parametrize(
    ("kind", "name", "resolved"),
    [
        ("pairing", "泰顺-鹿城", "泰顺-鹿城"),
        ("pairing", "泰顺县", "泰顺-鹿城"),  # a unit of exactly one pairing names it
        ("pairing", "鹿城", "泰顺-鹿城"),  # by its short name
        ("pairing", " 永嘉-瓯海 ", "永嘉-瓯海"),
        ("county", "泰顺", "泰顺县"),
        ("park", "泰顺园", "泰顺-鹿城生态旅游文化产业园"),
        ("city", "全市", "全市"),
    ],
)
def test_it_accepts_the_names_people_use_for_a_scope(catalogue, kind, name, resolved):
    assert resolve_scope(catalogue, kind, name, 2026) == resolved


@pytest.mark.parametrize(
    ("kind", "name"),
    [("pairing", "泰顺-瓯海"), ("pairing", "鹿城-泰顺"), ("park", "火星园"), ("city", "泰顺-鹿城"), ("county", "火星县")],
)
def test_it_refuses_an_unknown_scope_naming_it(catalogue, kind, name):
    with pytest.raises(InputError) as caught:
        resolve_scope(catalogue, kind, name, 2026)
    assert caught.value.field == "scope"
    assert name in caught.value.message


def test_an_unknown_pairing_error_lists_the_pairings_to_choose_from(catalogue):
    with pytest.raises(InputError) as caught:
        resolve_scope(catalogue, "pairing", "泰顺-瓯海", 2026)
    assert "泰顺-鹿城" in caught.value.message and "永嘉-瓯海" in caught.value.message


# --------------------------------------------------------------------------- records in the database


@pytest.fixture
def app(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting(), next_year_plan()])
    return make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2026, 3, 2),
                    max_evidence_bytes=64)


def test_a_record_is_audited_with_what_was_recorded(app):
    rid = make_record(app, "joint-meeting", "泰顺-鹿城", "2026-03-01", note="第一次")
    with app.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "record.submitted")).scalar_one()
        rec = s.get(CompletionRecord, rid)
    assert entry.entity_id == str(rid)
    assert "2026-03-01" in entry.detail
    assert (rec.state, rec.note, rec.count) == ("submitted", "第一次", 1)


def test_evidence_is_stored_once_by_content_hash(app, tmp_path):
    content = b"%PDF-1.4 minutes of the joint meeting"
    first, second = tmp_path / "minutes.pdf", tmp_path / "same-minutes-renamed.pdf"
    first.write_bytes(content)
    second.write_bytes(content)
    a = make_record(app, "joint-meeting", "泰顺-鹿城", "2026-02-01", evidence=first, max_evidence_bytes=64)
    b = make_record(app, "joint-meeting", "永嘉-瓯海", "2026-02-02", evidence=second, max_evidence_bytes=64)
    digest = hashlib.sha256(content).hexdigest()
    stored = app.settings.evidence_dir / digest[:2] / digest
    assert stored.read_bytes() == content
    assert [p for p in app.settings.evidence_dir.rglob("*") if p.is_file()] == [stored]
    with app.session() as s:
        assert s.execute(select(EvidenceFile.sha256)).scalars().all() == [digest]
        recs = {r.id: r for r in s.execute(select(CompletionRecord)).scalars()}
    assert (recs[a].evidence_sha256, recs[a].evidence_name) == (digest, "minutes.pdf")
    assert (recs[b].evidence_sha256, recs[b].evidence_name) == (digest, "same-minutes-renamed.pdf")


def unusable_evidence(tmp_path, problem: str) -> tuple[Path, str]:
    """A path that is not a readable regular file within 64 bytes, and what the refusal says about it."""
    path = tmp_path / f"{problem}.pdf"
    if problem == "missing":
        return path, "不存在"
    if problem == "directory":
        path.mkdir()
        return path, "目录"
    if problem == "oversized":
        path.write_bytes(b"x" * 65)
        return path, "过大"
    if problem == "empty":
        path.write_bytes(b"")
        return path, "空文件"
    if problem == "device":
        return Path("/dev/zero"), "设备"
    if problem == "proc":
        return Path("/proc/self/status"), "伪文件"  # size 0, yet it has content
    if problem == "fifo":
        os.mkfifo(path)  # no writer: opening it must not hang
        return path, "管道"
    if problem == "dangling-link":
        path.symlink_to(tmp_path / "gone.pdf")
        return path, "符号链接"
    if problem == "link-to-a-device":
        path.symlink_to("/dev/zero")
        return path, "设备"
    raise AssertionError(problem)


EVIDENCE_PROBLEMS = ["missing", "directory", "oversized", "empty", "device", "proc", "fifo", "dangling-link",
                     "link-to-a-device"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("problem", EVIDENCE_PROBLEMS)
def test_unusable_evidence_is_refused_naming_the_path_and_nothing_is_stored(app, tmp_path, problem):
    path, says = unusable_evidence(tmp_path, problem)
    with pytest.raises(InputError) as caught:
        make_record(app, "joint-meeting", "泰顺-鹿城", "2026-02-01", evidence=path, max_evidence_bytes=64)
    assert caught.value.field == "evidence"
    assert str(path) in caught.value.message and says in caught.value.message
    assert count_rows(app.database_url, CompletionRecord) == 0
    assert count_rows(app.database_url, EvidenceFile) == 0
    assert not app.settings.evidence_dir.exists() or not any(app.settings.evidence_dir.rglob("*"))


def test_a_symlink_to_a_regular_file_is_read_through(app, tmp_path):
    real = tmp_path / "minutes.pdf"
    real.write_bytes(b"%PDF minutes")
    link = tmp_path / "latest.pdf"
    link.symlink_to(real)
    rid = make_record(app, "joint-meeting", "泰顺-鹿城", "2026-02-01", evidence=link, max_evidence_bytes=64)
    with app.session() as s:
        rec = s.get(CompletionRecord, rid)
    assert (rec.evidence_sha256, rec.evidence_name) == (hashlib.sha256(b"%PDF minutes").hexdigest(), "latest.pdf")


def test_a_file_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(app, tmp_path):
    from shanhai.models.evidence import read_regular_file

    exact = tmp_path / "exact.pdf"
    exact.write_bytes(b"y" * 64)
    assert read_regular_file(exact, max_bytes=64) == b"y" * 64
    exact.write_bytes(b"y" * 65)
    with pytest.raises(InputError):
        read_regular_file(exact, max_bytes=64)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"on": "2026-03-03"}, "date"),  # tomorrow
        ({"on": "2024-06-01"}, "date"),  # before the duty's first year
        ({"count": 0}, "count"),
        ({"count": 100_001}, "count"),
        ({"amount_fen": 5 * 10**6}, "amount"),  # a count duty takes no amount
        ({"obligation": "next-year-plan", "amount_fen": -1}, "amount"),
        ({"obligation": "next-year-plan", "amount_fen": 10**13 + 1}, "amount"),  # over 1000亿元
        ({"obligation": "no-such-duty"}, "obligation"),
        ({"scope": "泰顺-火星"}, "scope"),
        ({"on": "2026-04-01", "period": "2025"}, "date"),  # after 2025's period closed (03-31)
    ],
)
def test_a_bad_record_names_its_field_and_stores_nothing(app, fields, field):
    args = {"obligation": "joint-meeting", "scope": "泰顺-鹿城", "on": "2026-03-01", **fields}
    with pytest.raises(InputError) as caught:
        make_record(app, args.pop("obligation"), args.pop("scope"), args.pop("on"), as_of=at(2026, 3, 2), **args)
    assert caught.value.field == field
    assert count_rows(app.database_url, CompletionRecord) == 0
    with app.session() as s:
        assert "record.submitted" not in s.execute(select(AuditEntry.action)).scalars().all()


def test_a_review_names_what_is_wrong(app):
    rid = make_record(app, "joint-meeting", "泰顺-鹿城", "2026-03-01")
    with pytest.raises(InputError) as caught:
        review(app, rid, "rejected")
    assert caught.value.field == "note"
    with pytest.raises(InputError) as caught:
        review(app, rid + 1000, "verified")
    assert caught.value.field == "record"
    with app.session() as s:
        assert s.get(CompletionRecord, rid).state == "submitted"
    review(app, rid, "rejected", note="无会议纪要")
    with app.session() as s:
        rec = s.get(CompletionRecord, rid)
    assert (rec.state, rec.review_note, rec.reviewed_by) == ("rejected", "无会议纪要", "经合办")


def test_a_waiver_needs_a_reason_and_happens_once(app):
    from shanhai.models.records import waive_occurrence

    occ = occurrence_id(app, "joint-meeting", "泰顺-鹿城", "2025")
    with pytest.raises(InputError) as caught, app.session() as s:
        waive_occurrence(session=s, occurrence_id=occ, reason="  ", actor="经合办")
    assert caught.value.field == "reason"
    with pytest.raises(InputError) as caught, app.session() as s:
        waive_occurrence(session=s, occurrence_id=occ + 10_000, reason="理由", actor="经合办")
    assert caught.value.field == "occurrence"
    assert count_rows(app.database_url, Waiver) == 0
    waive(app, "joint-meeting", "泰顺-鹿城", "2025", reason="2025年结对调整")
    with pytest.raises(InputError) as caught:
        waive(app, "joint-meeting", "泰顺-鹿城", "2025", reason="再次豁免")
    assert "2025年结对调整" in caught.value.message
    assert count_rows(app.database_url, Waiver) == 1
    with app.session() as s:  # waived at 00:30 on 2026-03-02 in Shanghai, still 03-01 in UTC
        s.execute(update(Waiver).values(created_at=datetime(2026, 3, 1, 16, 30, tzinfo=UTC)))
    with pytest.raises(InputError, match="已于 2026-03-02 豁免"):
        waive(app, "joint-meeting", "泰顺-鹿城", "2025", reason="再次豁免")
    assert status_of(app, "joint-meeting", "泰顺-鹿城", "2025", as_of=at(2026, 3, 2)).status == "waived"

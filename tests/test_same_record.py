"""Back never duplicates: a record identical to one already stored for the occurrence is refused on the
portal as on the CLI and in an import ("已提交过相同记录 #id"), and the coordinator's queue flags the
near-duplicates (same occurrence and date, other figures or evidence)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.portal_support import PDF, make_portal

INVEST = {"amount_number": "500", "amount_unit": "万元", "category": "八大产业", "note": "某项目签约"}


def stored(portal) -> list:
    from shanhai.db import session_scope
    from shanhai.models.tables import CompletionRecord

    with session_scope(portal.database_url) as s:
        return list(s.execute(select(CompletionRecord).order_by(CompletionRecord.id)).scalars())


@pytest.fixture
def portal(tmp_path, database_url):
    return make_portal(tmp_path, database_url)


def test_submit_back_and_submit_again_stores_one_record(portal):
    link = portal.link("industrial-investment", "全市", unit="coordinator")
    evidence = {"evidence": ("签约文件.pdf", PDF, "application/pdf")}
    first = portal.submit_record(link, files=evidence, **INVEST)
    assert first.status_code == 303, first.text
    [rec] = stored(portal)

    # Back: the page is fetched again (a fresh nonce), the browser refills the same fields and file
    again = portal.submit_record(link, files={"evidence": ("签约文件.pdf", PDF, "application/pdf")}, **INVEST)
    assert again.status_code == 422
    assert f"已提交过相同记录 #{rec.id}" in again.text and "未保存任何内容" in again.text
    assert len(stored(portal)) == 1, "progress is not counted twice"

    # a second project that day with another amount is a record of its own: stored, and flagged
    other = portal.submit_record(link, **{**INVEST, "amount_number": "300", "note": ""})
    assert other.status_code == 303, other.text
    first_id, second_id = (r.id for r in stored(portal))
    queue = portal.coordinator().get("/queue").text
    assert queue.count("疑似重复") == 2
    assert f"疑似重复：与 #{second_id} 同一期次" in queue and f"疑似重复：与 #{first_id} 同一期次" in queue


def test_a_rejected_record_may_be_submitted_again_and_the_queue_is_quiet_without_siblings(portal):
    from tests.conftest import review

    link = portal.link("industrial-investment", "全市", unit="coordinator")
    assert portal.submit_record(link, **INVEST).status_code == 303
    assert "疑似重复" not in portal.coordinator().get("/queue").text
    [rec] = stored(portal)
    review(portal.app, rec.id, "rejected", "金额有误")
    assert portal.submit_record(link, **INVEST).status_code == 303, "a rejected record no longer counts"
    assert len(stored(portal)) == 2


def test_the_cli_refuses_the_same_record_but_not_one_a_note_tells_apart(sh):
    meeting = ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-03-01", "--as-of", "2026-03-02",
               "--note", "第一次联席会议"]
    first = sh(*meeting, "--json")
    assert first.exit_code == 0, first.output
    rid = json.loads(first.stdout)["id"]
    again = sh(*meeting)
    assert again.exit_code == 1 and f"已提交过相同记录 #{rid}" in again.stderr
    assert sh(*meeting[:-1], "第二次联席会议").exit_code == 0, "two meetings that day, told apart by their notes"


def test_both_sides_reporting_one_joint_meeting_are_two_reports_of_one_event(portal):
    """Not a duplicate: each side of the pairing reports the meeting through its own link; progress
    counts the meeting once, and the same side pressing Back is still refused."""
    from tests.conftest import status_of

    for unit in ("taishun", "lucheng"):
        link = portal.link("joint-meeting", unit=unit)
        assert portal.submit_record(link, date="2026-03-10").status_code == 303
    assert [r.submitted_by for r in stored(portal)] == ["泰顺县（报送链接）", "鹿城区（报送链接）"]
    assert status_of(portal.app, "joint-meeting", "泰顺-鹿城", "2026", as_of=portal.clock.now).progress["done"] == 1
    again = portal.submit_record(portal.link("joint-meeting", unit="lucheng"), date="2026-03-10")
    assert again.status_code == 422 and "已提交过相同记录" in again.text

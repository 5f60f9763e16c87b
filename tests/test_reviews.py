"""Reviews are a state machine (SPEC §4, issue 8 item 5): submitted -> verified or rejected, nothing
else. The rule is pure; the store applies it with an UPDATE conditional on the state, so two
coordinators reviewing at once cannot both win; every refusal names the record, its state, who
reviewed it and when, and the CLI shows it in one line."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from sqlalchemy import select

from shanhai.models.errors import InputError
from shanhai.models.localtime import format_local
from shanhai.models.statuses import RecordState, record_label
from shanhai.models.tables import AuditEntry, CompletionRecord
from tests.conftest import at, in_parallel, joint_meeting, make_app, make_catalogue, make_record, review

PAIR = "泰顺-鹿城"
HUGE = "99999999999999999999"

# --------------------------------------------------------------------------- the rule, pure


@pytest.mark.parametrize(("now", "then"), list(itertools.product(RecordState, RecordState)))
def test_only_a_submitted_record_can_be_reviewed_and_only_to_a_verdict(now, then):
    expected = now is RecordState.SUBMITTED and then in (RecordState.VERIFIED, RecordState.REJECTED)
    assert now.can_become(then) is expected


def test_record_states_have_chinese_labels_and_an_unknown_code_shows_as_it_is():
    assert [s.label for s in RecordState] == ["待核验", "已核验", "已退回"]
    assert record_label("verified") == "已核验"
    assert record_label("lost") == "lost"


# --------------------------------------------------------------------------- the store


@pytest.fixture
def app(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    return make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2026, 3, 2))


def _record(app, rid: int) -> CompletionRecord:
    with app.session() as s:
        return s.get(CompletionRecord, rid)


def _reviews(app, rid: int) -> list[tuple[str, str]]:
    with app.session() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.entity == "record", AuditEntry.entity_id == str(rid),
                   AuditEntry.action != "record.submitted")
            .order_by(AuditEntry.id)
        ).all()
    return [(action, json.loads(detail).get("note")) for action, detail in rows]


def _refusal(app, rid: int, verdict: str, note: str | None = "理由") -> str:
    with pytest.raises(InputError) as caught:
        review(app, rid, verdict, note=note)
    assert caught.value.field == "record"
    return caught.value.message


def test_a_rejected_record_cannot_be_verified_or_rejected_again_and_keeps_its_reason(app):
    rid = make_record(app, "joint-meeting", PAIR, "2026-03-01")
    review(app, rid, "rejected", note="纪要缺签到表")
    rejected = _record(app, rid)
    when = format_local(rejected.reviewed_at)
    for verdict in ("verified", "rejected"):
        message = _refusal(app, rid, verdict, note="改为通过")
        assert f"记录 #{rid}" in message and "退回" in message
        assert "经合办" in message and when in message and "纪要缺签到表" in message
        assert "新记录" in message
    after = _record(app, rid)
    assert (after.state, after.review_note, after.reviewed_by, after.reviewed_at) == (
        "rejected", "纪要缺签到表", "经合办", rejected.reviewed_at,
    )
    assert _reviews(app, rid) == [("record.rejected", "纪要缺签到表")]


def test_a_verified_record_cannot_be_rejected_or_verified_again(app):
    rid = make_record(app, "joint-meeting", PAIR, "2026-03-01")
    review(app, rid, "verified", note="材料齐全")
    verified = _record(app, rid)
    refused_reject = _refusal(app, rid, "rejected", note="其实不行")
    assert f"记录 #{rid}" in refused_reject and "核验通过" in refused_reject and "不能再退回" in refused_reject
    assert format_local(verified.reviewed_at) in refused_reject and "经合办" in refused_reject
    refused_verify = _refusal(app, rid, "verified")
    assert "核验通过" in refused_verify and "无需再次核验" in refused_verify
    after = _record(app, rid)
    assert (after.state, after.review_note) == ("verified", "材料齐全")
    assert _reviews(app, rid) == [("record.verified", "材料齐全")]


def test_a_correction_is_a_new_record_that_can_be_verified(app):
    first = make_record(app, "joint-meeting", PAIR, "2026-03-01")
    review(app, first, "rejected", note="日期有误")
    second = make_record(app, "joint-meeting", PAIR, "2026-03-02", note="更正：日期")
    review(app, second, "verified")
    assert [(_record(app, r).state, _record(app, r).review_note) for r in (first, second)] == [
        ("rejected", "日期有误"), ("verified", None),
    ]


@pytest.mark.parametrize("note", [None, "", "   "])
def test_a_rejection_needs_a_reason_and_without_one_nothing_changes(app, note):
    rid = make_record(app, "joint-meeting", PAIR, "2026-03-01")
    with pytest.raises(InputError) as caught:
        review(app, rid, "rejected", note=note)
    assert caught.value.field == "note"
    assert _record(app, rid).state == "submitted" and _reviews(app, rid) == []


@pytest.mark.parametrize("record_id", [0, -1, 10_000, 2**63, int(HUGE)])
def test_an_id_that_names_no_record_is_refused_by_its_number(app, record_id):
    with pytest.raises(InputError) as caught:
        review(app, record_id, "verified")
    assert caught.value.field == "record" and f"没有编号为 {record_id} 的记录" in caught.value.message


def test_an_unknown_verdict_is_refused(app):
    rid = make_record(app, "joint-meeting", PAIR, "2026-03-01")
    with pytest.raises(InputError) as caught:
        review(app, rid, "approved")
    assert caught.value.field == "verdict"
    assert _record(app, rid).state == "submitted"


@pytest.mark.parametrize("round_", range(3))
def test_of_coordinators_reviewing_at_once_exactly_one_wins_and_the_others_are_told_who_did(app, round_):
    from shanhai.models.records import review_record

    rid = make_record(app, "joint-meeting", PAIR, "2026-03-01")
    verdicts = itertools.cycle(["verified", "rejected"])
    lock = threading.Lock()

    def attempt():
        with lock:
            verdict = next(verdicts)
        try:
            with app.session() as s:
                rec = review_record(session=s, record_id=rid, verdict=verdict, actor=f"协调员-{verdict}",
                                    note="并发审核")
                return ("won", rec.state)
        except InputError as exc:
            return ("refused", exc.message)

    results = in_parallel(4, attempt)
    won = [r for r in results if r[0] == "won"]
    refused = [r[1] for r in results if r[0] == "refused"]
    assert len(won) == 1 and len(refused) == 3, results
    state = won[0][1]
    stored = _record(app, rid)
    assert stored.state == state and stored.reviewed_by == f"协调员-{state}"
    for message in refused:
        assert f"记录 #{rid}" in message and f"协调员-{state}" in message
        assert ("退回" if state == "rejected" else "核验通过") in message
    assert _reviews(app, rid) == [(f"record.{state}", "并发审核")]


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def sh(cli, tmp_path):
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting()])

    def run(*args):
        return cli(*args, catalogue_dir=catalogue)

    assert run("init", "--as-of", "2026-03-02").exit_code == 0
    run.database_url = cli.database_url
    return run


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("错误 error: ")
    return line


def test_the_cli_refuses_a_second_review_in_one_line(sh):
    made = json.loads(sh("record", "joint-meeting", "--scope", PAIR, "--date", "2026-03-01", "--as-of", "2026-03-02",
                         "--json").stdout)
    assert sh("reject", made["id"], "--note", "缺少会议纪要").exit_code == 0
    for args in (["verify", made["id"]], ["reject", made["id"], "--note", "再退一次"]):
        line = _one_line(sh(*args))
        assert f"记录 #{made['id']}" in line and "退回" in line and "缺少会议纪要" in line
    other = json.loads(sh("record", "joint-meeting", "--scope", PAIR, "--date", "2026-03-02", "--as-of", "2026-03-02",
                          "--json").stdout)
    assert sh("verify", other["id"]).exit_code == 0
    line = _one_line(sh("reject", other["id"], "--note", "改主意了"))
    assert "核验通过" in line and "不能再退回" in line
    records = json.loads(sh("records", "--json").stdout)
    assert [(r["id"], r["state"], r["review_note"]) for r in records] == [
        (made["id"], "rejected", "缺少会议纪要"), (other["id"], "verified", None),
    ]


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["verify", HUGE], f"没有编号为 {HUGE} 的记录"),
        (["reject", HUGE, "--note", "理由"], f"没有编号为 {HUGE} 的记录"),
        (["waive", HUGE, "--reason", "理由"], f"没有编号为 {HUGE} 的期次"),
        (["outbox", "--show", HUGE], f"没有编号为 {HUGE} 的消息"),
        (["verify", "0"], "没有编号为 0 的记录"),
    ],
    ids=["verify", "reject", "waive", "outbox-show", "verify-zero"],
)
def test_a_huge_id_is_one_clear_line_not_a_traceback(sh, args, what):
    assert what in _one_line(sh(*args))


@pytest.mark.parametrize(("by", "detail"), [("  ", "须写明审核人"), ("审" * 129, "审核人名称过长（129 字，最多 128 字）")], ids=["blank", "too-long"])
def test_the_reviewer_must_be_named_in_a_name_that_fits(sh, by, detail):
    made = json.loads(sh("record", "joint-meeting", "--scope", PAIR, "--date", "2026-03-01", "--as-of", "2026-03-02",
                         "--json").stdout)
    for args in (["verify", made["id"]], ["reject", made["id"], "--note", "理由"], ["waive", "1", "--reason", "理由"]):
        line = _one_line(sh(*args, "--by", by))
        assert f"--by：{detail}" in line
    assert [r["state"] for r in json.loads(sh("records", "--json").stdout)] == ["submitted"]

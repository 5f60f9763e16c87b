"""The `shanhai` command: the issue's acceptance check (a year of records for one pairing), the
`--json` contracts, the exports, and bad input for every command (a clear error naming the option,
a non-zero exit, and nothing stored)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from shanhai.models.tables import AuditEntry, CompletionRecord, EvidenceFile, Obligation, Occurrence, Waiver
from tests.conftest import (
    count_rows,
    industrial_investment,
    joint_meeting,
    make_catalogue,
    make_obligation,
    next_year_plan,
    park_investment_plan,
    plan_rows,
    run_cli,
)

PAIR = "泰顺-鹿城"
STATUS_NAMES = {"done", "done_late", "on_track", "due_soon", "behind_pace", "overdue", "missed", "waived", "history"}

# The --json contracts: what the issue requires, and the full set the README documents.
ISSUE_OBLIGATION_FIELDS = {"id", "title", "clause", "kind", "scope", "due", "min_count", "target", "valid_from",
                           "valid_until", "responsible"}
ISSUE_PLAN_FIELDS = {"park", "year", "kind", "projects", "planned_total", "planned_completion"}
ISSUE_STATUS_FIELDS = {"obligation", "scope", "period", "due", "status", "progress", "escalation_level",
                       "accountable"}  # issue 14: the unit names that owe the occurrence
README_OBLIGATION_FIELDS = ISSUE_OBLIGATION_FIELDS | {"document", "in_force_until", "overrides", "source"}
README_PLAN_FIELDS = ISSUE_PLAN_FIELDS
README_STATUS_FIELDS = ISSUE_STATUS_FIELDS | {"id", "title", "clause", "light", "pending", "satisfied_on",
                                              "due_nominal", "closes", "unverified",
                                              "provisional_calendar", "history"}


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    return result


def as_json(result):
    return json.loads(ok(result).stdout)


def records(database_url) -> list[CompletionRecord]:
    from shanhai.db import session_scope

    with session_scope(database_url) as s:
        return list(s.execute(select(CompletionRecord).order_by(CompletionRecord.id)).scalars())


def audit_actions(database_url) -> list[str]:
    from shanhai.db import session_scope

    with session_scope(database_url) as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


# --------------------------------------------------------------------------- acceptance: a year for one pairing


def test_a_year_of_records_for_one_pairing_gives_the_statuses_spec_4_defines(cli):
    """泰顺-鹿城 through 2025 on the document's catalogue, entered as the year goes, read back at dates."""
    ok(cli("init", "--as-of", "2025-01-02"))

    def record(obligation, day, *extra):
        return as_json(cli("record", obligation, "--scope", PAIR, "--date", day, "--as-of", day, "--json", *extra))

    def statuses(day):
        items = as_json(cli("status", "--as-of", day, "--scope", PAIR, "--year", "2025", "--json"))
        assert {i["scope"] for i in items} == {PAIR}
        return {i["obligation"]: i for i in items}

    record("high-level-visit", "2025-03-12")
    science = record("social-coop-science", "2025-04-01")
    ok(cli("reject", science["id"], "--note", "协议未签署"))
    record("aid-funds", "2025-05-20")
    record("matchmaking-meeting", "2025-06-20")  # "每年" (二(一), 附件2 1.2): still in force in 2025

    july = statuses("2025-07-01")
    assert july["joint-meeting"]["status"] == "behind_pace"  # 0 of 2 by 06-30
    assert july["high-level-visit"]["status"] == "on_track"  # 1 of 2 by 06-30
    assert july["high-level-visit"]["progress"] == {"done": 1, "required": 2}
    assert july["aid-funds"]["status"] == "done" and july["aid-funds"]["pending"] is True
    assert july["social-coop-science"]["status"] == "on_track"  # the rejected record does not count
    assert july["next-year-plan"]["status"] == "on_track"

    record("joint-meeting", "2025-08-15")
    assert statuses("2025-08-16")["joint-meeting"]["status"] == "on_track"
    record("high-level-visit", "2025-09-18")
    health = record("social-coop-health", "2025-10-10")
    ok(cli("verify", health["id"]))
    record("social-coop-culture", "2025-10-12")

    november = statuses("2025-11-03")  # 10-31 was a Friday; Monday 11-03 is the first working day after
    assert (november["next-year-plan"]["status"], november["next-year-plan"]["escalation_level"]) == ("overdue", 1)
    record("next-year-plan", "2025-11-05")

    december = statuses("2025-12-15")
    assert december["next-year-plan"]["status"] == "done_late"
    assert december["joint-meeting"]["status"] == "due_soon"
    assert december["transfer-measures"]["status"] == "due_soon"
    assert december["high-level-visit"]["status"] == "done"
    education = december["social-coop-education"]
    ok(cli("waive", education["id"], "--reason", "该领域年内已由省级项目覆盖"))

    january = statuses("2026-01-05")
    assert {k: v["status"] for k, v in january.items()} == {
        "joint-meeting": "overdue",
        "high-level-visit": "done",
        "next-year-plan": "done_late",
        "aid-funds": "done",
        "transfer-measures": "overdue",
        "social-coop-science": "overdue",
        "social-coop-education": "waived",
        "social-coop-health": "done",
        "social-coop-culture": "done",
        "matchmaking-meeting": "done",
    }
    overdue = [v for v in january.values() if v["status"] == "overdue"]
    assert {v["escalation_level"] for v in overdue} == {1}  # Sunday 01-04 was a make-up working day
    assert {v["light"] for v in overdue} == {"red"}
    assert (january["social-coop-health"]["pending"], january["social-coop-culture"]["pending"]) == (False, True)
    assert {v["escalation_level"] for v in statuses("2026-01-08").values() if v["status"] == "overdue"} == {2}
    assert {v["escalation_level"] for v in statuses("2026-01-15").values() if v["status"] == "overdue"} == {3}

    table = ok(cli("status", "--as-of", "2026-01-05", "--scope", PAIR, "--year", "2025")).stdout
    assert "🔴 已逾期（督办1级）" in table
    assert "🟢 逾期完成" in table
    assert "⚪ 已豁免" in table
    assert "按期完成·待核验" in table

    # the 2026-03-31 assessment closes 2025: what is still unmet is missed, final, no longer escalated
    april = statuses("2026-04-01")
    assert {k for k, v in april.items() if v["status"] == "missed"} == {
        "joint-meeting", "transfer-measures", "social-coop-science",
    }
    assert {v["escalation_level"] for v in april.values() if v["status"] == "missed"} == {0}
    assert {v["light"] for v in april.values() if v["status"] == "missed"} == {"red"}


# --------------------------------------------------------------------------- --json contracts


def test_obligations_json_has_the_documented_fields(tmp_path):
    items = as_json(run_cli(["obligations", "--json"], home=tmp_path))
    assert len(items) == 32
    for item in items:
        assert set(item) == README_OBLIGATION_FIELDS, item["id"]
        assert item["scope"] in {"pairing", "county", "park", "city"}
        if item["kind"] in ("one_off", "cumulative_quantity"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", item["due"]), item
        else:
            assert re.fullmatch(r"\d\d-\d\d", item["due"]), item
        assert item["target"] is None or (
            set(item["target"]) == {"value", "unit"} and item["target"]["unit"] in {"亿元", "万元", "人次", "个"}
        )
        assert item["responsible"] and all(isinstance(n, str) for n in item["responsible"])
    by_id = {i["id"]: i for i in items}
    assert by_id["joint-meeting"]["due"] == "12-31" and by_id["joint-meeting"]["min_count"] == 2
    assert by_id["industrial-investment"]["target"] == {"value": 40, "unit": "亿元"}
    assert by_id["park-management"]["due"] == "2018-07-31"
    assert "市招商局（经合办）" in by_id["transfer-measures"]["responsible"]


def test_plans_json_has_the_documented_fields_for_all_30_rows_of_attachment_1(tmp_path):
    items = as_json(run_cli(["plans", "--json"], home=tmp_path))
    assert len(items) == 30
    assert all(set(i) == README_PLAN_FIELDS for i in items)
    assert {i["kind"] for i in items} == {"government", "attraction"}
    assert {i["year"] for i in items} == {2018, 2019, 2020}
    assert round(sum(i["planned_total"] for i in items) / 10_000, 1) == 237.7  # 亿元, as the document states


def test_status_json_has_the_documented_fields(cli):
    items = as_json(cli("status", "--as-of", "2026-11-29", "--json"))
    assert items
    for item in items:
        assert set(item) == README_STATUS_FIELDS, item
        assert item["status"] in STATUS_NAMES
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", item["due"])
        assert isinstance(item["escalation_level"], int)
        assert item["light"] in {"green", "yellow", "red", "grey"}
    by_key = {(i["obligation"], i["scope"], i["period"]): i for i in items}
    assert by_key[("joint-meeting", PAIR, "2026")]["progress"] == {"done": 0, "required": 2}
    investment = by_key[("industrial-investment", "全市", "2026")]["progress"]
    assert (investment["amount"], investment["target"], investment["unit"]) == (0, 40, "亿元")
    assert investment["shares"][0]["category"] == "八大产业"


def test_due_dates_in_a_year_without_a_notice_are_marked_provisional(cli):
    # 2026 is chinese-calendar's; nobody has imported the 2027 notice, so 2027 is the law's provisional calendar
    items = as_json(cli("status", "--as-of", "2027-02-01", "--all", "--json"))
    assert {i["due"][:4] for i in items} >= {"2026", "2027"}
    assert all(i["provisional_calendar"] == i["due"].startswith("2027") for i in items)
    table = ok(cli("status", "--as-of", "2027-02-01", "--scope", PAIR, "--year", "2027")).stdout
    assert "（临时日历）" in table
    assert "2027年的国务院办公厅节假日安排尚未导入" in table.splitlines()[-1]
    assert "临时日历" not in ok(cli("status", "--as-of", "2026-11-29", "--scope", PAIR, "--year", "2026")).stdout


def test_status_scope_takes_a_units_name_and_shows_its_own_duties(cli):
    items = as_json(cli("status", "--as-of", "2026-11-29", "--scope", "泰顺县", "--json"))
    scopes = {i["scope"] for i in items}
    assert {PAIR, "全市"} <= scopes
    assert not scopes & {"永嘉-瓯海", "苍南-龙湾", "文成-瑞安", "平阳-乐清"}
    city = as_json(cli("status", "--as-of", "2026-11-29", "--scope", "全市", "--json"))
    assert city and {i["scope"] for i in city} == {"全市"}


# --------------------------------------------------------------------------- exports


def test_export_writes_a_workbook_with_a_row_per_occurrence(cli, tmp_path):
    # a 2025 duty done on time: no longer in the default listing, still in the full history
    ok(cli("record", "aid-funds", "--scope", PAIR, "--date", "2025-05-20", "--as-of", "2026-11-29"))
    items = as_json(cli("status", "--as-of", "2026-11-29", "--json"))
    out = tmp_path / "out" / "status.xlsx"
    out.parent.mkdir()
    ok(cli("export", out, "--as-of", "2026-11-29"))
    sheet = load_workbook(out).active
    title, *rows = list(sheet.iter_rows(values_only=True))  # a title row states the as-of instant
    assert title[0].startswith("山海协作工程督办状态 截至 2026-11-29 12:00")
    assert rows[0][:2] == ("期次#", "事项")
    assert len(rows) - 1 == len(items)
    assert [r[0] for r in rows[1:]] == [i["id"] for i in items]  # the same order as status
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    overdue = next(i for i in items if i["status"] == "overdue")
    assert by_id[overdue["id"]]["状态"] == "已逾期"
    everything = tmp_path / "all.xlsx"
    ok(cli("export", everything, "--as-of", "2026-11-29", "--all"))
    head, *full = list(load_workbook(everything).active.iter_rows(values_only=True))[1:]
    assert len(full) > len(rows) - 1, "the full history lists every past period too"
    assert any(dict(zip(head, r, strict=True))["事项编号"] == "aid-funds"
               and dict(zip(head, r, strict=True))["期次"] == "2025" for r in full)


# --------------------------------------------------------------------------- init


def test_init_twice_changes_nothing(cli):
    ok(cli("init", "--as-of", "2026-11-29"))
    counts = {m: count_rows(cli.database_url, m) for m in (Obligation, Occurrence, AuditEntry)}
    second = ok(cli("init", "--as-of", "2026-11-29")).stdout
    assert "无变化" in second
    assert {m: count_rows(cli.database_url, m) for m in (Obligation, Occurrence, AuditEntry)} == counts


def test_every_command_refuses_an_invalid_catalogue_and_loads_nothing(cli, tmp_path):
    bad = make_obligation("bad-duty", "annual_count")
    bad["kind"] = "quarterly"
    broken = make_catalogue(tmp_path / "broken", [bad])
    text = (broken / "policy.yaml").read_text(encoding="utf-8")
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "quarterly" in s)
    for args in (["init"], ["status"], ["obligations"], ["plans"]):
        result = cli(*args, "--as-of", "2026-03-02", catalogue_dir=broken) if args[0] in ("init", "status") \
            else cli(*args, catalogue_dir=broken)
        assert result.exit_code == 1, args
        assert f"{broken / 'policy.yaml'}:{line}: obligations[0].kind" in result.stderr
    assert count_rows(cli.database_url, Obligation) == 0
    assert count_rows(cli.database_url, Occurrence) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["init"], ["status"], ["board"], ["demo"], ["export", "out.xlsx"], ["ics", "泰顺县"],
        ["import", "records.csv"], ["record", "joint-meeting", "--scope", PAIR, "--date", "2026-03-01"],
    ],
    ids=lambda a: a[0],
)
def test_every_command_refuses_a_garbage_as_of_before_touching_the_database(tmp_path, args):
    home = tmp_path / "home"
    result = run_cli([*args, "--as-of", "next tuesday"], home=home)
    assert result.exit_code == 1
    assert "--as-of" in result.stderr and "next tuesday" in result.stderr
    assert not (home / "unused.db").exists()


# --------------------------------------------------------------------------- record: bad input, nothing stored


@pytest.fixture
def small(tmp_path):
    """A small catalogue: joint meetings and the next-year plan (from 2025), a city-wide investment, a park
    plan for 2026, and a duty that ended with 2025."""
    return make_catalogue(
        tmp_path / "calendar",
        [
            joint_meeting(),
            next_year_plan(),
            industrial_investment(),
            park_investment_plan(),
            make_obligation("retired-duty", "annual_count", title="已结束的事项", valid_until=2025),
        ],
        plans=plan_rows(2026),
    )


@pytest.fixture
def sh(cli, small):
    """`shanhai` on the small catalogue, initialised on Monday 2026-03-02."""

    def run(*args, env=None):
        return cli(*args, catalogue_dir=small, env=env)

    ok(run("init", "--as-of", "2026-03-02"))
    run.database_url = cli.database_url
    run.home = cli.home
    return run


def assert_nothing_stored(sh):
    assert records(sh.database_url) == []
    assert count_rows(sh.database_url, EvidenceFile) == 0
    assert "record.submitted" not in audit_actions(sh.database_url)
    evidence = sh.home / "evidence"
    assert not evidence.exists() or not any(p.is_file() for p in evidence.rglob("*"))


AS_OF = ["--as-of", "2026-03-02"]
MEETING = ["record", "joint-meeting", "--scope", PAIR]
INVEST = ["record", "industrial-investment", "--scope", "全市", "--date", "2026-03-01", "--category", "八大产业"]


@pytest.mark.parametrize(
    ("args", "option", "detail"),
    [
        (["record", "no-such-duty", "--scope", PAIR, "--date", "2026-03-01"], "--obligation", "no-such-duty"),
        ([*MEETING[:3], "泰顺-火星", "--date", "2026-03-01"], "--scope", "泰顺-火星"),
        ([*INVEST[:3], PAIR, *INVEST[4:], "--amount", "1亿"], "--scope", PAIR),
        ([*MEETING, "--date", "2026-03-03"], "--date", "2026-03-03"),  # tomorrow
        ([*MEETING, "--date", "2026-02-30"], "--date", "2026-02-30"),
        ([*MEETING, "--date", "03/01/2026"], "--date", "03/01/2026"),
        ([*MEETING, "--date", "2024-06-01"], "--date", "2025"),  # before the duty's first year
        (["record", "retired-duty", "--scope", PAIR, "--date", "2026-02-01"], "--date", "2025"),  # after its last
        ([*MEETING, "--date", "2025-12-20", "--period", "2026"], "--date", "2026-01-01"),  # before its period
        ([*INVEST, "--amount", "-5万"], "--amount", "负数"),
        ([*INVEST, "--amount", "五百万"], "--amount", "五百万"),
        ([*INVEST, "--amount", "0.001元"], "--amount", "0.001"),
        ([*INVEST, "--amount", "11900"], "--amount", "金额须注明单位：11900 元、11900万 还是 11900亿？"),
        ([*INVEST, "--amount", "1001亿"], "--amount", "上限"),
        ([*MEETING, "--date", "2026-03-01", "--amount", "5万"], "--amount", "按次数/数量计"),
        ([*MEETING, "--date", "2026-03-01", "--count", "0"], "--count", "0"),
        ([*MEETING, "--date", "2026-03-01", "--count", "100001"], "--count", "上限"),
        ([*INVEST[:-1], "火星产业", "--amount", "1亿"], "--category", "火星产业"),
        (["record", "park-investment-plan", "--scope", "泰顺园", "--date", "2026-03-01", "--amount", "100万"],
         "--category", "government"),
    ],
    ids=[
        "unknown-obligation", "unknown-pairing", "pairing-for-a-city-duty", "future-date", "impossible-date",
        "unreadable-date", "before-validity", "after-validity", "before-its-period", "negative-amount",
        "amount-in-words", "fraction-of-a-fen", "bare-amount", "amount-over-the-bound", "amount-for-a-count-duty",
        "zero-count", "count-over-the-bound", "unknown-category", "plan-without-category",
    ],
)
def test_record_refuses_bad_input_naming_the_option_and_stores_nothing(sh, args, option, detail):
    result = sh(*args, *AS_OF)
    assert result.exit_code == 1, result.output
    assert f"错误 error: {option}：" in result.stderr
    assert detail in result.stderr
    assert_nothing_stored(sh)


def test_record_without_a_scope_is_a_usage_error(sh):
    result = sh("record", "joint-meeting", "--date", "2026-03-01", *AS_OF)
    assert result.exit_code == 2
    assert "--scope" in result.output
    assert_nothing_stored(sh)


@pytest.mark.parametrize("problem", ["missing", "directory", "oversized"])
def test_record_refuses_unusable_evidence_and_stores_nothing(sh, tmp_path, problem):
    path = {"missing": tmp_path / "nowhere.pdf", "directory": tmp_path / "folder", "oversized": tmp_path / "big.pdf"}[
        problem
    ]
    if problem == "directory":
        path.mkdir()
    if problem == "oversized":
        path.write_bytes(b"x" * 11)
    result = sh(*MEETING, "--date", "2026-03-01", "--evidence", path, *AS_OF,
                env={"SHANHAI_MAX_EVIDENCE_BYTES": "10"})
    assert result.exit_code == 1
    assert "--evidence" in result.stderr and str(path) in result.stderr
    assert_nothing_stored(sh)


def test_record_stores_evidence_once_by_content_hash(sh, tmp_path):
    import hashlib

    content = "联席会议纪要 2026-03-01".encode()
    (tmp_path / "a.pdf").write_bytes(content)
    (tmp_path / "b.pdf").write_bytes(content)
    ok(sh(*MEETING, "--date", "2026-03-01", "--evidence", tmp_path / "a.pdf", *AS_OF))
    ok(sh(*MEETING, "--date", "2026-03-02", "--evidence", tmp_path / "b.pdf", *AS_OF))
    digest = hashlib.sha256(content).hexdigest()
    assert count_rows(sh.database_url, EvidenceFile) == 1
    assert [(r.evidence_sha256, r.evidence_name) for r in records(sh.database_url)] == [
        (digest, "a.pdf"), (digest, "b.pdf"),
    ]
    stored = [p for p in (sh.home / "evidence").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [digest] and stored[0].read_bytes() == content


@pytest.mark.parametrize(
    ("amount", "fen", "shown"),
    [
        ("500万", 500_000_000, "0.05 亿元"),
        ("2.5亿", 25_000_000_000, "2.5 亿元"),
        ("1,200,000元", 120_000_000, "约 0.01 亿元"),
        ("8000.5元", 800_050, "不足 0.01 亿元"),
        ("11900万", 11_900 * 10_000 * 100, "1.19 亿元"),
    ],
)
def test_record_stores_amounts_in_fen_and_repeats_them_in_the_targets_unit(sh, amount, fen, shown):
    made = as_json(sh(*INVEST, "--amount", amount, "--json", *AS_OF))
    assert (made["state"], made["amount"]) == ("submitted", shown)
    [rec] = records(sh.database_url)
    assert (rec.id, rec.amount_fen, rec.category) == (made["id"], fen, "八大产业")


def test_record_confirms_a_park_plan_amount_in_the_attachments_wan_yuan(sh):
    args = ["record", "park-investment-plan", "--scope", "泰顺园", "--date", "2026-03-01", "--category", "government"]
    text = ok(sh(*args, "--amount", "1.19亿", *AS_OF)).stdout
    assert "金额 11,900 万元" in text
    made = as_json(sh(*args, "--amount", "3000万", "--json", *AS_OF))
    assert made["amount"] == "3,000 万元"


def test_record_json_has_no_amount_for_a_count(sh):
    made = as_json(sh(*MEETING, "--date", "2026-03-01", "--count", "2", "--json", *AS_OF))
    assert made["amount"] is None
    assert [r.count for r in records(sh.database_url)] == [2]


# --------------------------------------------------------------------------- review and waive


def test_reject_and_verify_name_what_is_wrong(sh):
    made = as_json(sh(*MEETING, "--date", "2026-03-01", "--json", *AS_OF))
    missing_note = sh("reject", made["id"])
    assert missing_note.exit_code == 2 and "--note" in missing_note.output
    empty_note = sh("reject", made["id"], "--note", "")
    assert empty_note.exit_code == 1 and "--note" in empty_note.stderr
    unknown = sh("verify", "9999")
    assert unknown.exit_code == 1 and "9999" in unknown.stderr
    assert [r.state for r in records(sh.database_url)] == ["submitted"]
    ok(sh("reject", made["id"], "--note", "纪要缺签到表"))
    assert [r.state for r in records(sh.database_url)] == ["rejected"]
    [item] = as_json(sh("status", "--obligation", "joint-meeting", "--scope", PAIR, "--year", "2026", "--json",
                        *AS_OF))
    assert item["progress"] == {"done": 0, "required": 2}


def test_waive_needs_a_reason_a_known_occurrence_and_happens_once(sh):
    [item] = as_json(sh("status", "--obligation", "joint-meeting", "--scope", PAIR, "--year", "2025", "--json",
                        *AS_OF))
    assert item["status"] == "history"  # due before tracking started (2026-01-01): grey, and still waivable
    blank = sh("waive", item["id"], "--reason", "  ")
    assert blank.exit_code == 1 and "--reason" in blank.stderr
    unknown = sh("waive", "99999", "--reason", "理由")
    assert unknown.exit_code == 1 and "没有编号为 99999 的期次" in unknown.stderr
    assert count_rows(sh.database_url, Waiver) == 0
    ok(sh("waive", item["id"], "--reason", "结对关系调整"))
    again = sh("waive", item["id"], "--reason", "再次")
    assert again.exit_code == 1 and "结对关系调整" in again.stderr
    assert count_rows(sh.database_url, Waiver) == 1
    [after] = as_json(sh("status", "--obligation", "joint-meeting", "--scope", PAIR, "--year", "2025", "--json",
                         *AS_OF))
    assert (after["status"], after["light"], after["escalation_level"]) == ("waived", "grey", 0)


# --------------------------------------------------------------------------- status: bad input


@pytest.mark.parametrize(
    ("args", "option", "detail"),
    [
        (["--scope", "火星县"], "--scope", "火星县"),
        (["--obligation", "no-such-duty"], "--obligation", "no-such-duty"),
    ],
)
def test_status_names_an_unknown_scope_or_obligation(sh, args, option, detail):
    result = sh("status", *args, *AS_OF)
    assert result.exit_code == 1
    assert option in result.stderr and detail in result.stderr


# --------------------------------------------------------------------------- import


HEADER = ["obligation", "scope", "date", "amount", "category", "count", "note"]
GOOD_ROWS = [
    ["joint-meeting", PAIR, "2026-01-20", "", "", "1", "第一次联席会议"],
    ["industrial-investment", "全市", "2026-02-10", "500万", "八大产业", "", ""],
]


def write_csv(path: Path, rows, header=HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def write_xlsx(path: Path, rows, header=HEADER) -> Path:
    wb = Workbook()
    for row in [header, *rows]:
        wb.active.append(row)
    wb.save(path)
    return path


@pytest.mark.parametrize("writer", [write_csv, write_xlsx], ids=["csv", "xlsx"])
def test_import_stores_every_row_when_all_are_good(sh, tmp_path, writer):
    path = writer(tmp_path / f"records.{'csv' if writer is write_csv else 'xlsx'}", GOOD_ROWS)
    assert "已导入 2 条记录" in ok(sh("import", path, *AS_OF)).stdout
    stored = records(sh.database_url)
    assert [(r.date.isoformat(), r.amount_fen, r.category) for r in stored] == [
        ("2026-01-20", None, None), ("2026-02-10", 500_000_000, "八大产业"),
    ]
    assert {r.submitted_by for r in stored} == {f"import:{path.name}"}


@pytest.mark.parametrize("writer", [write_csv, write_xlsx], ids=["csv", "xlsx"])
def test_import_with_one_bad_row_names_the_row_and_imports_nothing(sh, tmp_path, writer):
    bad = ["joint-meeting", "泰顺-火星", "2026-02-01", "", "", "", ""]
    path = writer(tmp_path / f"records.{'csv' if writer is write_csv else 'xlsx'}", [*GOOD_ROWS, bad])
    audit_before = audit_actions(sh.database_url)
    result = sh("import", path, *AS_OF)
    assert result.exit_code == 1
    assert "第4行 scope" in result.stderr and "泰顺-火星" in result.stderr  # row 1 is the header
    assert "未导入任何记录" in result.stderr
    assert_nothing_stored(sh)
    assert audit_actions(sh.database_url) == audit_before


def test_import_reports_every_bad_row(sh, tmp_path):
    rows = [
        ["joint-meeting", PAIR, "2026-13-01", "", "", "", ""],
        GOOD_ROWS[0],
        ["industrial-investment", "全市", "2026-02-10", "-3万", "八大产业", "", ""],
        ["joint-meeting", PAIR, "2026-02-01", "", "", "two", ""],
    ]
    result = sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF)
    assert result.exit_code == 1
    for expected in ("第2行 date", "第4行 amount", "第5行 count"):
        assert expected in result.stderr
    assert "第3行" not in result.stderr
    assert_nothing_stored(sh)


def test_import_accepts_chinese_headers(sh, tmp_path):
    path = write_csv(tmp_path / "记录.csv", [["next-year-plan", "永嘉-瓯海", "2026-02-01"]], header=["事项编号", "范围", "日期"])
    ok(sh("import", path, *AS_OF))
    assert len(records(sh.database_url)) == 1


@pytest.mark.parametrize("problem", ["missing-column", "missing-file", "not-a-workbook"])
def test_import_names_an_unreadable_file(sh, tmp_path, problem):
    if problem == "missing-column":
        path = write_csv(tmp_path / "records.csv", [["joint-meeting", "2026-02-01"]], header=["obligation", "date"])
        expected = "第1行"
    elif problem == "missing-file":
        path, expected = tmp_path / "nowhere.csv", "nowhere.csv"
    else:
        path, expected = tmp_path / "records.xlsx", "records.xlsx"
        path.write_text("this is not a workbook", encoding="utf-8")
    result = sh("import", path, *AS_OF)
    assert result.exit_code == 1
    assert expected in result.stderr
    if problem == "missing-column":
        assert "scope" in result.stderr
    assert_nothing_stored(sh)


def test_import_names_the_line_a_person_sees_even_after_blank_lines(sh, tmp_path):
    rows = [GOOD_ROWS[0], ["", "", "", "", "", "", ""], ["joint-meeting", "泰顺-火星", "2026-02-01", "", "", "", ""]]
    result = sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF)
    assert result.exit_code == 1
    assert "第4行 scope" in result.stderr, "header on line 1, a good row, a blank line, the bad row on line 4"
    assert_nothing_stored(sh)


@pytest.mark.parametrize("period", ["abc", "20255", "2025-1"])
def test_record_names_a_bad_period(sh, period):
    result = sh("record", "joint-meeting", "--scope", PAIR, "--date", "2026-01-20", "--period", period, *AS_OF)
    assert result.exit_code == 1
    assert "--period" in result.stderr and period in result.stderr
    assert_nothing_stored(sh)


def test_a_one_off_cannot_be_recorded_after_it_closes(cli):
    # the document's park-management duty was due 2018-07-31: a late record counts (done_late) until the
    # period closes at the 2019-03-31 assessment; after it, nothing does
    late = cli("record", "park-management", "--scope", "泰顺园", "--date", "2019-03-20", "--amount", "2亿", *AS_OF)
    assert late.exit_code == 0, late.output
    result = cli("record", "park-management", "--scope", "泰顺园", "--date", "2019-04-02", *AS_OF)
    assert result.exit_code == 1
    assert "--date" in result.stderr and "2019-03-31" in result.stderr
    assert len(records(cli.database_url)) == 1


def test_a_preview_date_never_lets_a_record_be_dated_in_the_real_future(cli):
    """`--as-of` a year ahead is a preview: the real clock still refuses a completion dated tomorrow."""
    import pendulum

    now = pendulum.now("Asia/Shanghai")
    tomorrow, next_year = now.add(days=1).date().isoformat(), now.add(years=1).date().isoformat()
    result = cli("record", "joint-meeting", "--scope", PAIR, "--date", tomorrow, "--as-of", next_year)
    assert result.exit_code == 1 and "在未来" in result.stderr
    assert records(cli.database_url) == []

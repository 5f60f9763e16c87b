"""`shanhai records`: the completion records a coordinator reviews, with the ids `verify` and `reject`
take. Pending first, oldest first; filters as `status` reads them; the `--json` fields the README
documents."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import (
    PARK,
)

PAIR = "泰顺-鹿城"
OTHER = "永嘉-瓯海"
AS_OF = ["--as-of", "2026-03-02"]
ISSUE_FIELDS = {"id", "obligation", "scope", "period", "date", "amount", "count", "category", "state", "note",
                "evidence"}
README_FIELDS = ISSUE_FIELDS | {"occurrence", "title", "submitted_by", "submitted_at", "reviewed_by", "reviewed_at",
                                "review_note", "same_event", "reported_late", "amount_yuan"}
LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def listed(sh, *args) -> list[dict]:
    return json.loads(ok(sh("records", "--json", *args)).stdout)


def record(sh, *args) -> int:
    return json.loads(ok(sh("record", *args, *AS_OF, "--json")).stdout)["id"]


@pytest.fixture
def four(sh, tmp_path):
    """A meeting for each pairing, a city-wide investment with evidence, a park plan amount."""
    evidence = tmp_path / "纪要.pdf"
    evidence.write_bytes(b"minutes")
    ids = {
        "meeting": record(sh, "joint-meeting", "--scope", PAIR, "--date", "2026-02-10", "--note", "第一次联席会议",
                          "--evidence", evidence),
        "other": record(sh, "joint-meeting", "--scope", OTHER, "--date", "2026-02-11"),
        "invest": record(sh, "industrial-investment", "--scope", "全市", "--date", "2026-02-12", "--amount", "11900万",
                         "--category", "八大产业"),
        "park": record(sh, "park-investment-plan", "--scope", "泰顺园", "--date", "2026-02-13", "--amount", "3000万",
                       "--category", "government"),
    }
    return ids


def test_records_json_has_the_documented_fields(sh, four):
    items = listed(sh)
    assert len(items) == 4
    for item in items:
        assert set(item) == README_FIELDS
        assert LOCAL_TIME.fullmatch(item["submitted_at"]) and item["reviewed_at"] is None
    meeting = next(i for i in items if i["id"] == four["meeting"])
    assert {k: meeting[k] for k in ISSUE_FIELDS} == {
        "id": four["meeting"], "obligation": "joint-meeting", "scope": PAIR, "period": "2026", "date": "2026-02-10",
        "amount": None, "count": 1, "category": None, "state": "submitted", "note": "第一次联席会议",
        "evidence": "纪要.pdf",
    }
    invest = next(i for i in items if i["id"] == four["invest"])
    assert (invest["amount"], invest["category"], invest["evidence"]) == ("1.19 亿元", "八大产业", None)
    assert invest["amount_yuan"] == "119000000.00" and meeting["amount_yuan"] is None  # exact, for scripts
    park = next(i for i in items if i["id"] == four["park"])
    assert park["amount"] == "3,000 万元"  # 附件1 is in 万元


def test_pending_records_come_first_oldest_first_and_reviews_show_who_when_and_why(sh, four):
    ok(sh("verify", four["meeting"]))
    ok(sh("reject", four["invest"], "--note", "缺少到位资金凭证"))
    items = listed(sh)
    assert [i["id"] for i in items] == [four["other"], four["park"], four["meeting"], four["invest"]]
    assert [i["state"] for i in items] == ["submitted", "submitted", "verified", "rejected"]
    rejected = items[-1]
    assert rejected["review_note"] == "缺少到位资金凭证" and rejected["reviewed_by"] == "市招商局（经合办）"
    assert LOCAL_TIME.fullmatch(rejected["reviewed_at"])
    assert [i["id"] for i in listed(sh, "--pending")] == [four["other"], four["park"]]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (PAIR, ["meeting"]),
        (OTHER, ["other"]),
        ("全市", ["invest"]),
        ("泰顺园", ["park"]),
        (PARK, ["park"]),
        # a unit sees its own occurrences: its pairing's, its park's and the city duty naming it
        ("泰顺县", ["meeting", "invest", "park"]),
        ("瓯海", ["other", "invest"]),
        ("市教育局", []),
    ],
)
def test_scope_is_read_as_status_reads_it(sh, four, scope, expected):
    assert [i["id"] for i in listed(sh, "--scope", scope)] == [four[k] for k in expected]


def test_obligation_filters_and_combines_with_pending(sh, four):
    assert [i["id"] for i in listed(sh, "--obligation", "joint-meeting")] == [four["meeting"], four["other"]]
    ok(sh("verify", four["other"]))
    assert [i["id"] for i in listed(sh, "--obligation", "joint-meeting", "--pending")] == [four["meeting"]]


@pytest.mark.parametrize(
    ("args", "detail"),
    [(["--scope", "火星县"], "--scope：未知的范围“火星县”"), (["--obligation", "no-such"], "--obligation：未知的事项编号“no-such”")],
)
def test_an_unknown_filter_is_one_line_naming_it(sh, args, detail):
    result = sh("records", *args)
    assert result.exit_code == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert detail in line


def test_the_table_is_chinese_and_carries_the_ids_to_review(sh, four):
    ok(sh("reject", four["other"], "--note", "无签到表"))
    text = ok(sh("records")).stdout
    head, *rows, total = text.strip().splitlines()
    for column in ("审核", "事项", "范围", "期次", "完成日期", "金额/数量", "证明材料", "登记时间", "说明"):
        assert column in head
    assert total == "共 4 项"
    assert rows[0].split()[:2] == [str(four["meeting"]), "待核验"]
    assert "1.19 亿元" in text and "纪要.pdf" in text and "联席会议" in text
    assert rows[-1].split()[:2] == [str(four["other"]), "已退回"] and "审核：无签到表" in rows[-1]
    empty = ok(sh("records", "--pending", "--scope", "市教育局")).stdout
    assert empty.strip().splitlines()[-1] == "共 0 项"


def test_no_records_is_an_empty_list(sh):
    assert listed(sh) == []


def test_waive_help_says_in_chinese_first_what_the_id_is_and_what_waiving_does(tmp_path):
    from tests.conftest import run_cli

    text = run_cli(["waive", "--help"], home=tmp_path / "home").stdout
    assert text.index("豁免一个期次") < text.index("Waive an")
    for says in ("shanhai status", "不再提醒", "只能豁免一次", "豁免理由", "豁免人"):
        assert says in text, says
    assert not (tmp_path / "home").exists()

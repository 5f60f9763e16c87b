"""`shanhai remind` on the document's catalogue around 2026's National Day and make-up working day.

Dates (verified with chinese-calendar): 2026-10-01..10-07 are off; Saturday 10-10 is a make-up working day;
10-31 is a Saturday, so the first working day after the next-year plan's due date is Monday 11-02.
"""

from __future__ import annotations

import json

from tests.conftest import run_cli  # noqa: F401  (the `cli` fixture wraps it)


def reminders(cli, when: str) -> list[dict]:
    result = cli("remind", "--as-of", when, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def items_for(messages: list[dict], recipient: str, obligation: str, due: str = "2026-10-31") -> list[dict]:
    """The recipient's items for one occurrence's due date (earlier years, never recorded, are overdue too)."""
    return [
        i
        for m in messages
        if m["recipient"] == recipient
        for i in m["items"]
        if i["obligation"] == obligation and i["due"] == due
    ]


def test_remind_follows_the_working_calendar_and_sends_each_stage_once(cli):
    # 永嘉-瓯海 filed its plan in September; 泰顺-鹿城 has not
    done = cli("record", "next-year-plan", "--scope", "永嘉-瓯海", "--date", "2026-09-15", "--as-of", "2026-09-15")
    assert done.exit_code == 0, done.output

    assert reminders(cli, "2026-10-02T10:00") == [], "nothing goes out on a National Day holiday"
    assert reminders(cli, "2026-10-10T08:30") == [], "nothing before the send hour, even on a working day"

    on_make_up_day = reminders(cli, "2026-10-10T10:00")
    plan = items_for(on_make_up_day, "泰顺县", "next-year-plan")
    assert [(i["scope"], i["stage"], i["due"]) for i in plan] == [("泰顺-鹿城", "before_30d", "2026-10-31")], (
        "the 30-day reminder fell on the holiday (10-01) and goes out on the next working day it is run"
    )
    assert items_for(on_make_up_day, "鹿城区", "next-year-plan"), "both sides of the pairing are reminded"
    assert not items_for(on_make_up_day, "永嘉县", "next-year-plan"), "a done occurrence is not reminded"
    assert items_for(on_make_up_day, "泰顺县", "next-year-plan", due="2025-10-31"), "last year's missed plan nags"
    assert all(m["role"] == "county" for m in on_make_up_day if m["recipient"] in ("泰顺县", "鹿城区"))
    per_recipient = [m["recipient"] for m in on_make_up_day]
    assert len(per_recipient) == len(set(per_recipient)), "one message per recipient"

    again = cli("remind", "--as-of", "2026-10-10T10:05")
    assert again.exit_code == 0 and "新入发件箱 0 条" in again.output, again.output
    assert "没有离开本机" in again.output, "with no channel configured the CLI says nothing left the machine"

    assert reminders(cli, "2026-10-11T10:00") == [], "an ordinary Sunday is not a working day"

    overdue = reminders(cli, "2026-11-02T10:00")
    assert [i["stage"] for i in items_for(overdue, "泰顺县", "next-year-plan")] == ["overdue_1wd"]
    assert sorted(i["scope"] for i in items_for(overdue, "市招商局（经合办）", "next-year-plan")) == sorted(
        ["苍南-龙湾", "文成-瑞安", "泰顺-鹿城", "平阳-乐清"]
    ), "the coordinator hears of every pairing that missed it, on the first working day after the due date"
    assert not items_for(overdue, "市山海协作工程工作领导小组", "next-year-plan"), "supervisors only from the 5th"
    supervisors = reminders(cli, "2026-11-06T10:00")
    escalated = items_for(supervisors, "市山海协作工程工作领导小组", "next-year-plan")
    assert [(i["scope"], i["stage"]) for i in escalated if i["scope"] == "泰顺-鹿城"] == [("泰顺-鹿城", "overdue_5wd")]
    assert len(escalated) == 4, "11-06 is the fifth working day after 10-31: the supervisors get all four"


def test_a_dry_run_previews_without_storing(cli):
    preview = cli("remind", "--as-of", "2026-10-10T10:00", "--dry-run", "--json")
    assert preview.exit_code == 0 and json.loads(preview.stdout)
    listed = cli("outbox", "--json")
    assert json.loads(listed.stdout) == [], "a dry run writes nothing to the outbox"
    cli("remind", "--as-of", "2026-10-10T10:00")
    stored = json.loads(cli("outbox", "--json").stdout)
    assert stored and {d["status"] for m in stored for d in m["deliveries"]} == {"local"}
    assert {"id", "kind", "recipient", "role", "stage", "stage_label", "created_at", "item_count", "title", "body",
            "deliveries"} == set(stored[0])

"""`shanhai remind` on the document's catalogue around 2026's National Day and make-up working day.

Dates (verified with chinese-calendar): 2026-10-01..10-07 are off; Saturday 10-10 is a make-up working day;
10-31 is a Saturday, so the next-year plan's deadline rolls forward to Monday 11-02; the first working day
after it is 11-03 and the fifth is 11-09.
"""

from __future__ import annotations

import json

import pytest
import time_machine

from tests.conftest import at, run_cli  # noqa: F401  (the `cli` fixture wraps it)


@pytest.fixture(autouse=True)
def _real_clock_after_every_as_of():
    """These runs write the outbox, so each --as-of must be in the real past (a future one is refused):
    the real clock stands after the last of them, whatever today is."""
    with time_machine.travel(at(2027, 6, 1, 10), tick=False):
        yield


def reminders(cli, when: str) -> list[dict]:
    result = cli("remind", "--as-of", when, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


DUE = "2026-11-02"  # the 2026 plan: Saturday 10-31 rolled forward to Monday 11-02


def items_for(messages: list[dict], recipient: str, obligation: str, due: str = DUE) -> list[dict]:
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
    plan = items_for(on_make_up_day, "泰顺县", "next-year-plan", due=DUE)
    assert [(i["scope"], i["stage"], i["due"]) for i in plan] == [("泰顺-鹿城", "before_30d", DUE)], (
        "the 30-day reminder fell on the holiday (10-03) and goes out on the next working day it is run"
    )
    assert items_for(on_make_up_day, "鹿城区", "next-year-plan", due=DUE), "both sides of the pairing are reminded"
    assert not items_for(on_make_up_day, "永嘉县", "next-year-plan", due=DUE), "a done occurrence is not reminded"
    assert not items_for(on_make_up_day, "泰顺县", "next-year-plan", due="2025-10-31"), (
        "last year's plan closed at the 2026-03-31 assessment (and predates the tracking start): never reminded"
    )
    assert all(m["role"] == "lead" and m["role_label"] == "牵头单位"
               for m in on_make_up_day if m["recipient"] in ("泰顺县", "鹿城区"))
    per_recipient = [m["recipient"] for m in on_make_up_day]
    assert len(per_recipient) == len(set(per_recipient)), "one message per recipient"

    again = cli("remind", "--as-of", "2026-10-10T10:05")
    assert again.exit_code == 0 and "新写入发件箱 0 条" in again.output, again.output
    assert "没有新到期" in again.output, "a run that plans nothing says why"
    assert "没有离开本机" in again.output, "with no channel configured the CLI says nothing left the machine"

    sunday = cli("remind", "--as-of", "2026-10-11T10:00")
    assert "不是工作日" in sunday.output, "an ordinary Sunday is not a working day, and the run says so"

    # 10-31 is a Saturday: the deadline rolls forward to Monday 11-02 (顺延), the due-day reminder goes then
    on_due_day = reminders(cli, "2026-11-02T10:00")
    assert [i["stage"] for i in items_for(on_due_day, "泰顺县", "next-year-plan", due=DUE)] == ["due"]
    overdue = reminders(cli, "2026-11-03T10:00")
    assert [i["stage"] for i in items_for(overdue, "泰顺县", "next-year-plan", due=DUE)] == ["overdue_1wd"]
    assert sorted(i["scope"] for i in items_for(overdue, "市招商局（经合办）", "next-year-plan", due=DUE)) == sorted(
        ["苍南-龙湾", "文成-瑞安", "泰顺-鹿城", "平阳-乐清"]
    ), "the coordinator hears of every pairing that missed it, on the first working day after the due date"
    assert not items_for(overdue, "市山海协作工程工作领导小组", "next-year-plan", due=DUE), "supervisors from the 5th"
    fourth = reminders(cli, "2026-11-06T10:00")  # (the year's plan and conference, due in spring, repeat weekly)
    assert not [i for m in fourth for i in m["items"] if i["obligation"] == "next-year-plan"], (
        "11-06 is only the fourth working day after 11-02"
    )
    supervisors = reminders(cli, "2026-11-09T10:00")
    escalated = items_for(supervisors, "市山海协作工程工作领导小组", "next-year-plan", due=DUE)
    assert [(i["scope"], i["stage"]) for i in escalated if i["scope"] == "泰顺-鹿城"] == [("泰顺-鹿城", "overdue_5wd")]
    assert len(escalated) == 4


def test_the_aid_funds_reach_only_the_partner_and_a_monday_filing_is_on_time(cli):
    # 2026-05-31 is a Sunday: the aid funds are due Monday 06-01
    due_day = reminders(cli, "2026-06-01T10:00")
    assert [i["stage"] for i in items_for(due_day, "鹿城区", "aid-funds", due="2026-06-01")] == ["due"]
    assert not items_for(due_day, "泰顺县", "aid-funds", due="2026-06-01"), "the county receives the funds"
    escalated = reminders(cli, "2026-06-02T10:00")
    assert [i["stage"] for i in items_for(escalated, "鹿城区", "aid-funds", due="2026-06-01")] == ["overdue_1wd"]
    assert items_for(escalated, "市招商局（经合办）", "aid-funds", due="2026-06-01")
    assert not items_for(escalated, "泰顺县", "aid-funds", due="2026-06-01"), "not escalated to the county either"

    filed = cli("record", "next-year-plan", "--scope", "泰顺-鹿城", "--date", "2026-11-02", "--as-of", "2026-11-02")
    assert filed.exit_code == 0, filed.output
    status = json.loads(cli("status", "--obligation", "next-year-plan", "--scope", "泰顺-鹿城", "--as-of",
                            "2026-11-20", "--json").stdout)
    [plan] = [s for s in status if s["period"] == "2026"]
    assert (plan["status"], plan["due"], plan["due_nominal"]) == ("done", DUE, "2026-10-31")


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


def test_a_reminder_due_in_a_year_without_a_notice_marks_its_date_provisional(cli):
    autumn = cli("remind", "--as-of", "2026-10-10T10:00", "--dry-run", "--json")
    items = [i for m in json.loads(autumn.stdout) for i in m["items"]]
    assert items and not any(i["provisional_calendar"] for i in items), "2026 is chinese-calendar's"
    # no 2027 notice imported: the aid funds' 2027-05-31 comes from the law's provisional calendar
    queued = cli("remind", "--as-of", "2027-05-06T10:00")
    assert queued.exit_code == 0, queued.output
    assert "2027-05-31（临时日历）" in queued.output
    assert "2027年的国务院办公厅节假日安排尚未导入" in queued.output
    bodies = [m["body"] for m in json.loads(cli("outbox", "--json").stdout) if "年度帮扶资金到位" in m["body"]]
    assert bodies and all("截止：2027-05-31（周一）（临时日历）" in b for b in bodies)
    assert all(b.count("2027年的国务院办公厅节假日安排尚未导入") == 1 for b in bodies)


def test_remind_names_the_field_for_an_unknown_obligation_and_queues_nothing(cli):
    from shanhai.models.tables import OutboxItem
    from tests.conftest import count_rows

    assert cli("init", "--as-of", "2026-10-10").exit_code == 0
    result = cli("remind", "--obligation", "no-such-plan", "--as-of", "2026-10-10T10:00")
    assert result.exit_code == 1
    assert "--obligation" in result.stderr and "“no-such-plan”" in result.stderr
    assert "next-year-plan" in result.stderr, "the message lists the obligations there are"
    assert "Traceback" not in result.output
    assert count_rows(cli.database_url, OutboxItem) == 0

"""The reminder ladder and the notification planner (SPEC section 5).

Expected dates are worked out by hand from the 2026 statutory calendar:

* 2026 make-up working days (Sat/Sun): 01-04, 02-14, 02-28, 05-09, 09-20, 10-10.
* Spring Festival off 02-15 (Sun) .. 02-23 (Mon); National Day off 10-01 (Thu) .. 10-07 (Wed);
  Mid-Autumn 09-25 (Fri) off.

Time is always passed in; nothing here reads the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shanhai.models import ladder as ladder_module
from shanhai.models.ladder import DEFAULT_LADDER, ReminderLadder, Schedule, Stage, WorkingDays, stage_label
from shanhai.models.working_days import WorkingCalendar
from shanhai.notifications import planner as planner_module
from shanhai.notifications.planner import PlanItem, PlannedMessage, plan

SH = ZoneInfo("Asia/Shanghai")


def stages(due: date, cal: WorkingDays, ladder: ReminderLadder = DEFAULT_LADDER, *, until: date) -> list[Stage]:
    """All stages out by ``until``, in rank order."""
    return Schedule(due, cal, ladder).stages(until)


def current_stage(due: date, today: date, cal: WorkingDays, ladder: ReminderLadder = DEFAULT_LADDER) -> Stage | None:
    return Schedule(due, cal, ladder).current(today)


def escalation_level(due: date, today: date, cal: WorkingDays, ladder: ReminderLadder = DEFAULT_LADDER) -> int:
    return Schedule(due, cal, ladder).escalation_level(today)
COORD = "市招商局〈经合办〉"
SUP = "市山海协作工程工作领导小组"

CAL = WorkingCalendar()


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return CAL


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    """An instant, Shanghai wall-clock time."""
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def item(
    occurrence_id: int = 1,
    *,
    due: date,
    status: str = "due_soon",
    responsible: tuple[str, ...] = ("泰顺县", "鹿城区"),
    copied: tuple[str, ...] = (),
    obligation_id: str = "joint-meeting",
    title: str = "联席会议",
    clause: str = "三(二)",
    scope: str = "泰顺-鹿城",
    progress: str = "1/2",
    ladder: ReminderLadder = DEFAULT_LADDER,
    **more,
) -> PlanItem:
    return PlanItem(
        occurrence_id=occurrence_id,
        obligation_id=obligation_id,
        title=title,
        clause=clause,
        scope=scope,
        due=due,
        status=status,
        lead=responsible,
        copied=copied,
        progress=progress,
        ladder=ladder,
        **more,
    )


def run(items, when: datetime, sent=(), **kw) -> list[PlannedMessage]:
    return plan(items, as_of=when, cal=CAL, coordinator=COORD, supervisor=SUP, already_sent=sent, **kw)


def by_recipient(messages: list[PlannedMessage]) -> dict[str, PlannedMessage]:
    return {m.recipient: m for m in messages}


def all_keys(messages: list[PlannedMessage]) -> set[tuple[int, str, str]]:
    return set().union(*(m.keys() for m in messages))


# Due Saturday 2026-10-31 (not a make-up day).
DUE_SAT = date(2026, 10, 31)


# --------------------------------------------------------------------------- ladder dates


def test_the_default_ladder_for_a_saturday_due_date(cal):
    got = [(s.name, s.on) for s in stages(DUE_SAT, cal, until=date(2026, 11, 20))]
    assert got == [
        # 10-31 - 30 = 10-01, National Day; 10-02..10-07 off too (10-03/04 weekend) -> Thu 10-08
        ("before_30d", date(2026, 10, 8)),
        # 10-31 - 7 = Sat 10-24, an ordinary weekend -> Mon 10-26
        ("before_7d", date(2026, 10, 26)),
        # working days before Sat 10-31: Fri 10-30, Thu 10-29, Wed 10-28
        ("before_3wd", date(2026, 10, 28)),
        ("before_1wd", date(2026, 10, 30)),
        # "due" would move from Sat 10-31 to Mon 11-02, the day of overdue_1wd: superseded.
        # 1st working day after Sat 10-31 is Mon 11-02
        ("overdue_1wd", date(2026, 11, 2)),
        # 11-02, 03, 04, 05, 06 -> Fri 11-06
        ("overdue_5wd", date(2026, 11, 6)),
        # weekly after Fri 11-06: Fri 11-13, Fri 11-20
        ("repeat_1", date(2026, 11, 13)),
        ("repeat_2", date(2026, 11, 20)),
    ]


def test_labels_and_audiences(cal):
    by_name = {s.name: s for s in stages(DUE_SAT, cal, until=date(2026, 11, 13))}
    assert by_name["before_30d"].label == "到期前30天"
    assert by_name["before_3wd"].label == "到期前3个工作日"
    assert by_name["overdue_1wd"].label == "逾期1个工作日"
    assert by_name["overdue_5wd"].label == "逾期5个工作日"
    assert by_name["repeat_1"].label == "每周复报（第1次）"
    assert by_name["before_7d"].audience == {"lead"}
    assert by_name["overdue_1wd"].audience == {"lead", "copied", "coordinator"}
    assert by_name["overdue_5wd"].audience == {"supervisor"}
    assert by_name["repeat_1"].audience == {"lead", "coordinator"}


def test_due_stage_on_an_ordinary_working_day(cal):
    # Thu 2026-11-26 is an ordinary working day: the due-date reminder goes out that day.
    stage = current_stage(date(2026, 11, 26), date(2026, 11, 26), cal)
    assert (stage.name, stage.label, stage.on) == ("due", "到期当日", date(2026, 11, 26))
    assert stage.audience == {"lead", "copied"}


def test_a_due_date_inside_national_day(cal):
    due = date(2026, 10, 5)  # Monday, a National Day holiday
    got = [(s.name, s.on) for s in stages(due, cal, until=date(2026, 10, 20))]
    assert got == [
        # 10-05 - 30 = Sat 09-05 -> Mon 09-07
        ("before_30d", date(2026, 9, 7)),
        # before_7d: 10-05 - 7 = Mon 09-28, which is also 3 working days before (09-30, 09-29,
        # 09-28): two stages on one day, only the more advanced one (before_3wd) remains.
        ("before_3wd", date(2026, 9, 28)),
        # the last working day before the holiday: Wed 09-30
        ("before_1wd", date(2026, 9, 30)),
        # due (10-05) would move to Thu 10-08 = overdue_1wd: superseded
        ("overdue_1wd", date(2026, 10, 8)),
        # 10-08, 10-09, Sat 10-10 (make-up), 10-12, 10-13
        ("overdue_5wd", date(2026, 10, 13)),
        ("repeat_1", date(2026, 10, 20)),
    ]


def test_stages_can_go_out_on_a_make_up_saturday(cal):
    due = date(2026, 9, 28)  # Monday before National Day
    by_name = {s.name: s.on for s in stages(due, cal, until=date(2026, 10, 31))}
    # working days after 09-28: 09-29, 09-30, (holiday 10-01..07), 10-08, 10-09, Sat 10-10 (make-up)
    assert by_name["overdue_5wd"] == date(2026, 10, 10)
    # weekly from Sat 10-10: Sat 10-17 is an ordinary weekend -> Mon 10-19; Sat 10-24 -> Mon 10-26
    assert by_name["repeat_1"] == date(2026, 10, 19)
    assert by_name["repeat_2"] == date(2026, 10, 26)


def test_a_repeat_pushed_onto_the_next_one_by_a_holiday_is_superseded(cal):
    due = date(2026, 9, 18)  # Friday
    by_name = {s.name: s.on for s in stages(due, cal, until=date(2026, 10, 15))}
    # 1st working day after Fri 09-18 is the make-up Sunday 09-20
    assert by_name["overdue_1wd"] == date(2026, 9, 20)
    # 09-20, 09-21, 09-22, 09-23, 09-24 (09-25 is Mid-Autumn, not needed)
    assert by_name["overdue_5wd"] == date(2026, 9, 24)
    # repeat_1: 09-24 + 7 = 10-01 (holiday) -> 10-08, the day of repeat_2 (10-08): superseded
    assert "repeat_1" not in by_name
    assert by_name["repeat_2"] == date(2026, 10, 8)
    assert by_name["repeat_3"] == date(2026, 10, 15)
    assert escalation_level(due, date(2026, 10, 7), cal) == 2
    assert escalation_level(due, date(2026, 10, 8), cal) == 4  # 2 + 2 weekly intervals


def test_escalation_levels_around_a_saturday_due_date(cal):
    # 0 before Mon 11-02 (1st working day overdue), 1 from it, 2 from Fri 11-06, then +1 weekly
    expected = {
        date(2026, 10, 30): 0,
        date(2026, 10, 31): 0,
        date(2026, 11, 1): 0,
        date(2026, 11, 2): 1,
        date(2026, 11, 5): 1,
        date(2026, 11, 6): 2,
        date(2026, 11, 12): 2,
        date(2026, 11, 13): 3,
        date(2026, 11, 20): 4,
        date(2026, 12, 25): 9,  # 11-06 + 7 * 7 = 12-25, a Friday
    }
    assert {d: escalation_level(DUE_SAT, d, cal) for d in expected} == expected


def test_current_stage_is_none_before_the_first_reminder(cal):
    # before_30d for 10-31 goes out 10-08
    assert current_stage(DUE_SAT, date(2026, 10, 7), cal) is None
    assert current_stage(DUE_SAT, date(2026, 10, 8), cal).name == "before_30d"


# --------------------------------------------------------------------------- ladder overrides


def test_ladder_override_via_from_mapping(cal):
    ladder = ReminderLadder.from_mapping(
        {
            "before_calendar_days": [14],
            "before_working_days": [],
            "overdue_working_days": [2],
            "repeat_every_days": 0,
        }
    )
    assert ladder == ReminderLadder((14,), (), True, (2,), 0)
    got = [(s.name, s.on) for s in stages(DUE_SAT, cal, ladder, until=date(2026, 12, 31))]
    assert got == [
        # 10-31 - 14 = Sat 10-17 -> Mon 10-19
        ("before_14d", date(2026, 10, 19)),
        # due Sat 10-31 moves to Mon 11-02; this time no overdue stage falls that day
        ("due", date(2026, 11, 2)),
        # 2 working days after Sat 10-31: 11-02, 11-03
        ("overdue_2wd", date(2026, 11, 3)),
        # no repeats
    ]
    # A single overdue stage goes to the lead units + coordinator, and copies the co-responsible.
    last = stages(DUE_SAT, cal, ladder, until=date(2026, 11, 3))[-1]
    assert last.audience == {"lead", "copied", "coordinator"}


def test_from_mapping_none_or_empty_is_the_default():
    assert ReminderLadder.from_mapping(None) is DEFAULT_LADDER
    assert ReminderLadder.from_mapping({}) == DEFAULT_LADDER
    # order does not matter: equal ladders are equal (and share planner caches)
    assert ReminderLadder.from_mapping({"before_working_days": [1, 3]}) == DEFAULT_LADDER


def test_from_mapping_rejects_an_unknown_key_naming_it():
    with pytest.raises(ValueError, match="before_days"):
        ReminderLadder.from_mapping({"before_days": [3]})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"before_working_days": [0]}, "before_working_days"),
        ({"before_calendar_days": "30"}, "before_calendar_days"),
        ({"overdue_working_days": [1, 1]}, "overdue_working_days"),
        ({"overdue_working_days": [1.5]}, "overdue_working_days"),
        ({"repeat_every_days": -7}, "repeat_every_days"),
        ({"on_due_date": "yes"}, "on_due_date"),
    ],
)
def test_from_mapping_rejects_a_bad_value_naming_the_key(data, key):
    with pytest.raises(ValueError, match=key):
        ReminderLadder.from_mapping(data)


def test_planner_uses_the_items_ladder(cal):
    ladder = ReminderLadder.from_mapping({"before_calendar_days": [14]})
    # 10-31 - 14 = Sat 10-17 -> Mon 10-19
    msgs = run([item(due=DUE_SAT, ladder=ladder)], at(2026, 10, 19))
    assert {m.recipient: m.stage.name for m in msgs} == {"泰顺县": "before_14d", "鹿城区": "before_14d"}
    # the default ladder's current stage that day is still before_30d (out since 10-08)
    assert {m.stage.name for m in run([item(due=DUE_SAT)], at(2026, 10, 19))} == {"before_30d"}


# --------------------------------------------------------------------------- planner


def test_it_sends_the_before_stage_to_both_sides_of_a_pairing():
    msgs = run([item(due=DUE_SAT)], at(2026, 10, 28))  # before_3wd day
    assert [(m.recipient, m.role, m.stage.name) for m in msgs] == [
        ("泰顺县", "lead", "before_3wd"),
        ("鹿城区", "lead", "before_3wd"),
    ]
    planned = msgs[0].items[0]
    assert (planned.title, planned.clause, planned.scope, planned.progress) == (
        "联席会议",
        "三(二)",
        "泰顺-鹿城",
        "1/2",
    )
    # working days in (Wed 10-28, Sat 10-31]: 10-29, 10-30
    assert planned.working_days_left == 2
    assert msgs[0].keys() == [(1, "before_3wd", "泰顺县")]


def test_it_escalates_on_first_working_day_after_due():
    # due Sat 10-31; nothing new over the weekend; Mon 11-02 is 1 working day overdue
    assert run([item(due=DUE_SAT, status="overdue")], at(2026, 11, 1, 10)) == []  # Sunday
    msgs = run([item(due=DUE_SAT, status="overdue")], at(2026, 11, 2))
    assert [(m.recipient, m.role, m.stage.name) for m in msgs] == [
        ("泰顺县", "lead", "overdue_1wd"),
        ("鹿城区", "lead", "overdue_1wd"),
        (COORD, "coordinator", "overdue_1wd"),
    ]
    # working days in (10-31, 11-02] = {11-02}: one working day overdue
    assert msgs[0].items[0].working_days_left == -1


def test_supervisor_is_alerted_at_five_working_days_overdue():
    sent = {(1, "overdue_1wd", u) for u in ("泰顺县", "鹿城区", COORD)}
    # 11-02..11-05 are 1..4 working days overdue: nothing new
    assert run([item(due=DUE_SAT, status="overdue")], at(2026, 11, 5), sent) == []
    # Fri 11-06 = 11-02, 03, 04, 05, 06: the 5th working day
    msgs = run([item(due=DUE_SAT, status="overdue")], at(2026, 11, 6), sent)
    assert [(m.recipient, m.role, m.stage.name) for m in msgs] == [(SUP, "supervisor", "overdue_5wd")]
    assert msgs[0].items[0].working_days_left == -5


def test_weekly_repeats_go_to_the_lead_units_and_the_coordinator_numbered_by_what_was_sent():
    it = item(due=DUE_SAT, status="overdue")
    sent = {(1, "overdue_1wd", u) for u in ("泰顺县", "鹿城区", COORD)} | {(1, "overdue_5wd", SUP)}
    # Fri 11-13 = 11-06 + 7
    msgs = run([it], at(2026, 11, 13), sent)
    assert [(m.recipient, m.role, m.stage.name) for m in msgs] == [
        ("泰顺县", "lead", "repeat_1"),
        ("鹿城区", "lead", "repeat_1"),
        (COORD, "coordinator", "repeat_1"),
    ], "the supervisors had the item at its escalation: from then on only in their digest"
    assert msgs[0].stage_label == msgs[0].items[0].stage_label == "每周复报（第1次）"
    sent |= all_keys(msgs)
    assert run([it], at(2026, 11, 16), sent) == []  # Monday after: nothing new
    # Fri 11-20 = 11-13 + 7
    again = run([it], at(2026, 11, 20), sent)
    assert {(m.recipient, m.stage.name, m.stage_label) for m in again} == {
        (u, "repeat_2", "每周复报（第2次）") for u in ("泰顺县", "鹿城区", COORD)
    }


def test_a_catch_up_tells_each_recipient_only_what_it_was_really_sent():
    """A fresh install 14 weeks after the due date: one overdue notice each, no repeat number, the
    supervisors' escalation once; the copied unit's copy is not labelled with an age it no longer has."""
    it = item(due=DUE_SAT, status="overdue", copied=("市教育局",))
    when = at(2027, 2, 12)  # 14+ weeks after 2026-10-31
    msgs = by_recipient(run([it], when))
    assert {r: (m.stage.name, m.stage_label) for r, m in msgs.items()} == {
        "泰顺县": ("repeat_14", "逾期提醒"),
        "鹿城区": ("repeat_14", "逾期提醒"),
        COORD: ("repeat_14", "逾期提醒"),
        "市教育局": ("overdue_1wd", "逾期提醒"),
        SUP: ("overdue_5wd", "逾期提醒"),
    }
    sent = all_keys(msgs.values())
    week_later = by_recipient(run([it], at(2027, 2, 19), sent))
    assert sorted(week_later) == sorted(["泰顺县", "鹿城区", COORD])
    assert {m.stage_label for m in week_later.values()} == {"每周复报（第1次）"}


def test_it_sends_nothing_on_a_holiday():
    # Thu 2026-10-01, National Day; an item that has been overdue for weeks
    assert run([item(due=date(2026, 9, 1), status="overdue")], at(2026, 10, 1, 10)) == []
    # and nothing on an ordinary Sunday either (before_1wd of 10-31 is Fri 10-30)
    assert run([item(due=DUE_SAT)], at(2026, 10, 25, 10)) == []


def test_it_sends_on_feb_14_2026_make_up_day():
    due = date(2026, 2, 24)  # Tue, the first working day after Spring Festival (02-15..02-23)
    # The last working day before 02-24 is the make-up Saturday 02-14.
    msgs = run([item(due=due)], at(2026, 2, 14))
    assert {(m.recipient, m.stage.name, m.stage.on) for m in msgs} == {
        ("泰顺县", "before_1wd", date(2026, 2, 14)),
        ("鹿城区", "before_1wd", date(2026, 2, 14)),
    }
    # working days in (02-14, 02-24]: only 02-24
    assert msgs[0].items[0].working_days_left == 1
    # Sun 02-15 starts the holiday: nothing
    assert run([item(due=due)], at(2026, 2, 15), all_keys(msgs)) == []


def test_it_sends_nothing_before_nine():
    it = item(due=DUE_SAT, status="overdue")
    assert run([it], at(2026, 11, 2, 8, 59)) == []
    assert len(run([it], at(2026, 11, 2, 9, 0))) == 3
    assert run([it], at(2026, 11, 2, 9, 59), send_hour=10) == []


def test_as_of_is_read_in_shanghai_whatever_its_zone():
    it = item(due=DUE_SAT, status="overdue")
    # 00:30 UTC on Mon 11-02 is 08:30 in Shanghai: too early
    assert run([it], datetime(2026, 11, 2, 0, 30, tzinfo=UTC)) == []
    # 01:00 UTC is 09:00 in Shanghai
    assert len(run([it], datetime(2026, 11, 2, 1, 0, tzinfo=UTC))) == 3
    # Sun 11-01 20:00 in Los Angeles (PST, UTC-8 after DST ends 11-01) is Mon 11-02 12:00 in Shanghai
    assert len(run([it], datetime(2026, 11, 1, 20, 0, tzinfo=ZoneInfo("America/Los_Angeles")))) == 3


def test_a_naive_as_of_is_rejected():
    with pytest.raises(ValueError, match="aware"):
        run([item(due=DUE_SAT)], datetime(2026, 11, 2, 9, 0))


def test_satisfied_occurrences_get_nothing():
    items = [item(i, due=DUE_SAT, status=s) for i, s in enumerate(["done", "done_late", "waived"], start=1)]
    assert run(items, at(2026, 11, 2)) == []
    # the open statuses all get reminded
    for status in ["on_track", "due_soon", "behind_pace", "overdue"]:
        assert len(run([item(due=DUE_SAT, status=status)], at(2026, 11, 2))) == 3


def test_it_sends_only_the_most_advanced_stage_after_downtime():
    it = item(due=DUE_SAT)
    # Down from before 10-08 until Wed 10-28: before_30d (10-08), before_7d (10-26) and
    # before_3wd (10-28) are all due; only before_3wd goes out.
    msgs = run([it], at(2026, 10, 28, 14))
    assert {(m.recipient, m.stage.name) for m in msgs} == {("泰顺县", "before_3wd"), ("鹿城区", "before_3wd")}
    # Down until Mon 11-09: overdue_5wd (Fri 11-06) is the most advanced stage, but its only
    # audience is the supervisors; the units and the coordinator get the most advanced stage
    # meant for them (overdue_1wd), not silence until the weekly repeat. No burst of before-stages.
    msgs = run([it], at(2026, 11, 9))
    assert [(m.recipient, m.stage.name) for m in msgs] == [
        ("泰顺县", "overdue_1wd"),
        ("鹿城区", "overdue_1wd"),
        (COORD, "overdue_1wd"),
        (SUP, "overdue_5wd"),
    ]


def test_it_sends_nothing_new_when_run_twice():
    items = [
        item(1, due=DUE_SAT, status="overdue"),
        item(2, due=date(2026, 10, 5), status="overdue", responsible=("永嘉县", "瓯海区"), scope="永嘉-瓯海"),
    ]
    first = run(items, at(2026, 11, 2))
    assert first
    keys = all_keys(first)
    assert len(keys) == sum(len(m.items) for m in first)  # unique keys
    assert run(items, at(2026, 11, 2, 9, 1), keys) == []
    assert run(items, at(2026, 11, 2, 17), keys) == []


def test_a_recipient_that_got_a_more_advanced_stage_is_not_sent_an_older_one():
    # 泰顺县 already got overdue_1wd for this occurrence (e.g. before its due date was extended);
    # on Fri 10-30 the current stage is before_1wd: only the other side gets it.
    sent = {(1, "overdue_1wd", "泰顺县"), (1, "no_such_stage", "鹿城区"), (1, "repeat_x", "鹿城区")}
    msgs = run([item(due=DUE_SAT)], at(2026, 10, 30), sent)
    assert [(m.recipient, m.stage.name) for m in msgs] == [("鹿城区", "before_1wd")]


def test_one_recipient_gets_one_message_listing_all_items():
    items = [
        item(11, due=DUE_SAT, status="overdue", responsible=("永嘉县", "瓯海区"), scope="永嘉-瓯海"),
        item(
            12,
            due=date(2026, 11, 4),
            obligation_id="annual-plan",
            title="下一年度合作重点",
            clause="三(一)",
            responsible=("永嘉县", "瓯海区"),
            scope="永嘉-瓯海",
        ),
        item(13, due=date(2026, 11, 4), obligation_id="aa-first", responsible=("永嘉县",), scope="永嘉县"),
        item(
            14,
            due=date(2026, 11, 4),
            obligation_id="annual-plan",
            responsible=("苍南县", "龙湾区"),
            scope="苍南-龙湾",
        ),
        item(15, due=date(2026, 11, 4), status="done", responsible=("永嘉县",), scope="永嘉县"),
    ]
    msgs = run(items, at(2026, 11, 2))
    box = by_recipient(msgs)
    # recipients in role order then name; one message each
    assert [m.recipient for m in msgs] == sorted(["永嘉县", "瓯海区", "苍南县", "龙湾区"]) + [COORD]
    yongjia = box["永嘉县"]
    # sorted by due, then obligation, then scope
    assert [i.occurrence_id for i in yongjia.items] == [11, 13, 12]
    # 10-31 item: overdue_1wd on Mon 11-02.  Items due Wed 11-04: before_3wd went out Fri 10-30
    # (11-03, 11-02, 10-30) and before_1wd waits for Tue 11-03, so before_3wd is current.
    assert [i.stage.name for i in yongjia.items] == ["overdue_1wd", "before_3wd", "before_3wd"]
    assert yongjia.stage.name == "overdue_1wd"  # the most advanced among its items
    assert yongjia.keys() == [
        (11, "overdue_1wd", "永嘉县"),
        (13, "before_3wd", "永嘉县"),
        (12, "before_3wd", "永嘉县"),
    ]
    assert [i.occurrence_id for i in box["苍南县"].items] == [14]
    assert [i.occurrence_id for i in box[COORD].items] == [11]


def test_a_coordinator_that_is_also_responsible_gets_one_item_per_occurrence():
    it = item(due=DUE_SAT, status="overdue", responsible=(COORD, "泰顺县"))
    msgs = run([it], at(2026, 11, 2))
    assert [(m.recipient, m.role, len(m.items)) for m in msgs] == [
        ("泰顺县", "lead", 1),
        (COORD, "coordinator", 1),
    ]


def test_plan_is_deterministic_and_ignores_input_order():
    items = [
        item(i, due=date(2026, 11, 2) + timedelta(days=i % 9), obligation_id=f"o{i % 4}", scope=f"s{i % 5}")
        for i in range(60)
    ]
    a = run(items, at(2026, 11, 6))
    b = run(list(reversed(items)), at(2026, 11, 6))
    assert a == b and a


def test_it_scales_by_caching_schedules_per_due_date_and_ladder(monkeypatch):
    built = []
    real = planner_module.Schedule

    def counting(*args, **kwargs):
        built.append(args[:1])
        return real(*args, **kwargs)

    monkeypatch.setattr(planner_module, "Schedule", counting)
    pairs = [
        ("永嘉县", "瓯海区"),
        ("苍南县", "龙湾区"),
        ("文成县", "瑞安市"),
        ("泰顺县", "鹿城区"),
        ("平阳县", "乐清市"),
    ]
    items = [
        item(
            i,
            due=date(2026, 10, 1) + timedelta(days=i % 60),
            responsible=pairs[i % 5],
            obligation_id=f"o{i % 40}",
        )
        for i in range(10_000)
    ]
    msgs = run(items, at(2026, 11, 2))
    assert len(built) == 60  # one schedule per distinct (due, ladder), not per item
    assert sum(len(m.items) for m in msgs) > 10_000
    again = run(items, at(2026, 11, 2), all_keys(msgs))
    assert again == []


# --------------------------------------------------------------------------- properties

# chinese-calendar knows 2004-2026; keep every computed day inside it.
due_dates = st.dates(min_value=date(2005, 3, 1), max_value=date(2026, 10, 31))
ladders = st.builds(
    ReminderLadder,
    before_calendar_days=st.lists(st.integers(1, 60), unique=True, max_size=4).map(tuple),
    before_working_days=st.lists(st.integers(1, 20), unique=True, max_size=4).map(tuple),
    on_due_date=st.booleans(),
    overdue_working_days=st.lists(st.integers(1, 10), unique=True, max_size=3).map(tuple),
    repeat_every_days=st.sampled_from([0, 1, 3, 7, 14]),
)
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _until(due: date) -> date:
    return min(due + timedelta(days=45), date(2026, 12, 15))


@PROPS
@given(due=due_dates, ladder=ladders)
def test_property_every_stage_goes_out_on_a_working_day(due, ladder):
    for stage in stages(due, CAL, ladder, until=_until(due)):
        assert CAL.is_working_day(stage.on), stage


@PROPS
@given(due=due_dates, ladder=ladders)
def test_property_stages_strictly_increase_in_date_with_rank(due, ladder):
    got = stages(due, CAL, ladder, until=_until(due))
    for a, b in zip(got, got[1:], strict=False):
        assert a.rank < b.rank and a.on < b.on, (a, b)
    phases = [
        0
        if s.name.startswith("before_")
        else 1
        if s.name == "due"
        else 2
        if s.name.startswith("overdue_")
        else 3
        for s in got
    ]
    assert phases == sorted(phases)
    assert len({s.name for s in got}) == len(got)


@PROPS
@given(due=due_dates, ladder=ladders, offsets=st.lists(st.integers(-70, 45), min_size=2, max_size=6))
def test_property_escalation_level_is_monotone_in_today(due, ladder, offsets):
    days = sorted(due + timedelta(days=o) for o in offsets)
    days = [d for d in days if d <= date(2026, 12, 15)]
    levels = [escalation_level(due, d, CAL, ladder) for d in days]
    assert levels == sorted(levels)
    for d, level in zip(days, levels, strict=True):
        if d <= due:
            assert level == 0  # never escalated on or before the due date


@PROPS
@given(due=due_dates, ladder=ladders, offset=st.integers(-70, 45))
def test_property_current_stage_is_the_last_stage_out_by_today(due, ladder, offset):
    today = min(due + timedelta(days=offset), date(2026, 12, 15))
    got = stages(due, CAL, ladder, until=today)
    assert current_stage(due, today, CAL, ladder) == (got[-1] if got else None)


@PROPS
@given(due=due_dates, offset=st.integers(-35, 45), hour=st.integers(0, 23))
def test_property_a_second_run_plans_nothing_new(due, offset, hour):
    today = min(due + timedelta(days=offset), date(2026, 12, 15))
    items = [item(1, due=due, status="overdue"), item(2, due=due, responsible=("永嘉县",), scope="永嘉县")]
    first = run(items, at(today.year, today.month, today.day, hour))
    if not CAL.is_working_day(today) or hour < 9:
        assert first == []
    first = run(items, at(today.year, today.month, today.day, max(hour, 9)))
    for m in first:
        assert isinstance(m.stage, Stage) and m.stage.on <= today
    assert run(items, at(today.year, today.month, today.day, 23, 59), all_keys(first)) == []


def test_ladder_module_is_pure():
    # no clock: the module never reads today's date
    source = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in (ladder_module, planner_module))
    for forbidden in ("date.today(", "datetime.now(", "pendulum.now(", "pendulum.today(", "time.time("):
        assert forbidden not in source


# --------------------------------------------------------------------------- who is told (lead, copied, roles)


def test_co_responsible_units_are_copied_only_at_the_due_date_and_the_first_escalation():
    # Thu 2026-11-26, an ordinary working day
    due = date(2026, 11, 26)
    it = item(due=due, responsible=("永嘉县",), copied=("市教育局",))

    def stages_to(recipient: str, when: datetime) -> str | None:
        found = by_recipient(run([it], when)).get(recipient)
        return found.items[0].stage.name if found else None

    assert stages_to("市教育局", at(2026, 11, 23)) is None, "no copy of the before-stages"
    assert stages_to("市教育局", at(2026, 11, 26)) == "due"
    assert by_recipient(run([it], at(2026, 11, 26)))["市教育局"].items[0].role == "co"
    assert stages_to("市教育局", at(2026, 11, 27)) == "overdue_1wd"
    sent = {(1, "due", "市教育局"), (1, "overdue_1wd", "市教育局")}
    assert "市教育局" not in by_recipient(run([it], at(2026, 12, 10), sent)), "no weekly repeats to copies"
    assert stages_to("永嘉县", at(2026, 12, 10)) == "repeat_1"


def test_a_duty_with_unverified_figures_never_reaches_the_supervisors():
    it = item(due=DUE_SAT, status="overdue", unverified=True)
    for when in (at(2026, 11, 6), at(2026, 11, 13), at(2026, 11, 20)):
        assert SUP not in by_recipient(run([it], when))
    assert "泰顺县" in by_recipient(run([it], at(2026, 11, 13)))


def test_history_before_the_tracking_start_and_closed_periods_are_never_reminded():
    untracked = item(1, due=DUE_SAT, status="overdue", tracked=False)
    missed = item(2, due=DUE_SAT, status="missed")
    assert run([untracked, missed], at(2026, 11, 13)) == []


def test_an_acknowledgement_pauses_the_weekly_repeats_to_that_unit_not_the_escalation():
    it = item(due=DUE_SAT, status="overdue")
    # 泰顺县 acknowledged on repeat_1 (rank 301): no repeat_2 for it; 鹿城区 and the coordinator still
    # get theirs (the supervisors got the item once, at overdue_5wd)
    acks = {(1, "泰顺县"): 301}
    got = by_recipient(run([it], at(2026, 11, 20), acknowledged=acks))
    assert "泰顺县" not in got
    assert {r: m.items[0].stage.name for r, m in got.items()} == {
        "鹿城区": "repeat_2",
        COORD: "repeat_2",
        SUP: "overdue_5wd",
    }
    # an acknowledgement of an earlier stage does not stop what comes after it
    early = {(1, "泰顺县"): 2}  # before_3wd
    assert "泰顺县" in by_recipient(run([it], at(2026, 11, 20), acknowledged=early))


def test_items_are_grouped_newly_overdue_due_soon_then_still_overdue():
    items = [
        item(1, due=date(2026, 11, 27), status="due_soon"),
        item(2, due=date(2026, 11, 19), status="overdue", scope="a"),  # overdue_1wd on Fri 11-20
        item(3, due=date(2026, 10, 9), status="overdue", scope="b"),  # weekly repeats by now
    ]
    [msg, *_] = run(items, at(2026, 11, 20))
    assert [(i.occurrence_id, i.urgency) for i in msg.items] == [
        (2, "newly_overdue"),
        (1, "due_soon"),
        (3, "still_overdue"),
    ]
    assert msg.items[2].days_overdue == 42


def test_why_a_run_planned_nothing(cal):
    from shanhai.notifications.planner import why_quiet

    assert why_quiet(at(2026, 11, 29, 10), cal, 9) == (  # a Sunday
        "2026-11-29 不是工作日：不发送任何提醒，下一个工作日 2026-11-30（周一）北京时间 09:00 起发送"
    )
    assert why_quiet(at(2026, 11, 30, 8, 30), cal, 9) == "未到发送时间：今天北京时间 09:00 起发送"
    assert "没有新到期" in why_quiet(at(2026, 11, 30, 10), cal, 9)


@PROPS
@given(due=due_dates, ladder=ladders)
def test_property_a_stage_name_reads_back_as_the_label_the_ladder_gave_it(due, ladder):
    for stage in stages(due, CAL, ladder, until=_until(due)):
        assert stage_label(stage.name, ladder) == stage.label, stage


@pytest.mark.parametrize(
    ("name", "every", "label"),
    [
        ("before_30d", 7, "到期前30天"),
        ("before_3wd", 7, "到期前3个工作日"),
        ("due", 7, "到期当日"),
        ("overdue_5wd", 7, "逾期5个工作日"),
        ("repeat_2", 7, "每周复报（第2次）"),
        ("repeat_2", 3, "逾期复报（第2次）"),
        ("something_else", 7, "something_else"),
    ],
)
def test_stage_labels_come_from_the_ladder(name, every, label):
    assert stage_label(name, ReminderLadder(repeat_every_days=every)) == label

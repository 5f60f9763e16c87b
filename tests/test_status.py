"""The status of an occurrence at an instant: the pure rules, then a few paths through a real database.

The fixture catalogue has the document's shapes: joint meetings per pairing (≥2 a year, ≥1 by 06-30,
due 12-31), the next-year plan by 10-31, the 40亿 city-wide investment with its 65% share, a park's
附件1-style plan and a cumulative count. Occurrences of 2025 and 2026 exist.
"""

from __future__ import annotations

from datetime import date, timedelta

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shanhai.models.catalogue import load_catalogue
from shanhai.models.occurrences import expected_occurrences
from shanhai.models.progress import RecordTotal
from shanhai.models.status import Evaluation, OccurrenceRow, evaluate
from shanhai.models.statuses import Status
from shanhai.models.working_days import default_calendar
from tests.conftest import (
    at,
    industrial_investment,
    joint_meeting,
    make_app,
    make_catalogue,
    make_obligation,
    make_record,
    next_year_plan,
    park_investment_plan,
    plan_rows,
    review,
    sales_outlets,
    status_of,
    waive,
)

PAIR = "泰顺-鹿城"
CITY = "全市"
PARK = "泰顺-鹿城生态旅游文化产业园"
YI = 100_000_000 * 100  # fen


def fixture_obligations():
    return [
        joint_meeting(),
        next_year_plan(),
        industrial_investment(),
        park_investment_plan(),
        sales_outlets(due=date(2026, 6, 30)),
    ]


class Book:
    """The status engine on its own: the catalogue's occurrences as rows, records as per-day totals.

    No database: these tests exercise the rules where they live (models.status), in milliseconds."""

    def __init__(self, directory, *, through_year: int = 2026):
        cat = load_catalogue(directory)
        self.cal = default_calendar(directory)
        specs = expected_occurrences(cat, self.cal, through_year=through_year)
        self.rows = {
            (s.obligation_id, s.scope, s.period): OccurrenceRow(
                i, s.obligation_id, s.scope, s.period, s.period_start, s.due, s.requirement
            )
            for i, s in enumerate(specs, start=1)
        }
        self.records: dict[int, list] = {}
        self.waived: set[int] = set()

    def _row(self, obligation: str, scope: str, period: str) -> OccurrenceRow:
        return self.rows[(obligation, scope, period)]

    def record(self, obligation, scope, on, *, count=1, amount_fen=0, category=None, period=None) -> int:
        on = date.fromisoformat(on) if isinstance(on, str) else on
        periods = [k[2] for k in self.rows if k[:2] == (obligation, scope)]
        wanted = period or (str(on.year) if str(on.year) in periods else periods[0])
        rid = len(self.records) + 1
        self.records[rid] = [self._row(obligation, scope, wanted).id, on, category, "submitted", count, amount_fen]
        return rid

    def review(self, rid: int, verdict: str) -> None:
        self.records[rid][3] = verdict

    def waive(self, obligation, scope, period) -> None:
        self.waived.add(self._row(obligation, scope, period).id)

    def status(self, obligation, scope, period, as_of) -> Evaluation:
        row = self._row(obligation, scope, period)
        totals = [RecordTotal(*r) for r in self.records.values() if r[0] == row.id]
        [ev] = evaluate([row], totals, self.waived, as_of=as_of, cal=self.cal)
        return ev


@pytest.fixture
def book(tmp_path):
    return Book(make_catalogue(tmp_path / "calendar", fixture_obligations(), plans=plan_rows(2026)))


def meetings(book, as_of):
    return book.status("joint-meeting", PAIR, "2026", as_of)


# --------------------------------------------------------------------------- annual count: joint meetings


def test_an_occurrence_due_in_a_year_without_a_notice_is_marked_provisional(tmp_path):
    book = Book(make_catalogue(tmp_path / "calendar", fixture_obligations(), plans=plan_rows(2026)), through_year=2027)
    assert book.cal.is_provisional(2027) and not book.cal.is_provisional(2026)
    this_year, next_year = meetings(book, at(2026, 12, 1)), book.status("joint-meeting", PAIR, "2027", at(2026, 12, 1))
    assert (this_year.provisional, next_year.provisional) == (False, True)
    assert next_year.as_item("联席会议", "三(二)")["provisional_calendar"] is True


def test_it_keeps_joint_meetings_on_track_in_march_with_none_held_yet(book):
    ev = meetings(book, at(2026, 3, 15))
    assert ev.status == "on_track"
    assert ev.light == "green"
    assert ev.progress == {"done": 0, "required": 2}
    assert ev.escalation_level == 0


def test_it_marks_joint_meetings_behind_pace_on_july_1(book):
    # the milestone is "≥1 by 06-30": the last evening of June is still on track
    assert meetings(book, at(2026, 6, 30, 23, 30)).status == "on_track"
    ev = meetings(book, at(2026, 7, 1, 9))
    assert ev.status == "behind_pace"
    assert ev.light == "yellow"


def test_it_keeps_joint_meetings_on_track_on_july_1_after_a_meeting_in_may(book):
    book.record("joint-meeting", PAIR, "2026-05-10")
    assert meetings(book, at(2026, 7, 1)).status == "on_track"


def test_it_puts_joint_meetings_back_on_track_after_one_meeting(book):
    assert meetings(book, at(2026, 7, 2)).status == "behind_pace"
    book.record("joint-meeting", PAIR, "2026-07-03")
    ev = meetings(book, at(2026, 7, 4))
    assert ev.status == "on_track"
    assert ev.progress == {"done": 1, "required": 2}
    # a record only counts from its own date on
    assert meetings(book, at(2026, 7, 2)).status == "behind_pace"


def test_it_marks_joint_meetings_due_soon_from_december_1(book):
    book.record("joint-meeting", PAIR, "2026-05-10")
    assert meetings(book, at(2026, 11, 30, 23)).status == "on_track"
    ev = meetings(book, at(2026, 12, 1, 0, 5))
    assert ev.status == "due_soon"
    assert ev.light == "yellow"
    assert meetings(book, at(2026, 12, 31, 23, 59)).status == "due_soon"


def test_it_prefers_due_soon_over_behind_pace_inside_the_reminder_window(book):
    assert meetings(book, at(2026, 11, 30)).status == "behind_pace"
    assert meetings(book, at(2026, 12, 1)).status == "due_soon"


def test_it_marks_joint_meetings_done_with_two_held_on_time(book):
    book.record("joint-meeting", PAIR, "2026-03-10")
    book.record("joint-meeting", PAIR, "2026-09-10")
    assert meetings(book, at(2026, 9, 9)).status == "on_track"
    ev = meetings(book, at(2026, 9, 10))
    assert ev.status == "done"
    assert ev.satisfied_on == date(2026, 9, 10)
    assert ev.progress == {"done": 2, "required": 2}
    # done stays done through the reminder window
    assert meetings(book, at(2026, 12, 20)).status == "done"


def test_it_counts_a_record_of_several_meetings_by_its_count(book):
    book.record("joint-meeting", PAIR, "2026-04-01", count=2)
    assert meetings(book, at(2026, 4, 2)).status == "done"


def test_it_keeps_the_other_pairing_apart(book):
    book.record("joint-meeting", PAIR, "2026-03-10", count=2)
    assert book.status("joint-meeting", "永嘉-瓯海", "2026", at(2026, 7, 1)).status == "behind_pace"


# --------------------------------------------------------------------------- overdue and escalation


def test_it_turns_overdue_when_the_due_day_ends_in_shanghai(book):
    book.record("joint-meeting", PAIR, "2025-05-10")

    def last_year(as_of):
        return book.status("joint-meeting", PAIR, "2025", as_of)

    assert last_year(at(2025, 12, 31, 23, 59)).status == "due_soon"
    # 16:30 UTC on 12-31 is already 00:30 on 01-01 in Shanghai
    ev = last_year(pendulum.datetime(2025, 12, 31, 16, 30, tz="UTC"))
    assert ev.status == "overdue"
    assert ev.light == "red"
    assert ev.escalation_level == 0  # New Year's Day is a holiday: no working day has passed yet


def test_it_escalates_on_first_working_day_after_due(book):
    book.record("joint-meeting", PAIR, "2025-05-10")

    def level(y, m, d):
        ev = book.status("joint-meeting", PAIR, "2025", at(y, m, d))
        assert ev.status == "overdue"
        return ev.escalation_level

    # due Wednesday 2025-12-31; 01-01..01-03 are the New Year holiday; Sunday 01-04 is a make-up working day
    assert level(2026, 1, 3) == 0
    assert level(2026, 1, 4) == 1


def test_it_escalates_to_supervisors_at_five_working_days_and_weekly_after(book):
    def level(y, m, d):
        return book.status("joint-meeting", PAIR, "2025", at(y, m, d)).escalation_level

    # working days after 12-31: 01-04 (Sun, make-up), 01-05, 01-06, 01-07, 01-08 (the fifth)
    assert level(2026, 1, 7) == 1
    assert level(2026, 1, 8) == 2
    assert level(2026, 1, 14) == 2
    assert level(2026, 1, 15) == 3  # a week after the supervisors' rung: the weekly repeats
    assert level(2026, 3, 2) == 3  # and it stays at the top rung


# --------------------------------------------------------------------------- annual deadline


def test_it_marks_a_next_year_plan_filed_on_november_5_done_late(book):
    def plan(as_of):
        return book.status("next-year-plan", PAIR, "2026", as_of)

    # 10-31 is a Saturday: the due date rolls forward to Monday 11-02 (顺延)
    assert plan(at(2026, 10, 1)).due == date(2026, 11, 2)
    assert plan(at(2026, 10, 1)).due_nominal == date(2026, 10, 31)
    assert plan(at(2026, 10, 5)).status == "due_soon"
    assert plan(at(2026, 11, 2, 23)).status == "due_soon"
    ev = plan(at(2026, 11, 3))
    assert (ev.status, ev.escalation_level) == ("overdue", 1)
    book.record("next-year-plan", PAIR, "2026-11-05")
    ev = plan(at(2026, 11, 6))
    assert ev.status == "done_late"
    assert ev.light == "green"
    assert ev.escalation_level == 0
    assert ev.satisfied_on == date(2026, 11, 5)


def test_a_plan_filed_on_monday_for_a_saturday_deadline_is_on_time(book):
    book.record("next-year-plan", PAIR, "2026-11-02")
    ev = book.status("next-year-plan", PAIR, "2026", at(2026, 11, 20))
    assert (ev.status, ev.satisfied_on) == ("done", date(2026, 11, 2))


def test_it_marks_a_next_year_plan_filed_on_october_30_done(book):
    book.record("next-year-plan", PAIR, "2026-10-30")
    assert book.status("next-year-plan", PAIR, "2026", at(2026, 12, 1)).status == "done"


def test_it_counts_a_late_filing_for_last_year_with_its_period(book):
    book.record("next-year-plan", PAIR, "2026-01-06", period="2025")
    assert book.status("next-year-plan", PAIR, "2025", at(2026, 1, 7)).status == "done_late"
    assert book.status("next-year-plan", PAIR, "2026", at(2026, 1, 7)).status == "on_track"


# --------------------------------------------------------------------------- waived, pending, rejected


def test_it_shows_a_waived_occurrence_grey_and_unescalated(book):
    assert book.status("joint-meeting", PAIR, "2025", at(2026, 2, 2)).status == "overdue"
    book.waive("joint-meeting", PAIR, "2025")
    ev = book.status("joint-meeting", PAIR, "2025", at(2026, 2, 2))
    assert ev.status == "waived"
    assert ev.light == "grey"
    assert ev.escalation_level == 0
    # only that occurrence is waived
    assert book.status("joint-meeting", "永嘉-瓯海", "2025", at(2026, 2, 2)).status == "overdue"


def test_a_submitted_record_counts_at_once_and_is_pending_until_verified(book):
    rid = book.record("next-year-plan", PAIR, "2026-10-20")
    ev = book.status("next-year-plan", PAIR, "2026", at(2026, 10, 20, 18))
    assert (ev.status, ev.pending) == ("done", True)
    book.review(rid, "verified")
    ev = book.status("next-year-plan", PAIR, "2026", at(2026, 10, 21))
    assert (ev.status, ev.pending) == ("done", False)


def test_it_is_pending_while_any_record_it_needs_is_unverified(book):
    first = book.record("joint-meeting", PAIR, "2026-03-10")
    book.record("joint-meeting", PAIR, "2026-04-10")
    book.review(first, "verified")
    ev = meetings(book, at(2026, 5, 1))
    assert (ev.status, ev.pending) == ("done", True)


def test_a_rejected_record_stops_counting_and_the_status_goes_back(book):
    rid = book.record("joint-meeting", PAIR, "2026-05-10")
    assert meetings(book, at(2026, 7, 1)).status == "on_track"
    book.review(rid, "rejected")
    ev = meetings(book, at(2026, 7, 1))
    assert ev.status == "behind_pace"
    assert ev.progress == {"done": 0, "required": 2}


def test_a_rejected_deadline_record_turns_the_occurrence_overdue_again(book):
    rid = book.record("next-year-plan", PAIR, "2026-10-20")
    book.review(rid, "verified")
    assert book.status("next-year-plan", PAIR, "2026", at(2026, 11, 10)).status == "done"
    book.review(rid, "rejected")
    ev = book.status("next-year-plan", PAIR, "2026", at(2026, 11, 10))
    assert ev.status == "overdue"
    assert ev.escalation_level == 2  # 11-02 first working day, 11-06 the fifth


# --------------------------------------------------------------------------- quantities


def investment(book, as_of):
    return book.status("industrial-investment", CITY, "2026", as_of)


def test_it_is_not_done_when_the_amount_is_met_but_the_share_of_funds_is_not(book):
    book.record("industrial-investment", CITY, "2026-03-01", amount_fen=20 * YI, category="八大产业")
    book.record("industrial-investment", CITY, "2026-04-01", amount_fen=21 * YI, category="其他产业")
    ev = investment(book, at(2026, 12, 5))
    assert ev.progress["amount"] == 41 and ev.progress["target"] == 40 and ev.progress["unit"] == "亿元"
    assert ev.status == "due_soon"
    [share] = ev.progress["shares"]
    assert share["category"] == "八大产业" and share["amount_share"] < 0.65
    # projects 2/3 = 67% but funds 30/51 = 59%: still not done
    book.record("industrial-investment", CITY, "2026-05-01", amount_fen=10 * YI, category="八大产业")
    assert investment(book, at(2026, 12, 5)).status == "due_soon"
    # projects 3/4, funds 50/71 = 70%: done, on the day the share was reached
    book.record("industrial-investment", CITY, "2026-06-01", amount_fen=20 * YI, category="八大产业")
    ev = investment(book, at(2026, 12, 5))
    assert ev.status == "done"
    assert ev.satisfied_on == date(2026, 6, 1)


def test_it_is_not_done_when_the_share_of_projects_is_unmet(book):
    book.record("industrial-investment", CITY, "2026-03-01", amount_fen=30 * YI, category="八大产业")
    book.record("industrial-investment", CITY, "2026-03-02", amount_fen=55 * YI // 10, category="其他产业")
    book.record("industrial-investment", CITY, "2026-03-03", amount_fen=55 * YI // 10, category="其他产业")
    ev = investment(book, at(2026, 12, 5))
    [share] = ev.progress["shares"]
    assert share["amount_share"] >= 0.65 and share["count_share"] < 0.65
    assert ev.status == "due_soon"


def test_it_is_not_done_below_the_amount_whatever_the_share(book):
    book.record("industrial-investment", CITY, "2026-03-01", amount_fen=39 * YI, category="八大产业")
    assert investment(book, at(2026, 12, 5)).status == "due_soon"
    book.record("industrial-investment", CITY, "2026-12-05", amount_fen=1 * YI, category="八大产业")
    assert investment(book, at(2026, 12, 5, 20)).status == "done"


def test_it_marks_a_quantity_behind_its_monthly_pace(tmp_path):
    book = Book(make_catalogue(tmp_path / "calendar", [industrial_investment(pace="monthly")]))
    book.record("industrial-investment", CITY, "2026-02-01", amount_fen=10 * YI, category="八大产业")
    # half the year's 40亿 is expected by the end of June
    assert investment(book, at(2026, 7, 1)).status == "behind_pace"
    book.record("industrial-investment", CITY, "2026-07-01", amount_fen=11 * YI, category="八大产业")
    assert investment(book, at(2026, 7, 1, 18)).status == "on_track"


def test_a_plan_vs_actual_needs_both_government_and_attraction_completion(book):
    # plan for 2026: government 3000万, attraction 500万 (planned completion)
    def park(as_of):
        return book.status("park-investment-plan", PARK, "2026", as_of)

    book.record("park-investment-plan", PARK, "2026-05-01", amount_fen=3000 * 10_000 * 100,
                category="government")
    ev = park(at(2026, 6, 1))
    assert ev.status == "on_track"
    assert ev.progress["government"] == {"actual": 3000, "planned": 3000}
    assert ev.progress["attraction"] == {"actual": 0, "planned": 500}
    book.record("park-investment-plan", PARK, "2026-06-01", amount_fen=400 * 10_000 * 100,
                category="attraction")
    assert park(at(2026, 12, 2)).status == "due_soon"
    book.record("park-investment-plan", PARK, "2026-12-02", amount_fen=100 * 10_000 * 100,
                category="attraction")
    ev = park(at(2026, 12, 3))
    assert ev.status == "done"
    assert ev.progress["attraction"] == {"actual": 500, "planned": 500}


def test_a_cumulative_quantity_adds_up_across_years_until_its_date(book):
    def outlets(as_of):
        return book.status("sales-outlets", CITY, "2026-06-30", as_of)

    book.record("sales-outlets", CITY, "2025-06-01", count=12)
    book.record("sales-outlets", CITY, "2026-03-01", count=17)
    ev = outlets(at(2026, 6, 30))
    assert ev.status == "due_soon"
    assert (ev.progress["amount"], ev.progress["target"], ev.progress["unit"]) == (29, 30, "个")
    assert outlets(at(2026, 7, 1)).status == "overdue"
    book.record("sales-outlets", CITY, "2026-07-10", count=1)
    ev = outlets(at(2026, 7, 11))
    assert ev.status == "done_late"
    assert ev.satisfied_on == date(2026, 7, 10)


def test_a_cumulative_quantity_reached_before_its_date_is_done(book):
    book.record("sales-outlets", CITY, "2025-06-01", count=20)
    book.record("sales-outlets", CITY, "2026-01-15", count=10)
    ev = book.status("sales-outlets", CITY, "2026-06-30", at(2026, 8, 1))
    assert ev.status == "done"
    assert ev.satisfied_on == date(2026, 1, 15)


# --------------------------------------------------------------------------- the occurrence's life


def test_an_unmet_period_is_missed_once_it_closes_at_the_assessment(book):
    """Due 2025-12-31, it closes at the first 03-31 after: overdue until then, missed (final) after."""
    assert book.status("joint-meeting", PAIR, "2025", at(2026, 3, 31, 23)).status == "overdue"
    ev = book.status("joint-meeting", PAIR, "2025", at(2026, 4, 1))
    assert (ev.status, ev.light, ev.escalation_level) == ("missed", "red", 0)
    assert ev.closes == date(2026, 3, 31)
    assert ev.status.is_final


def test_a_late_record_for_an_earlier_period_counts_until_it_closes(book):
    book.record("joint-meeting", PAIR, "2025-05-10")
    book.record("joint-meeting", PAIR, "2026-01-15", period="2025")
    ev = book.status("joint-meeting", PAIR, "2025", at(2026, 2, 1))
    assert (ev.status, ev.satisfied_on) == ("done_late", date(2026, 1, 15))
    assert book.status("joint-meeting", PAIR, "2026", at(2026, 2, 1)).progress == {"done": 0, "required": 2}


def test_a_record_dated_after_the_closing_does_not_count_for_that_period(book):
    book.record("next-year-plan", PAIR, "2026-04-02", period="2025")
    assert book.status("next-year-plan", PAIR, "2025", at(2026, 4, 3)).status == "missed"


def test_occurrences_due_before_the_tracking_start_are_history_never_escalated(book):
    """A fresh installation tracking from 2026-01-01 shows 2025's open period as grey history, unescalated."""
    row = book._row("joint-meeting", PAIR, "2025")
    [ev] = evaluate([row], [], set(), as_of=at(2026, 2, 2), cal=book.cal, tracking_from=date(2026, 1, 1))
    assert (ev.status, ev.escalation_level, ev.tracked, ev.light) == ("history", 0, False, "grey")
    assert ev.label == "纳入跟踪前"
    [tracked] = evaluate([row], [], set(), as_of=at(2026, 2, 2), cal=book.cal, tracking_from=date(2025, 1, 1))
    assert (tracked.escalation_level, tracked.tracked) == (3, True)


def test_a_window_counts_only_records_dated_inside_it(tmp_path):
    inspection = make_obligation(
        "midyear-inspection", "annual_deadline", scope="city", window_from="05-01", due="08-31",
        responsible={"lead": ["市招商局（经合办）"], "co": []},
    )
    book = Book(make_catalogue(tmp_path / "calendar", [inspection]))
    book.record("midyear-inspection", CITY, "2026-01-20")
    assert book.status("midyear-inspection", CITY, "2026", at(2026, 9, 2)).status == "overdue"
    book.record("midyear-inspection", CITY, "2026-06-15")
    assert book.status("midyear-inspection", CITY, "2026", at(2026, 9, 2)).status == "done"


def test_a_one_off_with_an_amount_floor_is_done_only_when_the_amount_reaches_it(tmp_path):
    companies = make_obligation("park-management", "one_off", scope="park", due=date(2026, 7, 31),
                                target={"value": 2, "unit": "亿元"})
    book = Book(make_catalogue(tmp_path / "calendar", [companies]))
    book.record("park-management", PARK, "2026-07-01", amount_fen=15_000 * 10_000 * 100)  # 1.5亿
    ev = book.status("park-management", PARK, "2026-07-31", at(2026, 7, 20))
    assert ev.status == "due_soon" and ev.progress["amount"] == 1.5
    book.record("park-management", PARK, "2026-07-20", amount_fen=5_000 * 10_000 * 100)
    assert book.status("park-management", PARK, "2026-07-31", at(2026, 7, 21)).status == "done"


# --------------------------------------------------------------------------- end to end, through the store


@pytest.fixture
def app(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "calendar", fixture_obligations(), plans=plan_rows(2026))
    return make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2025, 1, 2))


def test_stored_records_reviews_and_waivers_reach_the_status(app):
    """The same rules as above, with records, reviews and a waiver stored in a real database."""
    def meetings_2026(as_of):
        return status_of(app, "joint-meeting", PAIR, "2026", as_of=as_of)

    assert meetings_2026(at(2026, 7, 1)).status == "behind_pace"
    rid = make_record(app, "joint-meeting", PAIR, "2026-05-10")
    assert meetings_2026(at(2026, 7, 1)).status == "on_track"
    make_record(app, "joint-meeting", PAIR, "2026-09-10")
    ev = meetings_2026(at(2026, 9, 11))
    assert (ev.status, ev.pending, ev.satisfied_on) == ("done", True, date(2026, 9, 10))
    review(app, rid, "rejected", note="纪要不全")
    assert meetings_2026(at(2026, 9, 11)).progress == {"done": 1, "required": 2}
    waive(app, "joint-meeting", PAIR, "2025")
    assert status_of(app, "joint-meeting", PAIR, "2025", as_of=at(2026, 2, 2)).status == "waived"
    assert status_of(app, "joint-meeting", "永嘉-瓯海", "2025", as_of=at(2026, 2, 2)).status == "overdue"


def test_it_shows_last_years_overdue_occurrence_in_this_years_listing(app):
    from shanhai.models.store import OccurrenceFilter, load_evaluations

    with app.session() as session:
        pairs = load_evaluations(
            session=session, as_of=at(2026, 2, 1), cal=app.calendar,
            flt=OccurrenceFilter(obligation="joint-meeting", scope=PAIR),
        )
    assert {(o.period, e.status) for o, e in pairs} == {("2025", "overdue"), ("2026", "on_track")}


def test_it_tracks_a_park_against_the_documents_attachment_1(tmp_path, database_url):
    # 附件1, 泰顺-鹿城 2020: 政府性 计划完成数 12000万元, 招商 2000万元
    app = make_app(tmp_path / "home", database_url, sync_at=at(2020, 3, 1))
    taishun = "泰顺园"  # the park's short name is accepted when recording

    def park(as_of):
        return status_of(app, "park-investment-plan", PARK, "2020", as_of=as_of)

    assert park(at(2020, 3, 1)).progress == {
        "government": {"actual": 0, "planned": 12000},
        "attraction": {"actual": 0, "planned": 2000},
    }
    make_record(app, "park-investment-plan", taishun, "2020-09-01", amount_fen=12000 * 10_000 * 100,
                category="government")
    make_record(app, "park-investment-plan", taishun, "2020-10-01", amount_fen=1999 * 10_000 * 100,
                category="attraction")
    assert park(at(2020, 12, 31)).status == "due_soon"
    make_record(app, "park-investment-plan", taishun, "2020-12-31", amount_fen=1 * 10_000 * 100,
                category="attraction")
    assert park(at(2020, 12, 31, 20)).status == "done"


# --------------------------------------------------------------------------- properties (pure, no database)


@pytest.fixture(scope="module")
def engine_inputs(tmp_path_factory):
    """The fixture catalogue's 2025-2026 occurrences as rows, and its working calendar."""
    directory = make_catalogue(tmp_path_factory.mktemp("calendar"), fixture_obligations(), plans=plan_rows(2026))
    cat = load_catalogue(directory)
    cal = default_calendar(directory)
    specs = [s for s in expected_occurrences(cat, cal, through_year=2026) if s.scope in (PAIR, CITY, PARK)]
    rows = [
        OccurrenceRow(i, s.obligation_id, s.scope, s.period, s.period_start, s.due, s.requirement)
        for i, s in enumerate(specs, start=1)
    ]
    return rows, cal


DAY0 = date(2025, 1, 1)
days = st.integers(min_value=0, max_value=(date(2026, 12, 31) - DAY0).days).map(lambda n: DAY0 + timedelta(n))
record_totals = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=12),  # occurrence id (small: most hit the first rows)
        days,
        st.sampled_from([None, "八大产业", "其他产业", "government", "attraction"]),
        st.sampled_from(["submitted", "verified", "rejected"]),
        st.integers(min_value=1, max_value=3),
        st.integers(min_value=0, max_value=30 * YI),
    ),
    max_size=25,
)


def _totals(raw):
    return [RecordTotal(o, d, c, s, n, a) for o, d, c, s, n, a in raw]


def _eval(rows, cal, raw, as_of_day, waived=()):
    as_of = pendulum.datetime(as_of_day.year, as_of_day.month, as_of_day.day, 20, tz="Asia/Shanghai")
    return evaluate(rows, _totals(raw), set(waived), as_of=as_of, cal=cal)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=record_totals, as_of_day=days, waived=st.sets(st.integers(min_value=1, max_value=12), max_size=3))
def test_every_status_is_one_of_the_known_names_with_a_consistent_light(engine_inputs, raw, as_of_day, waived):
    rows, cal = engine_inputs
    for ev in _eval(rows, cal, raw, as_of_day, waived):
        assert ev.status in set(Status)
        assert ev.light is Status(ev.status).light
        assert (ev.status == "waived") == (ev.occurrence_id in waived)
        assert 0 <= ev.escalation_level <= 3
        if ev.escalation_level:
            assert ev.status == "overdue"
        if ev.pending:
            assert ev.status in ("done", "done_late", "waived")
        if ev.status in ("done", "done_late"):
            assert ev.satisfied_on is not None and ev.satisfied_on <= as_of_day
            assert (ev.status == "done") == (ev.satisfied_on <= ev.due)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=record_totals, as_of_day=days)
def test_joint_meetings_are_satisfied_exactly_when_two_counting_meetings_fall_in_the_period(
    engine_inputs, raw, as_of_day
):
    """The year's meetings, and late records up to the period's closing (03-31 of the next year). Both
    sides lead it, so the reports of one date are one event: a date counts as its largest report."""
    rows, cal = engine_inputs
    meeting_rows = [r for r in rows if r.obligation_id == "joint-meeting"]
    for ev, row in zip(_eval(meeting_rows, cal, raw, as_of_day), meeting_rows, strict=True):
        year = int(row.period)
        per_day: dict[date, int] = {}
        for o, d, _c, s, n, _a in raw:
            if o == row.id and s != "rejected" and date(year, 1, 1) <= d <= date(year + 1, 3, 31) and d <= as_of_day:
                per_day[d] = max(per_day.get(d, 0), n)
        held = sum(per_day.values())
        assert (ev.status in ("done", "done_late")) == (held >= 2)
        assert ev.progress == {"done": held, "required": 2}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=record_totals, first=days, second=days)
def test_time_never_undoes_a_satisfied_occurrence_nor_lowers_an_escalation(engine_inputs, raw, first, second):
    rows, cal = engine_inputs
    early, late = sorted((first, second))
    for a, b in zip(_eval(rows, cal, raw, early), _eval(rows, cal, raw, late), strict=True):
        if a.status in ("done", "done_late"):
            assert b.status == a.status and b.satisfied_on == a.satisfied_on
        if a.status == "overdue":
            assert b.status in ("overdue", "done_late", "missed")
            if b.status == "overdue":
                assert b.escalation_level >= a.escalation_level
        if a.status == "missed":
            assert b.status == "missed", "a closed period is final"


def test_a_board_cell_shows_the_most_urgent_occurrence_and_the_first_of_equals(tmp_path):
    from shanhai.models.queries import most_urgent_per_cell

    book = Book(make_catalogue(tmp_path / "calendar", fixture_obligations(), plans=plan_rows(2026)), through_year=2027)
    rows = [book._row("joint-meeting", PAIR, p) for p in ("2025", "2026", "2027")]
    pairs = list(zip(rows, evaluate(rows, [], set(), as_of=at(2026, 2, 2), cal=book.cal), strict=True))
    assert [ev.status for _, ev in pairs] == ["overdue", "on_track", "on_track"]
    for order in (pairs, pairs[::-1]):
        [(key, (occ, ev))] = most_urgent_per_cell(order).items()
        assert key == ("joint-meeting", PAIR) and (occ.period, ev.status) == ("2025", "overdue")
    assert most_urgent_per_cell(pairs[1:])[("joint-meeting", PAIR)][0].period == "2026"
    assert most_urgent_per_cell(pairs[:0:-1])[("joint-meeting", PAIR)][0].period == "2027"

"""The provisional calendar: the holidays the law fixes, with their 补假, and nothing else."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lunar_python import Lunar, Solar

from shanhai.models.statutory_holidays import (
    provisional_arrangement,
    provisional_days,
    statutory_days,
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def lunar_of(day: date) -> tuple[int, int]:
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    return lunar.getMonth(), lunar.getDay()


# --------------------------------------------------------------------------- 2027, the first year no library knows


def test_chinese_calendar_does_not_know_2027():
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))


def test_the_2027_spring_festival_is_the_eve_and_the_first_three_days_of_the_lunar_year():
    new_year = Lunar.fromYmd(2027, 1, 1).getSolar()
    first = date(new_year.getYear(), new_year.getMonth(), new_year.getDay())
    spring = [s.day for s in statutory_days(2027) if s.festival == "春节"]
    assert spring == [first - timedelta(days=1), first, first + timedelta(days=1), first + timedelta(days=2)]
    # the dates verified by hand against a printed almanac: 除夕 Friday 5 February, 初一 Saturday 6 February
    assert spring == [d("2027-02-05"), d("2027-02-06"), d("2027-02-07"), d("2027-02-08")]
    # 腊月 of lunar 2026 has 29 days: the eve is 腊月廿九, and a "腊月三十" rule would miss it
    assert lunar_of(d("2027-02-05")) == (12, 29)
    assert lunar_of(d("2027-02-06")) == (1, 1)


def test_the_2027_statutory_days_are_those_of_the_law():
    law = {(s.festival, s.day) for s in statutory_days(2027)}
    qingming = Lunar.fromYmd(2027, 3, 1).getJieQiTable()["清明"]
    duanwu = Lunar.fromYmd(2027, 5, 5).getSolar()
    zhongqiu = Lunar.fromYmd(2027, 8, 15).getSolar()
    assert ("清明节", date(qingming.getYear(), qingming.getMonth(), qingming.getDay())) in law
    assert ("端午节", date(duanwu.getYear(), duanwu.getMonth(), duanwu.getDay())) in law
    assert ("中秋节", date(zhongqiu.getYear(), zhongqiu.getMonth(), zhongqiu.getDay())) in law
    assert law == {
        ("元旦", d("2027-01-01")),
        ("春节", d("2027-02-05")), ("春节", d("2027-02-06")), ("春节", d("2027-02-07")), ("春节", d("2027-02-08")),
        ("清明节", d("2027-04-05")),
        ("劳动节", d("2027-05-01")), ("劳动节", d("2027-05-02")),
        ("端午节", d("2027-06-09")),
        ("中秋节", d("2027-09-15")),
        ("国庆节", d("2027-10-01")), ("国庆节", d("2027-10-02")), ("国庆节", d("2027-10-03")),
    }


def test_each_2027_weekend_holiday_is_made_up_on_the_following_free_working_day():
    makeups = {s.makeup_for: s.day for s in provisional_days(2027) if s.makeup_for}
    assert makeups == {
        d("2027-02-06"): d("2027-02-09"),  # 初一 Saturday: Sunday is 初二, Monday 初三, so Tuesday
        d("2027-02-07"): d("2027-02-10"),  # 初二 Sunday: Tuesday is taken, so Wednesday
        d("2027-05-01"): d("2027-05-03"),
        d("2027-05-02"): d("2027-05-04"),
        d("2027-10-02"): d("2027-10-04"),
        d("2027-10-03"): d("2027-10-05"),
    }


def test_the_provisional_2027_has_exactly_these_weekdays_off_and_no_working_weekend():
    arrangement = provisional_arrangement(2027)
    off, on = arrangement.deviations()
    assert off == [d(x) for x in (
        "2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-04-05",
        "2027-05-03", "2027-05-04", "2027-06-09", "2027-09-15", "2027-10-01", "2027-10-04", "2027-10-05",
    )]
    assert on == []  # the 调休 swaps are the State Council's to announce; the law has none
    assert arrangement.is_working_day(d("2027-02-11"))  # the Thursday after: the law gives no more
    assert not arrangement.is_working_day(d("2027-02-13"))  # a plain Saturday


def test_a_holiday_coinciding_with_another_is_made_up_too():
    # 2028: 中秋 falls on 10-03, a 国庆 day; 10-01 is a Sunday
    days = provisional_days(2028)
    assert [s.day for s in days if s.day == d("2028-10-03")] == [d("2028-10-03"), d("2028-10-03")]
    makeups = sorted(s.day for s in days if s.makeup_for and s.day.month == 10)
    assert makeups == [d("2028-10-04"), d("2028-10-05")]
    # 元旦 2028 is a Saturday: made up on Monday 3 January
    assert (d("2028-01-01"), d("2028-01-03")) in {(s.makeup_for, s.day) for s in days}


# --------------------------------------------------------------------------- checked against the official years


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_provisional_calendar_agrees_with_chinese_calendar_on_what_the_law_fixes(year):
    """2025 and 2026 are the years under the 2024 law that chinese-calendar knows.

    The official calendar = the law's holidays + their 补假 + the notice's 调休 swaps. A swap moves a
    weekend day's rest onto a weekday (an "in lieu" day off, chinese_calendar.is_in_lieu) and makes
    that weekend day a working day. The provisional calendar cannot know the swaps, so:
    its weekdays off must be exactly the official weekdays off that are not in lieu; the official
    working weekends are the swaps, one for each in-lieu day; the provisional has none."""
    arrangement = provisional_arrangement(year)
    days = arrangement.days()
    official_off = {x for x in days if x.weekday() < 5 and not chinese_calendar.is_workday(x)}
    in_lieu = {x for x in official_off if chinese_calendar.is_in_lieu(x)}
    official_on = {x for x in days if x.weekday() >= 5 and chinese_calendar.is_workday(x)}
    off, on = arrangement.deviations()
    assert set(off) == official_off - in_lieu
    assert in_lieu and len(official_on) == len(in_lieu)
    assert on == []
    for s in statutory_days(year):  # each law day is a day off officially, for the same festival
        assert chinese_calendar.is_holiday(s.day), s
        _, name = chinese_calendar.get_holiday_detail(s.day)
        expected = {"元旦": "New Year's Day", "春节": "Spring Festival", "清明节": "Tomb-sweeping Day",
                    "劳动节": "Labour Day", "端午节": "Dragon Boat Festival", "中秋节": "Mid-autumn Festival",
                    "国庆节": "National Day"}[s.festival]
        assert name == expected, s


# --------------------------------------------------------------------------- properties over many years


@settings(max_examples=150, deadline=None)
@given(year=st.integers(1950, 2300))
def test_a_makeup_day_is_the_first_free_weekday_after_its_holiday(year):
    days = provisional_days(year)
    law = {s.day for s in days if s.makeup_for is None}
    makeups = [s for s in days if s.makeup_for is not None]
    assert len({s.day for s in makeups}) == len(makeups)  # never two on one day
    for s in makeups:
        assert s.day.weekday() < 5 and s.day not in law, s
        assert s.day > s.makeup_for
    instances = sorted(s.day for s in days if s.makeup_for is None)
    # one 补假 per holiday day lost: to a weekend, or to another holiday on the same date
    lost = sum(1 for i, day in enumerate(instances) if day.weekday() >= 5 or day in instances[:i])
    assert len(makeups) == lost
    taken = law | {s.day for s in makeups}
    for s in makeups:  # nothing free was skipped on the way
        gap = [s.makeup_for + timedelta(days=i) for i in range(1, (s.day - s.makeup_for).days)]
        assert all(x.weekday() >= 5 or x in taken for x in gap), s


@settings(max_examples=100, deadline=None)
@given(year=st.integers(1950, 2300))
def test_the_eve_is_the_last_day_of_the_lunar_year_whatever_the_length_of_its_last_month(year):
    eve = next(s.day for s in statutory_days(year) if s.label == "除夕")
    assert lunar_of(eve)[0] == 12 and lunar_of(eve)[1] in (29, 30)
    assert lunar_of(eve + timedelta(days=1)) == (1, 1)

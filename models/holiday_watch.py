"""Next year's calendar as a duty of the system itself (pure: the calendar and a day in, text out).

* :func:`missing_notice` — from mid-November, while next year is still provisional (no State Council
  notice imported), and all year long while the current year is: "2027 年放假安排未导入", with the one
  command that imports the notice. The board shows it; the message side can put it in the
  coordinator's messages.
* :func:`likely_bridges` — the provisional calendar cannot know the notice's 调休: the days it counts as
  working days although the State Council gave them off in each of the last three official years
  (05-05 and 10-06 typically, bridging 劳动节 and 国庆 to the weekend) are flagged "可能调休", in
  `holidays YEAR` and beside due dates that fall on them.

Only the weeks of the holidays fixed in the solar calendar are compared (by month and day): 元旦, 劳动节
and 国庆. 春节, 端午 and 中秋 move with the lunar calendar and 清明 with the solar term, so a month-day
that happened to be off in three years near them says nothing about the next (their bridges are not
flagged).
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Protocol

from shanhai.models.ladder import WorkingDays

LIKELY_BRIDGE_MARK = "可能调休"
NOTICE_WATCH_FROM = (11, 15)  # the State Council's notice usually appears in November
LOOKBACK_YEARS = 3
FIXED_HOLIDAYS = ((1, 1), (5, 1), (10, 1))  # 元旦, 劳动节, 国庆: the same date every year
FIXED_WINDOW_DAYS = 9  # a notice's holiday around them spans at most 10 days (国庆 2025: 10-01..10-08)
IMPORT_COMMAND = "shanhai holidays import 通知.txt"


class _Calendar(WorkingDays, Protocol):
    def is_provisional(self, year: int) -> bool: ...

    def __hash__(self) -> int: ...  # the likely bridges are cached per calendar and year


def missing_notice(cal: _Calendar, today: date) -> str | None:
    """The line that says a year's holiday arrangement is missing, with the command that imports it;
    None when nothing is missing yet."""
    watched = [today.year] if cal.is_provisional(today.year) else []
    if (today.month, today.day) >= NOTICE_WATCH_FROM and cal.is_provisional(today.year + 1):
        watched.append(today.year + 1)
    if not watched:
        return None
    year = watched[-1]
    return (
        f"{year} 年放假安排未导入：国务院办公厅《关于{year}年部分节假日安排的通知》发布后，"
        f"把全文存为 通知.txt，运行 {IMPORT_COMMAND}（在此之前 {year} 年按临时日历计算，不含调休）"
    )


def _official_years(cal: _Calendar, year: int) -> list[int]:
    """The last :data:`LOOKBACK_YEARS` years before ``year`` whose arrangement is known (not provisional)."""
    found = [y for y in range(year - 1, year - 1 - 20, -1) if y >= 2004 and not cal.is_provisional(y)]
    return found[:LOOKBACK_YEARS]


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _near_fixed_holiday(d: date) -> bool:
    return any(0 <= (d - date(d.year, m, day)).days <= FIXED_WINDOW_DAYS for m, day in FIXED_HOLIDAYS)


def _off_month_days(cal: _Calendar, year: int) -> set[tuple[int, int]]:
    return {(d.month, d.day) for d in _days_of(year) if _near_fixed_holiday(d) and not cal.is_working_day(d)}


@functools.lru_cache(maxsize=64)
def _bridges_cached(cal: _Calendar, year: int) -> tuple[date, ...]:
    years = _official_years(cal, year)
    if len(years) < LOOKBACK_YEARS:
        return ()
    always_off = set.intersection(*(_off_month_days(cal, y) for y in years))
    return tuple(d for d in _days_of(year)
                 if d.weekday() < 5 and cal.is_working_day(d) and (d.month, d.day) in always_off)


def likely_bridges(cal: _Calendar, year: int) -> list[date]:
    """The days of a provisional ``year`` that count as working days but were off in each of the last three
    official years (a holiday bridged to the weekend): likely 调休放假 once the notice comes. Empty for a
    year whose arrangement is known."""
    if not cal.is_provisional(year):
        return []
    return list(_bridges_cached(cal, year))


def may_be_bridged(cal: _Calendar, day: date) -> bool:
    """Whether a (due) date falls on a day the notice will likely give off (see :func:`likely_bridges`)."""
    return day in likely_bridges(cal, day.year)

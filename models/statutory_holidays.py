"""The provisional calendar of a year: the holidays the law itself fixes, with their 补假.

《全国年节及纪念日放假办法》 as revised in 2024 (in force from 2025-01-01), article 2, gives every
citizen these days off:

* 元旦 1 day (January 1);
* 春节 4 days: 除夕 (the last day of the lunar year: 腊月 has 29 or 30 days, so it is the day
  before 正月初一, never "腊月三十") and 正月初一 to 初三;
* 清明节 1 day (the day of the 清明 solar term);
* 劳动节 2 days (May 1 and 2);
* 端午节 1 day (五月初五 of the ordinary, not a leap, fifth month);
* 中秋节 1 day (八月十五);
* 国庆节 3 days (October 1 to 3).

Article 6: a holiday that falls on a Saturday or Sunday is made up on a working day (补假).  We
make it up on the first following Monday-Friday that is neither a holiday nor already another
holiday's 补假; a holiday day that coincides with another (中秋 on October 1-3) is made up the same
way.  What the law does not fix, the State Council's yearly notice does: the 调休 swaps (a weekday
off in exchange for a weekend day worked) are announced each November and cannot be computed, so a
provisional calendar has no make-up working weekends and is only ever a stand-in until the notice
is imported.

The lunar dates and the solar term come from ``lunar_python`` (6tail's lunar calendar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from lunar_python import Lunar

from shanhai.models.holiday_year import YearArrangement

__all__ = [
    "LAW",
    "PROVISIONAL_SOURCE",
    "StatutoryDay",
    "provisional_arrangement",
    "provisional_days",
    "statutory_days",
]

LAW = "《全国年节及纪念日放假办法》（2024年修订）"
PROVISIONAL_SOURCE = f"临时日历：按{LAW}推算，不含国务院办公厅通知的调休 (provisional, from the law)"


@dataclass(frozen=True, order=True)
class StatutoryDay:
    """A day off under the law.  ``makeup_for`` is set on a 补假 day: the holiday day it replaces."""

    day: date
    festival: str  # 元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, 国庆节
    label: str  # 除夕, 正月初一, 10月1日, ... or "补假（…）"
    makeup_for: date | None = None


def _solar(lunar: Lunar) -> date:
    s = lunar.getSolar()
    return date(s.getYear(), s.getMonth(), s.getDay())


def _qingming(year: int) -> date:
    # The jieqi table of lunar year ``year`` runs from the previous winter; its 清明 is the April one.
    s = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    day = date(s.getYear(), s.getMonth(), s.getDay())
    if day.year != year or day.month != 4:  # a guard on the library, not a rule of the law
        raise ValueError(f"清明 of {year} computed as {day}, expected an April day")
    return day


@cache
def statutory_days(year: int) -> tuple[StatutoryDay, ...]:
    """The days the law itself gives off in ``year``, in date order (no 补假)."""
    new_year = _solar(Lunar.fromYmd(year, 1, 1))  # 正月初一
    days = [
        StatutoryDay(date(year, 1, 1), "元旦", "1月1日"),
        StatutoryDay(new_year - timedelta(days=1), "春节", "除夕"),
        StatutoryDay(new_year, "春节", "正月初一"),
        StatutoryDay(new_year + timedelta(days=1), "春节", "正月初二"),
        StatutoryDay(new_year + timedelta(days=2), "春节", "正月初三"),
        StatutoryDay(_qingming(year), "清明节", "清明"),
        StatutoryDay(date(year, 5, 1), "劳动节", "5月1日"),
        StatutoryDay(date(year, 5, 2), "劳动节", "5月2日"),
        StatutoryDay(_solar(Lunar.fromYmd(year, 5, 5)), "端午节", "五月初五"),
        StatutoryDay(_solar(Lunar.fromYmd(year, 8, 15)), "中秋节", "八月十五"),
        StatutoryDay(date(year, 10, 1), "国庆节", "10月1日"),
        StatutoryDay(date(year, 10, 2), "国庆节", "10月2日"),
        StatutoryDay(date(year, 10, 3), "国庆节", "10月3日"),
    ]
    return tuple(sorted(days, key=lambda s: s.day))


@cache
def provisional_days(year: int) -> tuple[StatutoryDay, ...]:
    """The law's days plus their 补假, in date order."""
    law = statutory_days(year)
    taken = {s.day for s in law}
    seen: set[date] = set()
    makeups: list[StatutoryDay] = []
    for s in law:  # in date order, so an earlier holiday claims the earlier 补假 day
        displaced = s.day.weekday() >= 5 or s.day in seen
        seen.add(s.day)
        if not displaced:
            continue
        candidate = s.day + timedelta(days=1)
        while candidate.weekday() >= 5 or candidate in taken:
            candidate += timedelta(days=1)
        taken.add(candidate)
        makeups.append(StatutoryDay(candidate, s.festival, f"补假（{s.label}）", makeup_for=s.day))
    return tuple(sorted((*law, *makeups), key=lambda s: (s.day, s.makeup_for is not None)))


@cache
def provisional_arrangement(year: int) -> YearArrangement:
    """``year`` as far as the law fixes it: the statutory days and their 补假 off, no worked weekends."""
    off = frozenset(s.day for s in provisional_days(year) if s.day.year == year)
    return YearArrangement(year=year, off=off, workdays=frozenset(), source=PROVISIONAL_SOURCE)

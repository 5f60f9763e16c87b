"""Working days under the Chinese statutory calendar.

A day is a *working day* when the statutory calendar says people work on it:
Monday-Friday except public holidays, plus the weekend make-up days (调休上班).

Where the answer for a year comes from (:meth:`WorkingCalendar.source`), in order:

1. ``"official"``: ``chinese_calendar`` (version 1.11 knows 2004-2026).  **It always wins**: a
   year it knows is never taken from the holiday file, even when the file lists it.  The package
   is maintained against the State Council notices; the file only bridges the months between a
   notice (published each November) and a package upgrade.
2. ``"file"``: the holiday file (``calendar/holidays.yaml``, see
   :mod:`shanhai.models.holiday_file`), written by ``shanhai holidays import NOTICE.txt``.
3. ``"provisional"``: the calendar the law itself fixes (:mod:`shanhai.models.statutory_holidays`):
   the statutory holidays and their 补假, but none of the notice's 调休 swaps.  It is right about
   the holidays and wrong about the swapped days, so the first time a year is used this way (per
   process) it is logged on the ``shanhai.working_days`` logger at WARNING level and raised as a
   :class:`RuntimeWarning`, naming the year and how to fix it.  It is never plain Monday-Friday.

Everything here is pure: no clock and no I/O except :meth:`WorkingCalendar.from_file` and
:func:`default_calendar`.  Answers are cached per year as a byte map (one byte per day) with
running counts, so the arithmetic costs a few bisections/lookups per year touched rather than a
loop per day.

Dates must be ``datetime.date`` values that are already Shanghai calendar dates; ``datetime``
instances (pendulum ``DateTime`` included) are rejected with :class:`TypeError` because their
date depends on a time zone.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import warnings
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Literal

import chinese_calendar

from shanhai.models.holiday_file import HOLIDAY_FILE_NAME, HolidayFileError, load_holiday_file
from shanhai.models.holiday_year import YearArrangement
from shanhai.models.localtime import TZ_NAME
from shanhai.models.statutory_holidays import LAW, provisional_arrangement

__all__ = [
    "HOLIDAY_FILE_NAME",
    "CalendarSource",
    "HolidayFileError",
    "RollPolicy",
    "WorkingCalendar",
    "YearArrangement",
    "YearOverride",
    "default_calendar",
    "load_holiday_file",
    "official_year_known",
    "PROVISIONAL_MARK",
    "provisional_footnote",
    "provisional_message",
]

RollPolicy = Literal["none", "forward", "backward"]
CalendarSource = Literal["official", "file", "provisional"]
YearOverride = YearArrangement  # the name this type had before notices and the provisional calendar

_DEFAULT_FILE_HINT = f"calendar/{HOLIDAY_FILE_NAME}"

logger = logging.getLogger("shanhai.working_days")

_WORKING = b"\x01"


# --------------------------------------------------------------------------- per-year tables


@dataclass(frozen=True)
class _Year:
    """One year: ``bitmap[i]`` is 1 when day ``i`` (0 = Jan 1) works; ``cum[i]`` counts
    working days among days ``0..i`` inclusive."""

    year: int
    first_ordinal: int
    bitmap: bytes
    cum: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.cum[-1]

    @classmethod
    def build(cls, year: int, works) -> _Year:
        first = date(year, 1, 1)
        ndays = (date(year + 1, 1, 1) - first).days if year < 9999 else 365
        bits = bytearray(ndays)
        cum: list[int] = []
        running = 0
        for i in range(ndays):
            if works(first + timedelta(days=i)):
                bits[i] = 1
                running += 1
            cum.append(running)
        return cls(year, first.toordinal(), bytes(bits), tuple(cum))

    def day(self, i: int) -> date:
        return date.fromordinal(self.first_ordinal + i)


@functools.cache
def _chinese_calendar_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
        chinese_calendar.is_workday(date(year, 12, 31))
    except NotImplementedError:
        return False
    return True


@functools.cache
def _chinese_calendar_year(year: int) -> _Year:
    return _Year.build(year, chinese_calendar.is_workday)


def official_year_known(year: int) -> bool:
    """Whether chinese-calendar (the "official" source) knows ``year``."""
    return _chinese_calendar_knows(year)


@functools.cache
def _arrangement_year(arrangement: YearArrangement) -> _Year:
    return _Year.build(arrangement.year, arrangement.is_working_day)


# Years already reported as provisional in this process.
_WARNED_YEARS: set[int] = set()
_WARN_LOCK = threading.Lock()


def provisional_message(year: int, holiday_file: str = _DEFAULT_FILE_HINT) -> str:
    """What is said (Chinese first) when ``year`` is answered by the provisional calendar."""
    return (
        f"工作日历：{year} 年的国务院办公厅节假日安排未知（chinese-calendar 不含该年，节假日文件 "
        f"{holiday_file} 也未列出），暂用按{LAW}推算的临时日历：法定假日及其补假放假，"
        f"但不含调休（调休上班的周末按休息日、调休放假的工作日按工作日计算），节假日前后的期限可能有误。"
        f"通知发布后请运行 shanhai holidays import 通知.txt 写入 {holiday_file}。 / "
        f"Working calendar: {year} is PROVISIONAL: chinese-calendar does not know it and the holiday "
        f"file {holiday_file} does not list it, so working days for {year} follow the statutory "
        f"holidays of the law (with 补假) but none of the State Council's 调休 swaps; deadlines near "
        f"holidays may be wrong. Import the notice with `shanhai holidays import NOTICE.txt`."
    )


PROVISIONAL_MARK = "临时日历"


def provisional_footnote(years: Iterable[int]) -> str:
    """The line shown under dates marked :data:`PROVISIONAL_MARK`: why they may still move."""
    named = "、".join(f"{y}年" for y in sorted(set(years)))
    return (
        f"标“{PROVISIONAL_MARK}”的日期：{named}的国务院办公厅节假日安排尚未导入，工作日暂按{LAW}推算"
        f"（不含调休），期限和提醒日期在通知导入后可能调整。"
    )


def _warn_provisional(year: int, holiday_file: str) -> None:
    with _WARN_LOCK:
        if year in _WARNED_YEARS:
            return
        _WARNED_YEARS.add(year)
    message = provisional_message(year, holiday_file)
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=_stacklevel_outside_this_module())


def _stacklevel_outside_this_module() -> int:
    """stacklevel for warnings.warn called from our caller: the first frame not in this module."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    return level


def _check_date(d: date) -> None:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(
            f"expected a datetime.date in {TZ_NAME}, got {type(d).__name__} {d!r} "
            "(convert instants with shanhai.models.localtime.local_date first)"
        )


# --------------------------------------------------------------------------- calendar


class WorkingCalendar:
    """Working-day arithmetic.  Immutable after construction; safe to share."""

    def __init__(
        self,
        overrides: Mapping[int, YearArrangement] | None = None,
        *,
        holiday_file: Path | str | None = None,
    ):
        overrides = dict(overrides or {})
        for year, override in overrides.items():
            if not isinstance(override, YearArrangement) or override.year != year:
                raise ValueError(
                    f"override for {year} must be a YearArrangement with year={year}, got {override!r}"
                )
            if _chinese_calendar_knows(year):
                logger.debug(
                    "holiday file entry for %s ignored: chinese-calendar knows that year and wins", year
                )
        self._overrides: dict[int, YearArrangement] = overrides
        self._holiday_file = str(holiday_file) if holiday_file is not None else _DEFAULT_FILE_HINT
        self._years: dict[int, _Year] = {}

    @classmethod
    def from_file(cls, path: Path) -> WorkingCalendar:
        """Calendar using the holiday file at ``path`` (a missing file means no overrides)."""
        return cls(load_holiday_file(Path(path)), holiday_file=path)

    def __repr__(self) -> str:
        return f"WorkingCalendar(holiday_file={self._holiday_file!r}, file_years={sorted(self._overrides)})"

    # ---- sources

    def source(self, year: int) -> CalendarSource:
        """Where answers for ``year`` come from: "official" | "file" | "provisional" (does not warn)."""
        if _chinese_calendar_knows(year):
            return "official"
        if year in self._overrides:
            return "file"
        return "provisional"

    def is_provisional(self, year: int) -> bool:
        """True when ``year`` is computed from the law alone (no 调休 known): its dates are marked
        :data:`PROVISIONAL_MARK` wherever they are shown."""
        return self.source(year) == "provisional"

    @property
    def holiday_file(self) -> str:
        return self._holiday_file

    def deviations(self, year: int) -> tuple[list[date], list[date]]:
        """(Monday-Friday days of ``year`` that are not worked, Saturday/Sunday days that are)."""
        table = self._year(year)
        off: list[date] = []
        on: list[date] = []
        for i, works in enumerate(table.bitmap):
            d = table.day(i)
            if d.weekday() < 5 and not works:
                off.append(d)
            elif d.weekday() >= 5 and works:
                on.append(d)
        return off, on

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is not None:
            return table
        if not 1 <= year <= 9999:
            raise OverflowError(f"year {year} is outside the supported date range")
        kind = self.source(year)
        if kind == "official":
            table = _chinese_calendar_year(year)
        elif kind == "file":
            table = _arrangement_year(self._overrides[year])
        else:
            _warn_provisional(year, self._holiday_file)
            table = _arrangement_year(provisional_arrangement(year))
        self._years[year] = table
        return table

    def _locate(self, d: date) -> tuple[_Year, int]:
        _check_date(d)
        table = self._year(d.year)
        return table, d.toordinal() - table.first_ordinal

    # ---- queries

    def is_working_day(self, d: date) -> bool:
        table, i = self._locate(d)
        return table.bitmap[i] == 1

    def next_working_day(self, d: date, *, include_self: bool = False) -> date:
        """First working day strictly after ``d`` (``d`` itself if ``include_self`` and it works)."""
        table, i = self._locate(d)
        start = i if include_self else i + 1
        while True:
            found = table.bitmap.find(_WORKING, start)
            if found >= 0:
                return table.day(found)
            table, start = self._year(table.year + 1), 0

    def previous_working_day(self, d: date, *, include_self: bool = False) -> date:
        """Last working day strictly before ``d`` (``d`` itself if ``include_self`` and it works)."""
        table, i = self._locate(d)
        end = i + 1 if include_self else i
        while True:
            found = table.bitmap.rfind(_WORKING, 0, end)
            if found >= 0:
                return table.day(found)
            table = self._year(table.year - 1)
            end = len(table.bitmap)

    def add_working_days(self, d: date, n: int) -> date:
        """``n > 0``: the n-th working day after ``d``; ``n < 0``: the |n|-th working day
        before ``d``; ``n == 0``: ``d`` (even if it is not a working day)."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, got {n!r}")
        table, i = self._locate(d)
        if n == 0:
            return d
        if n > 0:
            done = table.cum[i]  # working days up to and including d within its year
            while done + n > table.total:
                n -= table.total - done
                table, done = self._year(table.year + 1), 0
            return table.day(bisect_left(table.cum, done + n))
        m = -n
        before = table.cum[i] - table.bitmap[i]  # working days strictly before d in its year
        while m > before:
            m -= before
            table = self._year(table.year - 1)
            before = table.total
        return table.day(bisect_left(table.cum, before - m + 1))

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; minus those in ``(end, start]`` when ``end < start``."""
        if end < start:
            return -self.working_days_between(end, start)
        a, i = self._locate(start)
        b, j = self._locate(end)
        if a.year == b.year:
            return b.cum[j] - a.cum[i]
        count = a.total - a.cum[i] + b.cum[j]
        for year in range(a.year + 1, b.year):
            count += self._year(year).total
        return count

    def roll(self, d: date, policy: RollPolicy) -> date:
        """``none``: ``d``; ``forward``/``backward``: ``d`` if it works, else the next/previous working day."""
        if policy == "none":
            _check_date(d)
            return d
        if policy == "forward":
            return self.next_working_day(d, include_self=True)
        if policy == "backward":
            return self.previous_working_day(d, include_self=True)
        raise ValueError(f"unknown roll policy {policy!r} (expected 'none', 'forward' or 'backward')")


def default_calendar(catalogue_dir: Path) -> WorkingCalendar:
    """The calendar for a catalogue: chinese-calendar, then ``catalogue_dir / "holidays.yaml"``,
    then the provisional calendar from the law."""
    return WorkingCalendar.from_file(Path(catalogue_dir) / HOLIDAY_FILE_NAME)

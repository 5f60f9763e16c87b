"""Working days under the Chinese statutory calendar: Monday-Friday except public holidays, plus the weekend make-up days (调休上班).

A day is a *working day* when the statutory calendar says people work on it:
Monday-Friday except public holidays, plus the weekend make-up days (调休上班).

Where the answer for a year comes from, in order of precedence:

1. ``chinese_calendar`` (version 1.11 knows 2004-2026).  **It always wins**: a year
   that chinese-calendar knows is never taken from the holiday file, even when the
   file lists it.  The package is maintained against the State Council notices and is
   the better-reviewed source; the file exists only to bridge the months between a
   notice being published (typically in November) and a package upgrade.  When the
   package is upgraded and learns a year, its entry in the file becomes inert and can
   be deleted at leisure.
2. The holiday file (``calendar/holidays.yaml`` in the catalogue; see
   :func:`load_holiday_file` for the format).
3. Otherwise Monday-Friday.  This is almost certainly wrong around holidays, so the
   first time a year falls back (per process) it is logged on the
   ``shanhai.working_days`` logger at WARNING level and raised as a
   :class:`RuntimeWarning`, naming the year and the file to edit.

Everything here is pure: no clock and no I/O except :func:`load_holiday_file`,
:meth:`WorkingCalendar.from_file` and :func:`default_calendar`.  Answers are cached
per year as a byte map (one byte per day) with running counts, so the arithmetic
costs a few bisections/lookups per year touched rather than a loop per day.

Dates must be ``datetime.date`` values that are already Shanghai calendar dates;
``datetime`` instances (pendulum ``DateTime`` included) are rejected with
:class:`TypeError` because their date depends on a time zone.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
import warnings
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Literal

import chinese_calendar
import yaml

__all__ = [
    "HOLIDAY_FILE_NAME",
    "CalendarSource",
    "HolidayFileError",
    "RollPolicy",
    "WorkingCalendar",
    "YearOverride",
    "default_calendar",
    "load_holiday_file",
]

RollPolicy = Literal["none", "forward", "backward"]
CalendarSource = Literal["chinese_calendar", "holiday_file", "weekdays"]

HOLIDAY_FILE_NAME = "holidays.yaml"
_DEFAULT_FILE_HINT = f"calendar/{HOLIDAY_FILE_NAME}"

logger = logging.getLogger("shanhai.working_days")

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WORKING = b"\x01"


class HolidayFileError(ValueError):
    """The holiday file is unreadable or inconsistent.  Nothing from it is used."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = Path(path)
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{self.path}: {count} problem{'s' if count != 1 else ''} in holiday file"
        super().__init__(header + "".join(f"\n  - {p}" for p in self.problems))


@dataclass(frozen=True)
class YearOverride:
    """One year's arrangement, as published by the State Council.

    ``off``: days off (weekend days may be listed; they are simply off).
    ``workdays``: weekend days that are make-up working days (调休上班).
    """

    year: int
    off: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "off", frozenset(self.off))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        problems = _override_problems(
            self.year, ((d, None) for d in self.off), ((d, None) for d in self.workdays)
        )
        if problems:
            raise ValueError(f"invalid YearOverride for {self.year}: " + "; ".join(problems))


def _override_problems(
    year: int,
    off: Iterable[tuple[date, int | None]],
    workdays: Iterable[tuple[date, int | None]],
) -> list[str]:
    """Consistency problems of one year's entry; each message names the year and entry."""

    def at(line: int | None) -> str:
        return f"line {line}: " if line is not None else ""

    problems: list[str] = []
    off_lines: dict[date, int | None] = {}
    for d, line in off:
        if not isinstance(d, date) or isinstance(d, datetime):
            problems.append(f"{at(line)}year {year}, off entry {d!r}: not a date")
            continue
        off_lines.setdefault(d, line)
        if d.year != year:
            problems.append(f"{at(line)}year {year}, off entry {d.isoformat()}: date is outside {year}")
    for d, line in workdays:
        if not isinstance(d, date) or isinstance(d, datetime):
            problems.append(f"{at(line)}year {year}, workdays entry {d!r}: not a date")
            continue
        where = f"{at(line)}year {year}, workdays entry {d.isoformat()}"
        if d.year != year:
            problems.append(f"{where}: date is outside {year}")
        if d in off_lines:
            off_line = off_lines[d]
            also = f" (off entry at line {off_line})" if off_line is not None else ""
            problems.append(f"{where}: date is listed both as off and as a workday{also}")
        if d.weekday() < 5:
            problems.append(
                f"{where}: a make-up workday must be a Saturday or Sunday, "
                f"but {d.isoformat()} is a {_WEEKDAY_NAMES[d.weekday()]}"
            )
    return problems


# --------------------------------------------------------------------------- holiday file

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_RE = re.compile(r"\d{4}")
_NULL_TAG = "tag:yaml.org,2002:null"
_YEAR_KEYS = ("source", "off", "workdays")


def load_holiday_file(path: Path) -> dict[int, YearOverride]:
    """Read a holiday file; a missing file means no overrides (``{}``).

    Format (UTF-8 YAML)::

        holidays:
          2027:
            source: 国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）
            off: [2027-01-01, ...]       # days off (weekend days may be listed too)
            workdays: [2027-02-20]       # weekend make-up working days (调休上班)

    ``off`` is required and non-empty, ``workdays`` and ``source`` are optional.
    Dates are written ``YYYY-MM-DD``.  The whole file is parsed, then validated;
    any problem raises :class:`HolidayFileError` listing every problem found, each
    naming the year, the entry and its line.  Nothing partial is ever returned.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise HolidayFileError(path, [f"not UTF-8 text ({exc})"]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise HolidayFileError(path, [f"{where}not valid YAML: {exc}"]) from exc

    problems: list[str] = []
    # year -> (source, [(date, line)], [(date, line)])
    parsed: dict[int, tuple[str | None, list[tuple[date, int]], list[tuple[date, int]]]] = {}
    _parse_root(root, parsed, problems)
    for year, (_source, off, workdays) in parsed.items():
        problems.extend(_override_problems(year, off, workdays))
    if problems:
        raise HolidayFileError(path, problems)
    return {
        year: YearOverride(
            year=year,
            off=frozenset(d for d, _ in off),
            workdays=frozenset(d for d, _ in workdays),
            source=source,
        )
        for year, (source, off, workdays) in sorted(parsed.items())
    }


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _parse_root(root: yaml.Node | None, parsed: dict, problems: list[str]) -> None:
    if root is None or _is_null(root):
        return  # empty file
    if not isinstance(root, yaml.MappingNode):
        problems.append(f"line {_line(root)}: the file must be a mapping with a 'holidays' key")
        return
    for key, value in root.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name != "holidays":
            problems.append(f"line {_line(key)}: unknown top-level key {name!r} (only 'holidays' is allowed)")
            continue
        if _is_null(value):
            continue
        if not isinstance(value, yaml.MappingNode):
            problems.append(f"line {_line(value)}: 'holidays' must map years to their arrangements")
            continue
        for year_node, entry in value.value:
            raw = year_node.value if isinstance(year_node, yaml.ScalarNode) else None
            if raw is None or not _YEAR_RE.fullmatch(raw):
                problems.append(f"line {_line(year_node)}: year key {raw!r} is not a four-digit year")
                continue
            year = int(raw)
            if year in parsed:
                problems.append(f"line {_line(year_node)}: year {year} is listed more than once")
                continue
            parsed[year] = _parse_year(year, year_node, entry, problems)


def _parse_year(year: int, year_node: yaml.Node, entry: yaml.Node, problems: list[str]):
    source: str | None = None
    lists: dict[str, list[tuple[date, int]]] = {"off": [], "workdays": []}
    if not isinstance(entry, yaml.MappingNode):
        problems.append(f"line {_line(entry)}: year {year}: expected a mapping with {', '.join(_YEAR_KEYS)}")
        return source, lists["off"], lists["workdays"]
    seen: set[str] = set()
    for key, value in entry.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name not in _YEAR_KEYS:
            problems.append(
                f"line {_line(key)}: year {year}: unknown key {name!r} (expected {', '.join(_YEAR_KEYS)})"
            )
            continue
        if name in seen:
            problems.append(f"line {_line(key)}: year {year}: key {name!r} is listed more than once")
            continue
        seen.add(name)
        if name == "source":
            if _is_null(value):
                continue
            if isinstance(value, yaml.ScalarNode):
                source = value.value
            else:
                problems.append(f"line {_line(value)}: year {year}: source must be text")
            continue
        if _is_null(value):
            continue
        if not isinstance(value, yaml.SequenceNode):
            problems.append(f"line {_line(value)}: year {year}: {name} must be a list of YYYY-MM-DD dates")
            continue
        for item in value.value:
            text = item.value if isinstance(item, yaml.ScalarNode) else None
            parsed_date: date | None = None
            if text is not None and _DATE_RE.fullmatch(text):
                try:
                    parsed_date = date(int(text[:4]), int(text[5:7]), int(text[8:]))
                except ValueError:
                    parsed_date = None
            if parsed_date is None:
                shown = text if text is not None else f"<{type(item).__name__}>"
                problems.append(
                    f"line {_line(item)}: year {year}, {name} entry {shown!r}: malformed date "
                    "(expected a real calendar date written YYYY-MM-DD)"
                )
                continue
            lists[name].append((parsed_date, _line(item)))
    if not lists["off"]:
        problems.append(
            f"line {_line(year_node)}: year {year}: 'off' is missing or empty "
            "(every year has days off; an entry without them would silently mean Monday-Friday)"
        )
    return source, lists["off"], lists["workdays"]


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


@functools.cache
def _weekday_year(year: int) -> _Year:
    return _Year.build(year, lambda d: d.weekday() < 5)


# Years already reported as falling back to Monday-Friday in this process.
_WARNED_YEARS: set[int] = set()
_WARN_LOCK = threading.Lock()


def _warn_fallback(year: int, holiday_file: str) -> None:
    with _WARN_LOCK:
        if year in _WARNED_YEARS:
            return
        _WARNED_YEARS.add(year)
    message = (
        f"工作日历：{year} 年的法定节假日与调休安排未知（chinese-calendar 不含该年，节假日文件 "
        f"{holiday_file} 也未列出），暂按周一至周五计算工作日，节假日前后的期限可能有误；"
        f"请按国务院办公厅通知在 {holiday_file} 中补充 {year} 年。 / "
        f"Working calendar: no statutory holiday data for {year} (chinese-calendar does not "
        f"know it and the holiday file {holiday_file} does not list it); falling back to "
        f"Monday-Friday, so deadlines near holidays may be wrong. Add {year} to {holiday_file} "
        f"from the State Council notice."
    )
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
            f"expected a datetime.date in Asia/Shanghai, got {type(d).__name__} {d!r} "
            "(convert instants with .in_tz('Asia/Shanghai').date() first)"
        )


# --------------------------------------------------------------------------- calendar


class WorkingCalendar:
    """Working-day arithmetic.  Immutable after construction; safe to share."""

    def __init__(
        self,
        overrides: Mapping[int, YearOverride] | None = None,
        *,
        holiday_file: Path | str | None = None,
    ):
        overrides = dict(overrides or {})
        for year, override in overrides.items():
            if not isinstance(override, YearOverride) or override.year != year:
                raise ValueError(
                    f"override for {year} must be a YearOverride with year={year}, got {override!r}"
                )
            if _chinese_calendar_knows(year):
                logger.debug(
                    "holiday file entry for %s ignored: chinese-calendar knows that year and wins", year
                )
        self._overrides: dict[int, YearOverride] = overrides
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
        """Where answers for ``year`` come from (does not warn)."""
        if _chinese_calendar_knows(year):
            return "chinese_calendar"
        if year in self._overrides:
            return "holiday_file"
        return "weekdays"

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is not None:
            return table
        if not 1 <= year <= 9999:
            raise OverflowError(f"year {year} is outside the supported date range")
        kind = self.source(year)
        if kind == "chinese_calendar":
            table = _chinese_calendar_year(year)
        elif kind == "holiday_file":
            override = self._overrides[year]
            table = _Year.build(
                year,
                lambda d: d in override.workdays or (d.weekday() < 5 and d not in override.off),
            )
        else:
            _warn_fallback(year, self._holiday_file)
            table = _weekday_year(year)
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
    """The calendar for a catalogue: ``catalogue_dir / "holidays.yaml"`` plus chinese-calendar."""
    return WorkingCalendar.from_file(Path(catalogue_dir) / HOLIDAY_FILE_NAME)

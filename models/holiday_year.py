"""One year's holiday arrangement: which days are off and which weekend days are worked.

The common currency of the three sources a working calendar can draw on for a year that
chinese-calendar does not know: the holiday file, a parsed State Council notice, and the
provisional calendar computed from the law.  A day of the year is a *working day* when it is a
make-up workday (调休上班), or a Monday-Friday that is not off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from shanhai.models.localtime import weekday_name

__all__ = ["YearArrangement", "arrangement_problems"]


def _is_plain_date(d: object) -> bool:
    return isinstance(d, date) and not isinstance(d, datetime)


def arrangement_problems(year: int, off: Iterable[date], workdays: Iterable[date]) -> list[str]:
    """Why ``off``/``workdays`` cannot be ``year``'s arrangement (Chinese first), each naming the date."""
    problems: list[str] = []
    off = list(off)
    off_set = {d for d in off if _is_plain_date(d)}
    for d in off:
        if not _is_plain_date(d):
            problems.append(f"放假日期 {d!r} 不是日期 (not a date)")
        elif d.year != year:
            problems.append(f"放假日期 {d.isoformat()} 不在 {year} 年内 (date is outside {year})")
    for d in workdays:
        if not _is_plain_date(d):
            problems.append(f"上班日期 {d!r} 不是日期 (not a date)")
            continue
        if d.year != year:
            problems.append(f"上班日期 {d.isoformat()} 不在 {year} 年内 (date is outside {year})")
        if d in off_set:
            problems.append(
                f"{d.isoformat()} 既是放假日又是上班日 (listed both as off and as a workday)"
            )
        if d.weekday() < 5:
            problems.append(
                f"调休上班日 {d.isoformat()} 是{weekday_name(d)}，只能是周六或周日 "
                f"(a make-up workday must be a Saturday or Sunday)"
            )
    return problems


@dataclass(frozen=True)
class YearArrangement:
    """``off``: days off (weekend days may be listed; they are off anyway).
    ``workdays``: weekend days that are worked (调休上班).  Both lie inside ``year``.
    ``source``: where the arrangement comes from (a notice's title, "provisional: ...")."""

    year: int
    off: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "off", frozenset(self.off))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        problems = arrangement_problems(self.year, self.off, self.workdays)
        if problems:
            raise ValueError(f"{self.year} 年的安排有误 invalid arrangement for {self.year}: " + "；".join(problems))

    def is_working_day(self, d: date) -> bool:
        if d.year != self.year:
            raise ValueError(f"{d.isoformat()} is outside {self.year}")
        return d in self.workdays or (d.weekday() < 5 and d not in self.off)

    def days(self) -> list[date]:
        first = date(self.year, 1, 1)
        return [first + timedelta(days=i) for i in range((date(self.year, 12, 31) - first).days + 1)]

    def deviations(self) -> tuple[list[date], list[date]]:
        """(Monday-Friday days that are not worked, Saturday/Sunday days that are), sorted."""
        off = sorted(d for d in self.off if d.weekday() < 5)
        on = sorted(self.workdays)
        return off, on

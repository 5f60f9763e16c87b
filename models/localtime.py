"""The one time zone of the product: every date a user sees or types is a date in Asia/Shanghai.

Instants are stored in UTC (SQLite keeps no offset) and converted here, at the edges. The zone is
not a setting: the document, its deadlines and the statutory calendar are all Shanghai's.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ_NAME = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TZ_NAME)
WEEKDAYS = "一二三四五六日"  # Monday first, as date.weekday() counts


def _aware(instant: datetime) -> datetime:
    if not isinstance(instant, datetime):
        raise TypeError(f"expected an aware datetime, got {type(instant).__name__} {instant!r}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware, got naive {instant.isoformat()}")
    return instant


def to_local(instant: datetime) -> datetime:
    """The instant on Shanghai's wall clock."""
    return _aware(instant).astimezone(SHANGHAI)


def local_date(instant: datetime) -> date:
    """The Shanghai calendar date of an instant (a plain ``datetime.date``)."""
    local = to_local(instant)
    return date(local.year, local.month, local.day)


def format_local(instant: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return to_local(instant).strftime(fmt)


def weekday_name(day: date) -> str:
    """``周六``."""
    return f"周{WEEKDAYS[day.weekday()]}"


def format_day(day: date) -> str:
    """``2026-10-31（周六）``."""
    return f"{day.isoformat()}（{weekday_name(day)}）"

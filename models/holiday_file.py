"""The holiday file (``calendar/holidays.yaml``): State Council arrangements for years
chinese-calendar does not know yet.

Format (UTF-8 YAML)::

    holidays:
      2027:
        source: 国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）
        off: [2027-01-01, ...]       # days off (weekend days may be listed too)
        workdays: [2027-02-20]       # weekend make-up working days (调休上班)

``off`` is required and non-empty; ``workdays`` and ``source`` are optional.  Dates are written
``YYYY-MM-DD`` and lie in their year; a workday is a Saturday or Sunday and not also off.  The file
is read with :mod:`shanhai.models.yaml_source`, so every problem is reported as
``file:line: field: message`` (duplicate keys and alias bombs refused), all problems at once, and
nothing from a bad file is used.

:func:`with_year` and :func:`save_year` write a year back (``shanhai holidays import``), keeping
the comment header above ``holidays:``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from shanhai.models.holiday_year import YearArrangement
from shanhai.models.localtime import weekday_name
from shanhai.models.yaml_source import YamlFileError, load_model

__all__ = [
    "HOLIDAY_FILE_NAME",
    "HolidayFile",
    "HolidayFileError",
    "load_holiday_file",
    "save_year",
    "with_year",
]

HOLIDAY_FILE_NAME = "holidays.yaml"
_YEAR_FIELD = "__year__"  # injected from the mapping key; no one writes it
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


class HolidayFileError(YamlFileError):
    """The holiday file is unreadable or inconsistent (each problem located); nothing from it is used."""


def _a_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"'{value}' 不是日期，应写作 YYYY-MM-DD (malformed date: expected YYYY-MM-DD)")


def _year_of(info: ValidationInfo) -> int | None:
    return info.data.get("year")


def _off_day(value: date, info: ValidationInfo) -> date:
    year = _year_of(info)
    if year is not None and value.year != year:
        raise ValueError(f"{value.isoformat()} 不在 {year} 年内 (date is outside {year})")
    return value


def _work_day(value: date, info: ValidationInfo) -> date:
    _off_day(value, info)
    if value in set(info.data.get("off") or ()):
        raise ValueError(f"{value.isoformat()} 同时列在 off 中 (listed both as off and as a workday)")
    if value.weekday() < 5:
        raise ValueError(
            f"调休上班日 {value.isoformat()} 是{weekday_name(value)}，只能是周六或周日 "
            f"(a make-up workday must be a Saturday or Sunday)"
        )
    return value


OffDay = Annotated[date, BeforeValidator(_a_date), AfterValidator(_off_day)]
WorkDay = Annotated[date, BeforeValidator(_a_date), AfterValidator(_work_day)]


class YearEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    year: int | None = Field(default=None, alias=_YEAR_FIELD)
    source: str | None = None
    off: list[OffDay] = Field(default_factory=list)
    workdays: list[WorkDay] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_days_off(self) -> YearEntry:
        if not self.off:
            raise ValueError(
                "off: 每年都有放假日期，off 不能缺少或为空（否则该年会被悄悄当作周一至周五） "
                "('off' is missing or empty)"
            )
        return self

    def arrangement(self) -> YearArrangement:
        assert self.year is not None
        return YearArrangement(self.year, frozenset(self.off), frozenset(self.workdays), self.source)


def _year_key(key: Any) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool) and 1000 <= key <= 9999:
        return key
    if isinstance(key, str) and re.fullmatch(r"\d{4}", key):
        return int(key)
    return None


def _check_year_key(key: str) -> str:
    if _year_key(key) is None:
        raise ValueError(f"'{key}' 不是四位年份 (not a four-digit year)")
    return key


class HolidayFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holidays: dict[Annotated[str, BeforeValidator(str), AfterValidator(_check_year_key)], YearEntry] = Field(
        default_factory=dict
    )

    @model_validator(mode="before")
    @classmethod
    def _key_years(cls, data: Any) -> Any:
        # Keys become text so that errors are located like the file's own keys; each entry
        # learns its year so that its dates can be checked against it, item by item.
        if not isinstance(data, dict):
            return data
        if "holidays" in data and data["holidays"] is None:  # `holidays:` with nothing under it
            return {**data, "holidays": {}}
        if not isinstance(data.get("holidays"), dict):
            return data
        years = {}
        for key, entry in data["holidays"].items():
            if isinstance(entry, dict):
                # YAML 1.1 reads the bare key `off` as the boolean false; the file means the word.
                entry = {("off" if k is False else k): v for k, v in entry.items() if k != _YEAR_FIELD}
                entry[_YEAR_FIELD] = _year_key(key)
            years[str(key)] = entry
        return {**data, "holidays": years}

    def years(self) -> dict[int, YearArrangement]:
        return {int(key): entry.arrangement() for key, entry in sorted(self.holidays.items())}


def load_holiday_file(path: Path) -> dict[int, YearArrangement]:
    """Every year in the holiday file; a missing or empty file means none.

    Raises :class:`HolidayFileError` listing every problem (``file:line: field: message``)."""
    try:
        return load_model(Path(path), HolidayFile, missing=HolidayFile).years()
    except YamlFileError as exc:
        raise HolidayFileError(exc.problems) from None


# --------------------------------------------------------------------------- writing


def _dates(days: list[date]) -> str:
    return "[" + ", ".join(d.isoformat() for d in days) + "]"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _entry_lines(arr: YearArrangement) -> list[str]:
    lines = [f"  {arr.year}:"]
    if arr.source:
        lines.append(f"    source: {_quoted(arr.source)}")
    lines.append(f"    off: {_dates(sorted(arr.off))}")
    if arr.workdays:
        lines.append(f"    workdays: {_dates(sorted(arr.workdays))}")
    return lines


def _header(text: str) -> str:
    """Everything above the top-level ``holidays:`` key (the comments people read)."""
    match = re.search(r"^holidays\s*:", text, re.M)
    head = text[: match.start()] if match else text
    if head and not head.endswith("\n"):
        head += "\n"
    return head


def with_year(text: str, years: dict[int, YearArrangement], arrangement: YearArrangement) -> str:
    """The holiday file ``text`` (whose content is ``years``) with ``arrangement``'s year set.

    The comment header above ``holidays:`` is kept; the ``holidays:`` block is written anew, one
    entry per year in year order (comments inside the block are not kept)."""
    merged = {**years, arrangement.year: arrangement}
    lines = ["holidays:"]
    for year in sorted(merged):
        lines.extend(_entry_lines(merged[year]))
    return _header(text) + "\n".join(lines) + "\n"


def save_year(path: Path, arrangement: YearArrangement) -> str:
    """Write ``arrangement`` into the holiday file at ``path`` atomically; return the new text.

    The new text is read back through the same validation as any holiday file before it
    replaces the old one, so a file that would not load is never written."""
    path = Path(path)
    years = load_holiday_file(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = with_year(old, years, arrangement)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
            fh.flush()
            os.fsync(fh.fileno())
        written = load_holiday_file(Path(tmp))
        if written != {**years, arrangement.year: arrangement}:
            raise RuntimeError(f"{path}: the rewritten holiday file does not read back as written")
        # mkstemp makes the file private; the holiday file is ordinary shared data
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new

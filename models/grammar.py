"""One grammar for what people type (SPEC §9): the CLI, imports and the portal read dates, ids and the
text of amounts and counts here, so the same string gets the same answer everywhere.

Full-width digits, commas, dots, signs and dashes (２０２６－１２－０１, １,０００万元) read as their ASCII
forms everywhere (NFKC): a Chinese input method types them, and refusing them in one place only would
give two answers. Nothing else is guessed: Python's ``date.fromisoformat`` also takes ``20261201`` and
``2026-W49-2``, which no clerk means by a completion date, so a date is ``YYYY-MM-DD`` and nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from shanhai.models.errors import InputError

MAX_ID = 2**31 - 1  # the largest id an INTEGER key holds (PostgreSQL's int4): a bigger typed id names nothing

DATE_FORM = "YYYY-MM-DD"
# ASCII digits only after NFKC: other scripts' digits are not what a clerk types, and \d lets them through
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ID = re.compile(r"[0-9]+")


def normal_text(text: object) -> str:
    """The text as the grammar reads it: full-width forms as ASCII, surrounding blanks dropped."""
    return unicodedata.normalize("NFKC", "" if text is None else str(text)).strip()


def shown_text(text: object) -> str:
    """The text quoted back in a message: as typed, without the blanks around it (an import's cell and a
    form field lose those before they arrive; the message must not depend on the way in)."""
    return "" if text is None else str(text).strip()


def parse_date(text: object, *, field: str = "date", what: str = "日期") -> date:
    """A day written YYYY-MM-DD (full-width digits and dashes read as ASCII); anything else is refused."""
    raw, shown = normal_text(text), shown_text(text)
    if not raw:
        raise InputError(field, f"{what}为空（应为 {DATE_FORM}，如 2026-07-01）")
    if not _DATE.fullmatch(raw):
        raise InputError(field, f"无法识别的{what}“{shown}”（应为 {DATE_FORM}，如 2026-07-01）")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(field, f"不存在的{what}“{shown}”") from None


def stored_id(text: object) -> int | None:
    """The id a typed number names, or None when no row can have it: not a whole number, 0, or past the
    key column's range (a database would overflow or refuse it instead of finding nothing)."""
    raw = normal_text(text)
    if not _ID.fullmatch(raw) or len(raw.lstrip("0")) > len(str(MAX_ID)):
        return None
    n = int(raw)
    return n if 0 < n <= MAX_ID else None

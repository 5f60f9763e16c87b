"""Status to Excel, and a unit's deadlines as an ICS calendar (built in models, shared with the portal)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shanhai.models.excel import COLUMNS, status_workbook
from shanhai.models.ics import unit_calendar
from shanhai.models.queries import status_items

__all__ = ["COLUMNS", "export_excel", "unit_calendar"]


def export_excel(app, path: Path, *, as_of: datetime, everything: bool = False) -> int:
    items = status_items(app, as_of=as_of, everything=everything)
    wb = status_workbook(items)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return len(items)

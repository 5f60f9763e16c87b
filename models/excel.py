"""Status in Excel: one sheet a person can filter and print, built for `shanhai export` and the portal's
download alike (it lives below both: the portal may not import the CLI).

A title row states the as-of instant; the header row below it is frozen and carries the autofilter;
columns are as wide as their content (a Chinese character counts double); light colours as on the board.
The portal's download adds a 总览 sheet: the board, obligations × scopes.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from shanhai.models.queries import ordered_evaluations, title_and_clause
from shanhai.models.text import display_width

COLUMNS = [
    ("id", "期次#"),
    ("title", "事项"),
    ("clause", "条款"),
    ("obligation", "事项编号"),
    ("scope", "范围"),
    ("accountable", "责任单位"),
    ("co_responsible", "配合单位"),
    ("period", "期次"),
    ("due", "期限"),
    ("light_label", "灯"),
    ("status_label", "状态"),
    ("progress_text", "进度"),
    ("escalation_level", "督办级别"),
    ("pending", "待核验"),
    ("calendar_label", "日历"),
]
FILLS = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE", "grey": "D9D9D9"}  # Excel's light tints
MAX_WIDTH = 60  # a long progress text wraps at this width instead of pushing the sheet off screen
TITLE = "山海协作工程督办状态"


def status_rows(app, *, as_of: datetime, **flt: Any) -> list[dict[str, Any]]:
    """The rows, in the order `shanhai status` lists them (most urgent, oldest first); ``flt`` as
    :func:`shanhai.models.queries.evaluations` takes it (year, everything, scope, obligation)."""
    from shanhai.models.progress import progress_text
    from shanhai.models.statuses import Light
    from shanhai.models.working_days import PROVISIONAL_MARK

    rows = []
    for occ, ev in ordered_evaluations(app, as_of=as_of, **flt):
        item = ev.as_item(*title_and_clause(app.catalogue, ev.obligation_id))
        rows.append(
            {
                **item,
                "due": ev.due,
                "accountable": "、".join(ev.accountable),
                "co_responsible": "、".join(u for u in occ.requirement.responsible if u not in ev.accountable),
                "light_label": Light(item["light"]).name_zh,
                "status_label": ev.label,
                "progress_text": progress_text(item["progress"]),
                "pending": "是" if item["pending"] else "",
                "calendar_label": PROVISIONAL_MARK if ev.provisional else "",
            }
        )
    return rows


def status_workbook(rows: list[dict[str, Any]], *, as_of: datetime, board: dict[str, Any] | None = None):
    """An openpyxl Workbook: sheet 状态 (one row per occurrence) and, given a board, sheet 总览 first."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from shanhai.models.localtime import format_local

    title = f"{TITLE} 截至 {format_local(as_of)}（北京时间）"
    wb = Workbook()
    wb.properties.title = title
    ws = wb.active
    ws.title = "状态"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([h for _, h in COLUMNS])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    light_col = next(i for i, (k, _) in enumerate(COLUMNS, 1) if k == "light_label")
    status_col = next(i for i, (k, _) in enumerate(COLUMNS, 1) if k == "status_label")
    due_col = next(i for i, (k, _) in enumerate(COLUMNS, 1) if k == "due")
    for row in rows:
        ws.append([row[k] for k, _ in COLUMNS])
        fill = PatternFill("solid", fgColor=FILLS[row["light"]])
        ws.cell(ws.max_row, light_col).fill = fill
        ws.cell(ws.max_row, status_col).fill = fill
        ws.cell(ws.max_row, due_col).number_format = "yyyy-mm-dd"
    wrap = Alignment(wrap_text=True, vertical="top")
    for i, (key, head) in enumerate(COLUMNS, 1):
        widths = [display_width(_shown(row[key])) for row in rows]
        ws.column_dimensions[get_column_letter(i)].width = min(max([display_width(head), *widths]) + 2, MAX_WIDTH)
        for r, w in enumerate(widths, start=3):
            if w + 2 > MAX_WIDTH:
                ws.cell(r, i).alignment = wrap
    last = get_column_letter(len(COLUMNS))
    ws.auto_filter.ref = f"A2:{last}{ws.max_row}"
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    if board is not None:
        _board_sheet(wb, board)
    return wb


def _board_sheet(wb, board: dict[str, Any]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    grid = wb.create_sheet("总览", 0)
    columns = [c["name"] for group in board["groups"] for c in group["columns"]]
    grid.append(["事项", "条款", *columns])
    for cell in grid[1]:
        cell.font = Font(bold=True)
    for row in board["rows"]:
        values: list[str] = [row["title"], row["clause"]]
        fills: list[str | None] = []
        for name in columns:
            cell = row["cells"].get(name)
            if cell is None:
                values.append("")
                fills.append(None)
            else:
                values.append(f"{cell['label']}\n{cell['progress']}\n期限 {cell['due']}{'*' if cell['provisional'] else ''}")
                fills.append(cell["light"])
        grid.append(values)
        for i, light in enumerate(fills, start=3):
            if light:
                target = grid.cell(grid.max_row, i)
                target.fill = PatternFill("solid", fgColor=FILLS[light])
                target.alignment = Alignment(wrap_text=True, vertical="top")
    grid.freeze_panes = "C2"


def workbook_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)

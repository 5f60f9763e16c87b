"""Status in Excel: the CLI's `shanhai export` and the portal's board download build the same workbook.

It lives below both so that the portal, which may not import the CLI, serves the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

COLUMNS = [
    ("id", "期次#"),
    ("title", "事项"),
    ("clause", "条款"),
    ("obligation", "事项编号"),
    ("scope", "范围"),
    ("period", "期次"),
    ("due", "期限"),
    ("status_label", "状态"),
    ("progress_text", "进度"),
    ("escalation_level", "督办级别"),
    ("pending", "待核验"),
]
FILLS = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE", "grey": "D9D9D9"}


def status_workbook(items: Sequence[dict[str, Any]], *, board: dict[str, Any] | None = None):
    """An openpyxl Workbook: sheet 状态 (one row per status item) and, given a board, sheet 总览."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    from shanhai.models.progress import progress_text
    from shanhai.models.statuses import label_of

    wb = Workbook()
    ws = wb.active
    ws.title = "状态"
    ws.append([h for _, h in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for it in items:
        row = {
            **it,
            "status_label": label_of(it["status"]),
            "progress_text": progress_text(it["progress"]),
            "pending": "是" if it["pending"] else "",
        }
        ws.append([row[k] for k, _ in COLUMNS])
        ws.cell(ws.max_row, 8).fill = PatternFill("solid", fgColor=FILLS[it["light"]])
    ws.freeze_panes = "A2"
    if board is not None:
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
                    values.append(f"{cell['label']}\n{cell['progress']}\n期限 {cell['due']}")
                    fills.append(cell["light"])
            grid.append(values)
            for i, light in enumerate(fills, start=3):
                if light:
                    target = grid.cell(grid.max_row, i)
                    target.fill = PatternFill("solid", fgColor=FILLS[light])
                    target.alignment = Alignment(wrap_text=True, vertical="top")
        grid.freeze_panes = "C2"
    return wb


def workbook_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

"""Status to Excel (the ICS calendar is shanhai.cli.ics)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shanhai.models.queries import status_items

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


def export_excel(app, path: Path, *, as_of: datetime, everything: bool = False) -> int:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    from shanhai.models.progress import progress_text
    from shanhai.models.statuses import label_of

    fills = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE", "grey": "D9D9D9"}
    items = status_items(app, as_of=as_of, everything=everything)
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
        ws.cell(ws.max_row, 8).fill = PatternFill("solid", fgColor=fills[it["light"]])
    ws.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return len(items)

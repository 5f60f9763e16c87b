"""Status to Excel, and a unit's deadlines as an ICS calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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


def _ics_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def unit_calendar(app, unit_name: str, *, as_of: datetime) -> str:
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import Occurrence

    unit = app.catalogue.unit(unit_name)
    if unit is None:
        raise ValueError(f"未知的单位“{unit_name}”")
    from shanhai.models.localtime import local_date

    year = local_date(as_of).year
    with app.session() as session:
        occs = session.execute(select(Occurrence).order_by(col(Occurrence.due))).scalars().all()
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Shanhai//山海协作工程//ZH",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_ics_text(unit.name + ' 山海协作期限')}",
        "X-WR-TIMEZONE:Asia/Shanghai",
    ]
    stamp = as_of.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")  # the Z means UTC: convert first
    for occ in occs:
        if occ.due.year < year - 1 or unit.name not in json.loads(occ.requirement)["responsible"]:
            continue
        ob = app.catalogue.obligations.get(occ.obligation_id)
        title = ob.title if ob else occ.obligation_id
        clause = ob.clause if ob else ""
        lines += [
            "BEGIN:VEVENT",
            f"UID:shanhai-{occ.id}-{unit.code}@shanhai",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{occ.due:%Y%m%d}",
            f"DTEND;VALUE=DATE:{occ.due + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_ics_text(f'【山海协作】{title}（{occ.scope}）期限')}",
            f"DESCRIPTION:{_ics_text(f'条款 {clause}；期次 {occ.period}；范围 {occ.scope}')}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def _fold(line: str) -> str:
    """RFC 5545: lines longer than 75 octets are folded (never inside a UTF-8 character)."""
    out: list[str] = []
    cur = b""
    for ch in line:
        b = ch.encode()
        if len(cur) + len(b) > (75 if not out else 74):
            out.append(cur.decode())
            cur = b""
        cur += b
    out.append(cur.decode())
    return "\r\n ".join(out)

"""A unit's deadlines as an ICS calendar (RFC 5545): the CLI's `shanhai ics` and the portal's feed.

It lives below both so that the portal, which may not import the CLI, serves the same calendar.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta


def _ics_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def unit_calendar(app, unit_name: str, *, as_of: datetime) -> str:
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.localtime import TZ_NAME, local_date
    from shanhai.models.tables import Occurrence

    unit = app.catalogue.unit(unit_name)
    if unit is None:
        raise ValueError(f"未知的单位“{unit_name}”")
    year = local_date(as_of).year
    with app.session() as session:
        occs = session.execute(select(Occurrence).order_by(col(Occurrence.due))).scalars().all()
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Shanhai//山海协作工程//ZH",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_ics_text(unit.name + ' 山海协作期限')}",
        f"X-WR-TIMEZONE:{TZ_NAME}",
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

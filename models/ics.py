"""A unit's deadlines as an iCalendar file (RFC 5545), written by the icalendar package."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# 09:00 three days before the due date: an all-day event starts at 00:00, so 2 days 15 hours before it
REMINDER_BEFORE = timedelta(days=2, hours=15)


def unit_calendar(app, unit_name: str, *, as_of: datetime) -> bytes:
    """One all-day VEVENT per occurrence the unit is responsible for (last year onwards), on its
    effective due date, each with a display alarm at 09:00 three days before. The UID is stable per
    (occurrence, unit), so a calendar that subscribes to the file updates events instead of adding them."""
    from icalendar import Alarm, Calendar, Event
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.localtime import TZ_NAME, local_date
    from shanhai.models.requirement import parse_requirement
    from shanhai.models.tables import Occurrence
    from shanhai.models.working_days import PROVISIONAL_MARK, provisional_footnote

    unit = app.catalogue.unit(unit_name)
    if unit is None:
        raise ValueError(f"未知的单位“{unit_name}”")
    year = local_date(as_of).year
    with app.read_session() as session:  # a download never waits for, nor holds up, a writer
        occs = session.execute(
            select(Occurrence).where(col(Occurrence.due) >= date(year - 1, 1, 1)).order_by(col(Occurrence.due))
        ).scalars().all()
    cal = Calendar()
    cal.add("prodid", "-//Shanhai//山海协作工程//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{unit.name} 山海协作期限")
    cal.add("x-wr-timezone", TZ_NAME)
    stamp = as_of.astimezone(UTC)
    for occ in occs:
        req = parse_requirement(occ.requirement)
        if unit.name not in req.responsible:
            continue
        ob = app.catalogue.obligations.get(occ.obligation_id)
        title = ob.title if ob else occ.obligation_id
        clause = ob.clause if ob else ""
        event = Event()
        event.add("uid", f"shanhai-{occ.id}-{unit.code}@shanhai")
        event.add("dtstamp", stamp)
        event.add("dtstart", occ.due)
        event.add("dtend", occ.due + timedelta(days=1))
        event.add("summary", f"【山海协作】{title}（{occ.scope}）期限")
        role = "责任单位" if unit.name in req.accountable else f"配合（责任单位：{'、'.join(req.accountable)}）"
        about = f"条款 {clause}；期次 {occ.period}；范围 {occ.scope}；本单位：{role}"
        if app.calendar.is_provisional(occ.due.year):
            about += f"。{PROVISIONAL_MARK}：{provisional_footnote([occ.due.year])}"
        event.add("description", about)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -REMINDER_BEFORE)
        alarm.add("description", f"山海协作提醒：“{title}”（{occ.scope}）3天后（{occ.due}）到期")
        event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()

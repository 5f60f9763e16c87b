"""The coordinator's queue: records waiting for review, waivers, the outbox and failed deliveries,
and a preview of what the engine would send on any date (stores nothing)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request

from shanhai.models.accounts import Role
from shanhai.models.duplicates import near_duplicates
from shanhai.models.grammar import normal_text, stored_id
from shanhai.models.joint_events import load_same_event_partners, same_event_text
from shanhai.models.pages import count_records, failed_deliveries, occurrence_records
from shanhai.models.queries import outbox_items, title_and_clause
from shanhai.models.statuses import RecordState
from shanhai.portal.auth import SessionUser, require
from shanhai.portal.occurrences import amount_unit, waive_now
from shanhai.portal.web import PageError, check_csrf, portal_of, render

router = APIRouter()
PENDING_SHOWN = 100


@router.get("/queue")
def queue_page(request: Request, user: SessionUser = require(Role.COORDINATOR)):
    portal = portal_of(request)
    portal.ensure_synced()
    cat = portal.app.catalogue
    with portal.app.read_session() as session:
        pending = occurrence_records(session, state=RecordState.SUBMITTED, limit=PENDING_SHOWN)
        pending_total = count_records(session, state=RecordState.SUBMITTED)
        failures = failed_deliveries(session)
        near = near_duplicates((rec.id for rec, _ in pending if rec.id is not None), session=session)
        partners = load_same_event_partners(session=session, occurrence_ids=[occ.id for _, occ in pending])
    rows = [
        {
            "rec": rec,
            "occ": occ,
            "title": title_and_clause(cat, occ.obligation_id)[0],
            "unit": amount_unit(portal, occ.obligation_id),
            "same_event": same_event_text(partners[rec.id]) if rec.id in partners else None,
            "near": near.get(rec.id, []),
        }
        for rec, occ in pending
    ]
    return render(
        request,
        "queue.html",
        {
            "pending": rows,
            "pending_total": pending_total,
            "failures": failures,
            "outbox": outbox_items(portal.app, limit=30),
        },
    )


@router.post("/queue/waive")
def queue_waive(
    request: Request,
    occurrence_id: str = Form(""),
    reason: str = Form(""),
    csrf: str = Form(""),
    user: SessionUser = require(Role.COORDINATOR),
):
    check_csrf(request, csrf)
    typed = normal_text(occurrence_id)
    if not (typed.isascii() and typed.isdigit()):
        raise PageError(422, "期次编号无效", f"期次编号应为数字（见总览或期次页面的 #编号），而不是“{occurrence_id}”。")
    found = stored_id(typed)
    if found is None:
        raise PageError(404, "期次不存在", f"没有编号为 {typed} 的期次。未做任何更改。")
    return waive_now(request, found, reason, user, "/queue")


@router.get("/queue/preview")
def preview(request: Request, date: str = "", user: SessionUser = require(Role.COORDINATOR)):
    from shanhai.app import parse_as_of
    from shanhai.notifications.checking import check_obligation

    portal = portal_of(request)
    if not date:
        raise PageError(422, "请选择日期", "请选择要预览的日期。")
    try:
        when = parse_as_of(date)
    except ValueError:
        raise PageError(422, "日期无效", f"日期“{date}”无法识别：请用 YYYY-MM-DD。") from None
    portal.ensure_synced()
    # a bare date is 12:00 that day; the day's messages go out from the send hour on
    when = when.replace(hour=max(12, portal.app.settings.send_hour), minute=0)
    result = check_obligation(portal.app, None, as_of=when, dry_run=True)
    return render(request, "preview.html", {"result": result, "date": date, "when": when})

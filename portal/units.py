"""A unit's page (what it owes, what is due next, its messages) and its subscribable ICS feed.

Coordinators and supervisors see every unit. A unit reads its own page with the key its report
link page carries (``?key=``, signed when that page is shown, valid 60 days like a report link) and
its feed with a long-lived feed key (a calendar subscription must keep working). Neither opens
anything else, and a keyed page is read-only: it shows the messages' subjects, times and delivery
states but never their bodies, which carry signed 填报 links for other occurrences (holding the page
key must not let anyone act as the unit).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shanhai.models.acknowledgements import acknowledgements_of
from shanhai.models.catalogue_specs import UnitSpec
from shanhai.models.localtime import local_date
from shanhai.models.pages import messages_about, occurrence_records, unit_view
from shanhai.models.statuses import RecordState, Status
from shanhai.notifications.links import (
    LinkError,
    check_unit_key,
    sign_unit_page_key,
    unit_key,
    verify_unit_page_key,
)
from shanhai.portal.auth import LoginRequired
from shanhai.portal.board import as_of_param
from shanhai.portal.web import PageError, Portal, portal_of, render

router = APIRouter()

UNIT_KINDS = {"county": "结对县", "partner": "结对强区（市）", "department": "市级部门",
              "coordinator": "协调方", "supervisor": "领导小组"}


def unit_by_code(portal: Portal, code: str) -> UnitSpec:
    unit = portal.app.catalogue.unit_by_code(code)
    if unit is None:
        raise PageError(404, "单位不存在", f"没有代码为“{code}”的单位。")
    return unit


def _by_key(
    request: Request, portal: Portal, code: str, key: str | None, *, feed: bool = False
) -> datetime | None:
    """None for an account (any role); for a visitor holding this unit's key, when the key was issued
    (the feed key: now; the expiring page key: its report link's issue time); otherwise off to the login
    page (no key) or refused (a wrong key 403, an expired page key 410)."""
    if request.state.user is not None:
        return None
    if not key:
        raise LoginRequired(request.url.path)
    keys = portal.app.signing_keys()
    if feed:
        if any(check_unit_key(key, unit_code=code, secret=k) for k in keys):
            return portal.now()
        raise PageError(403, "链接无效", "该单位日历的访问密钥不正确。请使用最新提醒中的链接，或登录后查看。")
    try:
        return verify_unit_page_key(key, unit_code=code, secret=keys, now=portal.now())
    except LinkError as exc:
        if exc.reason == "expired":
            raise PageError(410, "链接已过期", f"{exc}。") from None
        raise PageError(403, "链接无效", "该单位页面的访问密钥不正确。请使用最新提醒中的链接，或登录后查看。") from None


def unit_links(portal: Portal, code: str, *, issued_at: datetime) -> dict[str, str]:
    """The unit's page, with a page key that expires when the link it came from does (``issued_at`` is
    that link's issue time, or now on a page an account opened), and its calendar feed (feed key)."""
    secret = portal.app.signing_keys()[0]
    page_key = sign_unit_page_key(unit_code=code, secret=secret, issued_at=issued_at)
    feed_key = unit_key(unit_code=code, secret=secret)
    base = portal.app.settings.portal_url.rstrip("/")
    return {"page": f"/units/{code}?key={page_key}", "ics": f"{base}/units/{code}/calendar.ics?key={feed_key}"}


def report_links(portal: Portal, code: str, open_items: list[dict], *, issued_at: datetime) -> dict[int, str]:
    """The unit's to-do list: for each open duty it leads, the signed report link (签收 and 填报) it got
    in a reminder, issued when the key that opened this page was, so it expires with that key and its
    forms take the same single-use nonces."""
    from shanhai.notifications.links import sign_report_link

    secret = portal.app.signing_keys()[0]
    return {
        i["id"]: sign_report_link(base_url="", occurrence_id=i["id"], unit_code=code, secret=secret,
                                  issued_at=issued_at)
        for i in open_items
        if i["lead"]
    }


@router.get("/units/{code}")
def unit_page(request: Request, code: str, key: str | None = None, as_of: str | None = None):
    portal = portal_of(request)
    unit = unit_by_code(portal, code)
    key_issued = _by_key(request, portal, code, key)
    by_key = key_issued is not None
    when, previewing = as_of_param(portal, as_of if not by_key else None)
    items = unit_view(portal.app, unit_name=unit.name, as_of=when)
    today = local_date(when)
    open_items = [i for i in items if not Status(i["status"]).is_final]
    next_due = min((i for i in open_items if i["due"] >= today.isoformat()), key=lambda i: i["due"], default=None)
    ids = [i["id"] for i in items]
    with portal.app.read_session() as session:
        acks = {a.occurrence_id: a for a in acknowledgements_of(session=session, occurrence_ids=ids) if a.unit_code == code}
        rejected = [
            (rec, occ)
            for rec, occ in occurrence_records(session, occurrence_ids=ids, state=RecordState.REJECTED, limit=20)
        ]
        messages = messages_about(session, recipient_code=code, limit=30)
    return render(
        request,
        "unit.html",
        {
            "unit": unit,
            "kind_label": UNIT_KINDS.get(unit.kind, unit.kind),
            "items": items,
            "open_count": len(open_items),
            "next_due": next_due,
            "acks": acks,
            "rejected": rejected,
            "messages": messages,
            "by_key": by_key,
            "links": unit_links(portal, code, issued_at=portal.now()),
            "report_links": report_links(portal, code, open_items, issued_at=key_issued) if key_issued else {},
            "as_of": when,
            "previewing": previewing,
        },
    )


@router.get("/units/{code}/calendar.ics")
def unit_feed(request: Request, code: str, key: str | None = None):
    from shanhai.models.ics import unit_calendar

    portal = portal_of(request)
    unit = unit_by_code(portal, code)
    _by_key(request, portal, code, key, feed=True)
    portal.ensure_synced()
    data = unit_calendar(portal.app, unit.name, as_of=portal.now())
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="shanhai-{code}.ics"'},
    )

"""The coordinator's outbox: every stored message, searched by title, filtered by recipient and kind, paged
(the queue shows only the newest)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shanhai.models.accounts import Role
from shanhai.models.queries import OutboxFilter, count_outbox, outbox_items
from shanhai.portal.auth import SessionUser, require
from shanhai.portal.web import Listing, PageError, portal_of, render

router = APIRouter()
PAGE_SIZE = 30
KINDS = {"reminder": "提醒与督办", "digest": "摘要", "delivery_failure": "投递失败报告"}


@router.get("/outbox")
def outbox_page(
    request: Request,
    recipient: str = "",
    kind: str = "",
    q: str = "",
    page: int = 1,
    user: SessionUser = require(Role.COORDINATOR),
):
    portal = portal_of(request)
    if kind and kind not in KINDS:
        raise PageError(422, "筛选条件有误", f"消息类别应为 {'、'.join(KINDS.values())} 之一。")
    flt = OutboxFilter(recipient=recipient.strip() or None, kind=kind or None, search=q.strip() or None)
    listing = Listing(form={"recipient": recipient, "kind": kind, "q": q}, total=count_outbox(portal.app, flt),
                      page=page, size=PAGE_SIZE)
    return render(
        request,
        "outbox.html",
        {
            **listing.context(),
            "messages": outbox_items(portal.app, limit=PAGE_SIZE, offset=listing.offset, flt=flt),
            "kinds": KINDS,
            "units": [u.name for u in portal.app.catalogue.units.values()],
        },
    )

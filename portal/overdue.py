"""The supervisors' view: overdue (and missed) occurrences by accountable unit and by obligation, year by year."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shanhai.models.pages import overdue_summary
from shanhai.portal.auth import ANY_ACCOUNT, SessionUser, require
from shanhai.portal.board import as_of_param
from shanhai.portal.web import portal_of, render

router = APIRouter()


@router.get("/overdue")
def overdue_page(request: Request, as_of: str | None = None, user: SessionUser = require(*ANY_ACCOUNT)):
    portal = portal_of(request)
    when, previewing = as_of_param(portal, as_of)
    summary = overdue_summary(portal.app, as_of=when)
    peak = max([n for row in summary["by_unit"] for n in row["per_year"]] or [0])
    return render(
        request,
        "overdue.html",
        {"summary": summary, "as_of": when, "previewing": previewing, "peak": peak},
    )

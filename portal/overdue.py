"""The supervisors' view: overdue (and missed) occurrences by accountable unit and by obligation, year by year."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shanhai.models.pages import overdue_summary
from shanhai.portal.auth import ANY_ACCOUNT, SessionUser, require
from shanhai.portal.board import as_of_param
from shanhai.portal.web import Listing, portal_of, render

router = APIRouter()


PAGE_SIZE = 50


def open_matching(items: list[dict[str, Any]], *, unit: str, obligation: str, year: str) -> list[dict[str, Any]]:
    """The overdue list narrowed to an accountable unit, a duty and a period year."""
    return [
        i for i in items
        if (not unit or unit in i["accountable"])
        and (not obligation or i["obligation"] == obligation)
        and (not year or str(i["period"]).startswith(year))
    ]


@router.get("/overdue")
def overdue_page(
    request: Request,
    as_of: str | None = None,
    unit: str = "",
    obligation: str = "",
    year: str = "",
    page: int = 1,
    user: SessionUser = require(*ANY_ACCOUNT),
):
    portal = portal_of(request)
    when, previewing = as_of_param(portal, as_of)
    summary = overdue_summary(portal.app, as_of=when)
    peak = max([n for row in summary["by_unit"] for n in row["per_year"]] or [0])
    listed = open_matching(summary["open"], unit=unit, obligation=obligation, year=year)
    listing = Listing(form={"unit": unit, "obligation": obligation, "year": year, "as_of": as_of or ""},
                      total=len(listed), page=page, size=PAGE_SIZE)
    return render(
        request,
        "overdue.html",
        {
            **listing.context(), "summary": summary, "as_of": when, "previewing": previewing, "peak": peak,
            "listed": listed[listing.offset: listing.offset + PAGE_SIZE], "listed_total": len(listed),
        },
    )

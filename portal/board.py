"""The board (总览): obligations × pairings, counties, parks and 全市, and its Excel download."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shanhai.app import AS_OF_YEARS, parse_as_of
from shanhai.models.holiday_watch import missing_notice
from shanhai.models.localtime import local_date
from shanhai.models.pages import board_view
from shanhai.portal.auth import ANY_ACCOUNT, SessionUser, require
from shanhai.portal.web import PageError, Portal, portal_of, render

router = APIRouter()


def as_of_param(portal: Portal, text: str | None) -> tuple[datetime, bool]:
    """(as_of, previewing?) from ?as_of=; previews read stored rows only and change nothing."""
    if not text:
        portal.ensure_synced()
        return portal.now(), False
    try:
        as_of = parse_as_of(text)
    except ValueError:
        raise PageError(
            422, "日期无效", f"评估时点“{text}”无法识别：请用 YYYY-MM-DD（如 2026-07-01）。"
        ) from None
    portal.ensure_synced()  # at the real now, never at the previewed date
    return as_of, True


def year_param(text: str | None, default: int) -> int:
    if not text:
        return default
    if not text.isdigit() or not AS_OF_YEARS[0] <= int(text) <= AS_OF_YEARS[1]:
        raise PageError(422, "年度无效", f"年度“{text}”无效：请用四位年份（{AS_OF_YEARS[0]}–{AS_OF_YEARS[1]}）。")
    return int(text)


def year_choices(portal: Portal, as_of: datetime) -> list[int]:
    cat = portal.app.catalogue
    first = min((ob.valid_from for ob in cat.obligations.values()), default=local_date(as_of).year)
    return list(range(first, max(local_date(as_of).year, local_date(portal.now()).year) + 2))


@router.get("/")
def board_page(
    request: Request, year: str | None = None, as_of: str | None = None, user: SessionUser = require(*ANY_ACCOUNT)
):
    portal = portal_of(request)
    when, previewing = as_of_param(portal, as_of)
    chosen = year_param(year, local_date(when).year)
    board = board_view(portal.app, as_of=when, year=chosen)
    query = f"year={chosen}" + (f"&as_of={quote(as_of)}" if previewing and as_of else "")
    return render(
        request,
        "board.html",
        {
            "board": board,
            "as_of": when,
            "as_of_text": local_date(when).isoformat() if previewing else "",
            "previewing": previewing,
            "years": year_choices(portal, when),
            "export_query": query,
            # the next year's holiday notice is the coordinator's to import (the supervisors are not asked)
            "missing_notice": missing_notice(portal.app.calendar, local_date(when)) if user.is_coordinator else None,
        },
    )


@router.get("/export.xlsx")
def board_export(
    request: Request, year: str | None = None, as_of: str | None = None, user: SessionUser = require(*ANY_ACCOUNT)
):
    from shanhai.models.excel import status_rows, status_workbook, workbook_bytes

    portal = portal_of(request)
    when, _ = as_of_param(portal, as_of)
    chosen = year_param(year, local_date(when).year)
    board = board_view(portal.app, as_of=when, year=chosen)
    rows = status_rows(portal.app, as_of=when, year=chosen)
    data = workbook_bytes(status_workbook(rows, as_of=when, board=board))
    name = f"山海协作督办总览-{chosen}-{local_date(when).isoformat()}.xlsx"
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename=\"shanhai-{chosen}.xlsx\"; filename*=UTF-8''{quote(name)}"},
    )

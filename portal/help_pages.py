"""使用说明: one help page with a section per role, open to everyone (clerks have no account: they arrive
through the signed link of a reminder, and their report page links here)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shanhai.portal.web import portal_of, render

router = APIRouter()


@router.get("/help")
def help_page(request: Request):
    settings = portal_of(request).app.settings
    return render(request, "help.html", {"send_hour": settings.send_hour})

"""Accounts on the web: the signed session cookie, who is logged in, roles, login and logout.

Coordinators and supervisors log in; county clerks never do (they act through signed links). The
session cookie is signed with a key derived from the installation's secret and carries only a session
id; the session and its account are re-read on every request, so a logout, a disabled account or a
changed password ends it at once, even for a copy of the cookie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from shanhai.models.accounts import Role, login, session_user
from shanhai.models.portal_sessions import end_session, open_session
from shanhai.portal.web import PageError, check_csrf, portal_of, render

router = APIRouter()


@dataclass(frozen=True)
class SessionUser:
    name: str
    role: Role

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR


class LoginRequired(Exception):
    """Raised by a page that needs an account; answered with a redirect to the login page."""

    def __init__(self, next_url: str):
        self.next_url = next_url


def load_user(request: Request) -> None:
    """App-wide dependency: request.state.user is the logged-in, still active account or None."""
    request.state.user = None
    session_id = request.session.get("sid") if "session" in request.scope else None
    if not session_id or not isinstance(session_id, str):
        return
    portal = portal_of(request)
    with portal.app.read_session() as session:
        user = session_user(session=session, session_id=session_id, now=portal.now())
        found = (user.name, Role(user.role)) if user else None
    if found is None:
        request.session.pop("sid", None)
        return
    request.state.user = SessionUser(name=found[0], role=found[1])


def require(*roles: Role):
    def dependency(request: Request) -> SessionUser:
        user: SessionUser | None = request.state.user
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if user.role not in roles:
            wanted = "、".join(r.label for r in roles)
            raise PageError(403, "无权限", f"此页面或操作需要{wanted}账号；当前账号“{user.name}”为{user.role.label}。")
        return user

    return Depends(dependency)


ANY_ACCOUNT = (Role.COORDINATOR, Role.SUPERVISOR)


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect through the login page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/"):  # noqa: A002
    return render(request, "login.html", {"next": safe_next(next), "error": None, "name": ""})


@router.post("/login")
def login_submit(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/"),  # noqa: A002
):
    check_csrf(request, csrf)
    portal = portal_of(request)
    address = request.client.host if request.client else "unknown"
    with portal.app.session() as session:
        result = login(session=session, name=name, password=password, address=address, now=portal.now())
        session_id = open_session(session=session, user_name=result.user.name, now=portal.now()) if result.user else None
    context = {"next": safe_next(next), "name": name}
    if result.retry_after is not None:
        seconds = result.retry_after.total_seconds()
        response = render(
            request,
            "login.html",
            {**context, "error": f"登录失败次数过多，请 {math.ceil(seconds / 60)} 分钟后再试。"},
            status_code=429,
        )
        response.headers["Retry-After"] = str(math.ceil(seconds))
        return response
    if session_id is None:
        return render(request, "login.html", {**context, "error": "账号或密码错误，或账号已停用。"}, 401)
    # a new session on login: nothing from before (e.g. a planted CSRF token) carries over
    request.session.clear()
    request.session["sid"] = session_id
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    check_csrf(request, csrf)
    user = request.state.user
    session_id = request.session.get("sid")
    if user is not None:
        from shanhai.models.audit import audit

        portal = portal_of(request)
        with portal.app.session() as session:
            # the row goes, not just the cookie: a copy of the cookie is logged out too
            if isinstance(session_id, str):
                end_session(session=session, session_id=session_id)
            audit(session=session, actor=user.name, action="logout", entity="user", entity_id=user.name)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def login_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_url, safe='/')}", status_code=303)

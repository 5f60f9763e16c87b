"""What every page shares: the portal's state (app, clock, templates), rendering, errors as pages."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from starlette.exceptions import HTTPException

from shanhai.app import App
from shanhai.models.amounts import UNIT_YUAN
from shanhai.models.catalogue_specs import FEN_PER_YUAN
from shanhai.models.localtime import format_day, format_local, local_date, to_local
from shanhai.models.statuses import label_of

HERE = Path(__file__).resolve().parent


def real_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Portal:
    """One per ASGI app: the Shanhai app, the clock (tests pass a fixed one), templates."""

    app: App
    clock: Callable[[], datetime] = real_now
    templates: Jinja2Templates = field(default_factory=lambda: make_templates())
    _synced_day: date | None = None
    _sync_lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.clock()

    def ensure_synced(self) -> None:
        """Store the catalogue's occurrences once per process and day, at the REAL now only: a page
        that previews another as_of reads what is stored and never moves the engine's clock."""
        today = local_date(self.now())
        if self._synced_day == today:
            return
        with self._sync_lock:
            if self._synced_day != today:
                self.app.sync(as_of=self.now(), actor="portal")
                self._synced_day = today


class PageError(HTTPException):
    """An error shown as a Chinese page with the given HTTP status."""

    def __init__(self, status_code: int, title: str, message: str = "", *, headers: dict | None = None):
        super().__init__(status_code=status_code, detail=message or title, headers=headers)
        self.title = title
        self.message = message


def portal_of(request: Request) -> Portal:
    return request.app.state.portal


def _amount(fen: int | None, unit: str = "万元") -> str:
    if fen is None:
        return "—"
    per = UNIT_YUAN[unit] * FEN_PER_YUAN
    text = f"{fen / per:,.6f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def _local(instant: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if instant is None:
        return "—"
    if instant.tzinfo is None:  # SQLite hands back UTC without an offset
        instant = instant.replace(tzinfo=UTC)
    return format_local(instant, fmt)


def _day(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    return format_day(date.fromisoformat(value) if isinstance(value, str) else value)


def stage_label(name: str) -> str:
    """A ladder stage's name as people read it (before_30d -> 到期前30天); unknown names as they are."""
    import re

    patterns = [
        (r"before_(\d+)d", "到期前{}天"),
        (r"before_(\d+)wd", "到期前{}个工作日"),
        (r"overdue_(\d+)wd", "逾期{}个工作日"),
        (r"repeat_(\d+)", "逾期第{}次复报"),
    ]
    for pattern, label in patterns:
        if m := re.fullmatch(pattern, name or ""):
            return label.format(m.group(1))
    return {"due": "到期当日", "none": "尚未提醒"}.get(name, name)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # .html: autoescaped
    env = templates.env
    env.undefined = StrictUndefined  # a renamed attribute fails the page (and its test), never renders as blank
    env.filters["day"] = _day
    env.filters["local"] = _local
    env.filters["amount"] = _amount
    env.filters["status_label"] = label_of
    env.filters["stage"] = stage_label
    env.globals["to_local"] = to_local
    return templates


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200):
    portal = portal_of(request)
    ctx = {
        "user": getattr(request.state, "user", None),
        "csrf": csrf_token(request),
        "now": portal.now(),
        **(context or {}),
    }
    return portal.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, message: str = "", headers=None) -> HTMLResponse:
    response = render(request, "error.html", {"title": title, "message": message, "status": status_code}, status_code)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (anonymous visitors get one too)."""
    import secrets

    if "session" not in request.scope:
        return ""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, submitted: str) -> None:
    import hmac

    expected = request.session.get("csrf") if "session" in request.scope else None
    if not expected or not submitted or not hmac.compare_digest(str(expected), str(submitted)):
        raise PageError(403, "页面已失效", "表单校验失败（CSRF）：页面可能已过期或来自其他网站。请刷新页面后重试。")

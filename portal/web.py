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
from markupsafe import Markup
from starlette.exceptions import HTTPException

from shanhai.app import App
from shanhai.models.acknowledgements import acknowledged_stage_label
from shanhai.models.amounts import format_amount
from shanhai.models.localtime import format_day, format_local, local_date, to_local
from shanhai.models.statuses import delivery_label, label_of
from shanhai.models.working_days import PROVISIONAL_MARK, WorkingCalendar, provisional_footnote

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
    return "—" if fen is None else format_amount(fen, unit)


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


def calendar_mark(cal: WorkingCalendar, value: date | str) -> Markup:
    """After a date the provisional calendar answered: the mark, its reason on hover (empty otherwise)."""
    from shanhai.models.holiday_watch import LIKELY_BRIDGE_MARK, may_be_bridged

    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if not cal.is_provisional(day.year):
        return Markup("")
    mark = Markup('<abbr class="provisional" title="{}">（{}）</abbr>').format(
        provisional_footnote([day.year]), PROVISIONAL_MARK)
    if may_be_bridged(cal, day):
        mark += Markup('<abbr class="likely-bridge" title="{}">（{}）</abbr>').format(
            "近三年国务院办公厅通知均在该日放假（调休），通知导入后期限可能顺延", LIKELY_BRIDGE_MARK)
    return mark


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # .html: autoescaped
    env = templates.env
    env.undefined = StrictUndefined  # a renamed attribute fails the page (and its test), never renders as blank
    env.filters["day"] = _day
    env.filters["local"] = _local
    env.filters["amount"] = _amount
    env.filters["status_label"] = label_of
    env.filters["delivery"] = delivery_label
    env.filters["stage"] = acknowledged_stage_label  # `name | stage(ladder)`: the ladder owns the labels
    env.globals["to_local"] = to_local
    return templates


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200):
    portal = portal_of(request)
    ctx = {
        "user": getattr(request.state, "user", None),
        "csrf": csrf_token(request),
        "now": portal.now(),
        "calendar_mark": lambda value: calendar_mark(portal.app.calendar, value),
        "reviewed": reviewed_notice(request),
        **(context or {}),
    }
    return portal.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def reviewed_notice(request: Request) -> dict[str, Any] | None:
    """After 核验通过/退回 the page says what was done to which record, with a link to it: read back from
    the record (so the words are the record's state, not what the address claims)."""
    from shanhai.models.queries import title_and_clause
    from shanhai.models.tables import CompletionRecord, Occurrence, by_id

    raw = request.query_params.get("reviewed", "")
    user = getattr(request.state, "user", None)
    if user is None or not raw.isdigit() or len(raw) > 18:
        return None
    portal = portal_of(request)
    with portal.app.read_session() as session:
        rec = by_id(session, CompletionRecord, int(raw))
        occ = by_id(session, Occurrence, rec.occurrence_id) if rec is not None else None
    if rec is None or occ is None or rec.reviewed_by is None:
        return None
    return {
        "id": rec.id,
        "state": rec.state,
        "occurrence": occ.id,
        "what": f"{title_and_clause(portal.app.catalogue, occ.obligation_id)[0]} · {occ.scope} · {occ.period}",
        "note": rec.review_note,
        "by": rec.reviewed_by,
    }


@dataclass(frozen=True)
class Listing:
    """One page of a filtered listing (records, outbox, overdue): the page asked for, kept in range, and
    the filters as the form shows them and as the pager's links carry them."""

    form: dict[str, str]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def number(self) -> int:
        return min(max(self.page, 1), self.pages)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def filters(self) -> dict[str, str]:
        return {k: v for k, v in self.form.items() if v}

    def query(self, **extra: Any) -> str:
        from urllib.parse import urlencode

        return urlencode({**self.filters, **extra})

    def context(self) -> dict[str, Any]:
        return {"form": self.form, "filters": self.filters, "query": self.query, "total": self.total,
                "page": self.number, "pages": self.pages}


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

"""The portal's ASGI app: ``uvicorn --factory shanhai.portal.app:create_app`` (or ``shanhai portal``).

Server-rendered pages (Jinja2, autoescaped), a signed session cookie, a request-body limit and strict
security headers. Reading the settings from the environment (SHANHAI_*), as every entrypoint does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from shanhai.app import App
from shanhai.db import is_busy
from shanhai.portal import (
    auth,
    board,
    help_pages,
    occurrences,
    outbox_page,
    overdue,
    queue,
    records,
    report,
    units,
)
from shanhai.portal.form_bodies import FIELD_LABELS, Utf8Forms
from shanhai.portal.protocol import HeadAsGet, RelativeRedirects
from shanhai.portal.uploads import human_size
from shanhai.portal.web import HERE, PageError, Portal, error_page, real_now

SESSION_MAX_AGE = 12 * 3600
FORM_OVERHEAD = 1 << 20  # room for the form's other fields around the evidence file

_TITLES = {400: "请求有误", 401: "需要登录", 403: "无权访问", 404: "页面不存在", 405: "不支持的请求方式",
           409: "已处理", 410: "链接已过期", 413: "内容过大", 415: "不支持的文件类型", 422: "输入有误",
           429: "请求过于频繁"}


SERVER_ERROR = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>服务器出错</title></head>'
    "<body><h1>服务器出错</h1><p>处理请求时出错，未保存任何内容。请稍后重试；如仍出错，请联系市山海协作办公室。</p>"
    '<p><a href="/">返回首页</a></p></body></html>'
)


#: What a framework error (its English detail never shown) means to the person who sent the request.
_FRAMEWORK_MESSAGES = {
    400: "请求无法读取（表单数据不完整或格式不正确）。请刷新页面后重新提交。未保存任何内容。",
    405: "此地址不支持这种请求方式。请从页面上的链接或按钮进入。",
}

BUSY_RETRY_SECONDS = 5
BUSY_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>系统繁忙</title></head>'
    "<body><h1>系统繁忙</h1><p>数据库正忙（例如正在导入大批记录），本次请求未保存任何内容。"
    f"请 {BUSY_RETRY_SECONDS} 秒后刷新页面或重新提交。</p>"
    '<p><a href="/">返回首页</a></p></body></html>'
)



def bad_params_message(errors) -> str:
    """Which parameters could not be read, in Chinese: a number where one is expected, else a generic word."""
    names = dict.fromkeys(FIELD_LABELS.get(str((e.get("loc") or ["?"])[-1]), "请求参数") for e in errors)
    return f"{'、'.join(names)}无法识别：编号应为数字，请检查地址或从总览重新进入。未做任何更改。"


class BodyLimit:
    """Refuse a request body past the limit with 413, whether it says its length or streams."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > self.limit
        received = 0

        async def limited_receive():
            nonlocal received
            if too_big:
                raise self._error()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)

    def _error(self) -> PageError:
        allowed = human_size(self.limit - FORM_OVERHEAD)
        return PageError(413, "内容过大", f"提交的内容过大：证明材料不得超过 {allowed}。未保存任何内容。")


class SecurityHeaders:
    """No framing, no referrer (report links carry their token in the URL), only this site's scripts."""

    HEADERS = [
        (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
         b"script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]

    def __init__(self, app):
        self.app = app

    @classmethod
    def for_pages(cls) -> dict[str, str]:
        """The headers of a page, for a response answered outside this middleware (the 500 page)."""
        return {k.decode(): v.decode() for k, v in [*cls.HEADERS, (b"cache-control", b"no-store")]}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.HEADERS if k not in names]
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def _session_key(secret: str) -> str:
    """The cookie's key, derived: a leaked cookie key is not the key that signs report links."""
    return hmac.new(secret.encode(), b"shanhai.portal-session", hashlib.sha256).hexdigest()


def create_app(app: App | None = None, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    shanhai_app = app or App()
    portal = Portal(app=shanhai_app, clock=clock or real_now)
    web = FastAPI(
        title="山海协作工程督办门户",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(auth.load_user)],
    )
    web.state.portal = portal
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, board, units, occurrences, report, queue, overdue, records, outbox_page, help_pages):
        web.include_router(module.router)

    @web.get("/healthz")  # in the (never served) schema too: the tests enumerate the GET routes from it
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @web.exception_handler(auth.LoginRequired)
    async def _login_required(request: Request, exc: auth.LoginRequired):
        return auth.login_redirect(exc.next_url)

    @web.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        if isinstance(exc, PageError):
            return error_page(request, exc.status_code, exc.title, exc.message, exc.headers)
        # raised by Starlette or FastAPI themselves (e.g. "Invalid multipart data."): their English detail
        # is no message for a clerk, so the page says what the status means
        title = _TITLES.get(exc.status_code, "出错了")
        message = _FRAMEWORK_MESSAGES.get(exc.status_code, "")
        if exc.status_code == 404:
            message = "没有这个页面。请检查地址，或从总览进入。"
        return error_page(request, exc.status_code, title, message, exc.headers)

    @web.exception_handler(RequestValidationError)
    async def _bad_params(request: Request, exc: RequestValidationError):
        return error_page(request, 422, "输入有误", bad_params_message(exc.errors()))

    @web.exception_handler(OperationalError)
    @web.exception_handler(PoolTimeout)
    async def _database_error(request: Request, exc: Exception):
        # a busy database (an import's chunk, a long review) is "try again shortly", never a 500
        if is_busy(exc):
            headers = {**SecurityHeaders.for_pages(), "Retry-After": str(BUSY_RETRY_SECONDS)}
            return HTMLResponse(BUSY_PAGE, status_code=503, headers=headers)
        return HTMLResponse(SERVER_ERROR, status_code=500, headers=SecurityHeaders.for_pages())

    @web.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception):
        # outside the session and templates on purpose: whatever broke, this page still renders. It is
        # answered outside the middleware too (Starlette's outermost error handler): its headers are set here.
        return HTMLResponse(SERVER_ERROR, status_code=500, headers=SecurityHeaders.for_pages())

    web.add_middleware(
        SessionMiddleware,
        secret_key=_session_key(shanhai_app.signing_keys()[0]),
        session_cookie="shanhai_session",
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=shanhai_app.settings.portal_url.startswith("https://"),
    )
    web.add_middleware(Utf8Forms)  # inside BodyLimit: only a body within the limit is read and checked
    web.add_middleware(BodyLimit, limit=shanhai_app.settings.max_evidence_bytes + FORM_OVERHEAD)
    web.add_middleware(RelativeRedirects)
    web.add_middleware(HeadAsGet)
    web.add_middleware(SecurityHeaders)
    return web

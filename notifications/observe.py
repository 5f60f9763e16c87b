"""Watching one delivery on the wire: what HTTP status or SMTP reply each exchange of an Apprise plugin
got, so a failure can be classified (Apprise itself only says True or False).

``requests.Session.send`` and ``smtplib.SMTP.login``/``sendmail``/``data`` are wrapped once; outside an observed
delivery (no sink in the current context) the wrappers only call through.
"""

from __future__ import annotations

import functools
import smtplib
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import unquote

import requests


@dataclass(frozen=True)
class Event:
    """One exchange seen while a delivery was observed."""

    kind: str  # "http" or "smtp"
    status: int | None  # HTTP status or SMTP reply code, when there was one
    error: BaseException | None = None
    body: bytes = b""
    unanswered_data: bool = False  # SMTP DATA broke off without a reply: the mail may have been taken


sink: ContextVar[list[Event] | None] = ContextVar("shanhai_delivery_events", default=None)
_observer_lock = threading.Lock()


def smtp_code(exc: BaseException) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code
    return None


def _wrap(cls: type, name: str, record: Callable[..., None]) -> None:
    """Wrap ``cls.name`` once so that, inside :func:`deliver`, its outcome is recorded.

    Outside an observed delivery (no sink in the current context) the wrapper
    only calls through.
    """
    current = getattr(cls, name)
    if getattr(current, "_shanhai_observer", False):
        return

    @functools.wraps(current)
    def observed(self, *args, **kwargs):
        events = sink.get()
        if events is None:
            return current(self, *args, **kwargs)
        try:
            result = current(self, *args, **kwargs)
        except Exception as exc:
            record(events, None, exc, kwargs)
            raise
        record(events, result, None, kwargs)
        return result

    observed._shanhai_observer = True  # type: ignore[attr-defined]
    setattr(cls, name, observed)


def _record_http(events: list[Event], response, exc, kwargs) -> None:
    if exc is not None:
        if isinstance(exc, requests.RequestException):
            events.append(Event("http", None, exc))
        return
    body = b"" if kwargs.get("stream") else (response.content or b"")[:4096]
    events.append(Event("http", response.status_code, None, body))


def _record_smtp(events: list[Event], result, exc, kwargs) -> None:
    if exc is not None:
        events.append(Event("smtp", smtp_code(exc), exc))
    elif isinstance(result, dict) and result:  # sendmail(): some recipients refused
        events.append(Event("smtp", max(code for code, _ in result.values()), None))
    elif isinstance(result, tuple) and result and isinstance(result[0], int):  # login()
        events.append(Event("smtp", result[0], None))


def _record_smtp_data(events: list[Event], result, exc, kwargs) -> None:
    # DATA sends the mail, then waits for the server's verdict: a timeout or a dropped connection there
    # (an error without a reply code) leaves it unknown whether the server took the mail
    if exc is not None and smtp_code(exc) is None:
        events.append(Event("smtp", None, exc, unanswered_data=True))


def install_observers() -> None:
    with _observer_lock:
        _wrap(requests.Session, "send", _record_http)
        _wrap(smtplib.SMTP, "login", _record_smtp)
        _wrap(smtplib.SMTP, "sendmail", _record_smtp)
        _wrap(smtplib.SMTP, "data", _record_smtp_data)


def fix_dingtalk_signature(plugin: object) -> None:
    """Work around Apprise's double-encoded DingTalk ``sign``.

    Apprise's dingtalk plugin (checked in 2.0.1) percent-encodes the base64
    signature *and* passes it to ``requests`` as a query parameter, which
    encodes it again (``+`` -> ``%252B``); DingTalk decodes once and answers
    HTTP 200 ``{"errcode": 310000, "errmsg": "sign not match"}``.  Returning
    the plain base64 lets ``requests`` encode it exactly once.  ``unquote`` is
    a no-op on plain base64, so this stays correct if Apprise fixes it.
    """
    get_signature = getattr(plugin, "get_signature", None)
    if getattr(plugin, "secret", None) and callable(get_signature):

        def signature() -> tuple[str, str]:
            timestamp, sign = get_signature()
            return timestamp, unquote(sign)

        plugin.get_signature = signature  # type: ignore[attr-defined]

"""One small transport over Apprise: deliver one message to one channel.

:func:`deliver` either returns (the endpoint accepted the message) or raises

* :class:`PermanentDeliveryError` (``permanent=True``): retrying cannot help —
  the URL does not load, the endpoint answered 4xx other than 408/429 (bad
  token, auth, not found), a robot answered 200 with an error code (wrong
  signature, keyword or IP not allowed), an SMTP server answered 5xx, or the
  message is longer than the channel accepts.  Disable/report the channel.
* :class:`TransientDeliveryError` (``permanent=False``): 5xx, 408, 429, a robot's
  "too fast"/"busy" code, a connect timeout, a refused connection (the request
  never left), an SMTP 4xx or connection error.  Retry with backoff.
* :class:`OutcomeUnknownError` (``maybe_delivered=True``): the request went out
  and no answer came back — a read timeout, a connection reset or closed after
  sending, an SMTP server silent or gone during DATA.  The endpoint may have
  acted on it: never resend blindly; the outbox records "结果未知（可能已送达）"
  and reports it to the coordinator.

Idempotency: json://, form:// and xml:// webhooks (and their ``s`` variants) get the headers
``Idempotency-Key`` and ``X-Shanhai-Delivery`` (the outbox delivery ids), and a JSON body also carries
``idempotency_key``: a receiver can drop a repeat.  Robots and mail have no such field.

How the failure is classified
-----------------------------
A plugin's ``notify()`` only says True/False (Apprise 2's ``Apprise.notify``
returns an ``AppriseResult``, but each attempt in it is again only
SUCCESS/FAILURE plus log lines; status codes and exception details are
logged at DEBUG only, and the ``apprise`` logger is normally at WARNING, so
those records are never even created).  So :func:`deliver` instantiates the
plugin itself (``apprise.Apprise.instantiate``), calls ``plugin.notify()`` in
the calling thread, and observes the exchanges underneath it.  On first use
this module wraps four library methods once: ``requests.Session.send``
(every Apprise HTTP plugin goes through it), ``smtplib.SMTP.login``,
``smtplib.SMTP.sendmail`` and ``smtplib.SMTP.data`` (to tell a failure during
DATA, when the mail may already be with the server).  The wrappers only call
through unless a delivery is being observed in the *current context* (a ``ContextVar``, so concurrent
deliveries in other threads/tasks never mix); then they record

* HTTP: the final status code, or the ``requests`` exception (``Timeout``,
  ``ConnectionError``, ``InvalidURL`` …), and the first 4 KiB of the body;
* SMTP: the reply code of a refused sender/recipient/data/login
  (``SMTPResponseException.smtp_code``, ``SMTPRecipientsRefused.recipients``)
  or the connection error.

Status decides exactly: HTTP 408/429/5xx and SMTP 4xx transient, other 4xx
and SMTP 5xx permanent; an HTTP exception raised before the request left
(refused, connect timeout, DNS, TLS handshake) transient, one raised after it
(read timeout, reset, closed) outcome unknown, malformed requests permanent;
an SMTP error without a code during DATA outcome unknown.  The body matters because the
DingTalk, WeCom and Feishu robot APIs answer **HTTP 200 with an error code**
(e.g. DingTalk ``{"errcode": 310000, "errmsg": "sign not match"}``) and
Apprise then reports success: a non-zero ``errcode``/``code`` is a failure
here (rate-limit/busy codes transient, the rest permanent).  A failure with
neither HTTP nor SMTP underneath falls back on Apprise's WARNING records
(captured through a filter on the ``apprise`` logger, see
:func:`shanhai.notifications.redact.log_scope`): "no recipients" or
"disabled" is permanent, anything else transient.

Secrets: every error text is passed through :meth:`Channel.scrub` and raised without its chained
cause; the Apprise and urllib3 records of an attempt (which quote URLs, tokens included) are held
back and re-logged scrubbed on ``shanhai.notifications.transport.libraries``.

Timeouts: the plugin's ``socket_connect_timeout`` and ``socket_read_timeout``
(Apprise's ``cto``/``rto``; for email the SMTP socket timeout) are set to
``timeout`` (``SHANHAI_SEND_TIMEOUT_SECONDS`` in the outbox), so an endpoint that
accepts the request and never answers fails after ``timeout`` seconds with an
unknown outcome.  (It is a per-socket-operation bound; DNS resolution is not covered.)  Apprise's own retries are switched
off (``retry = 0``): the outbox retries with backoff.

Limits: DingTalk and WeCom robot text stops at 2048 bytes, and Apprise sends
``f"{title}\\r\\n{body}"`` as that text.  :func:`body_limit` therefore returns
2048 minus :data:`TITLE_RESERVE_BYTES` for the title line, and :func:`deliver`
refuses (permanently, before any I/O) a title+body that would not fit.
Robots also take 20 messages a minute (DingTalk then blocks the robot for 10
minutes; Feishu takes 100 a minute and 5 a second): :data:`DEFAULT_RATE_LIMITS`.
The outbox holds deliveries to them across processes (from its claim times,
:func:`shanhai.notifications.delivery.deliver_outbox`); :class:`RateLimiter`
holds one process's test messages (``shanhai channels test``) to them.

DingTalk signed robots (安全设置 加签): put the ``SEC…`` secret in the URL as
``dingtalk://{secret}@{token}/`` (or ``dingtalk://{token}/?secret={secret}``);
Apprise appends ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret,
``"{timestamp}\\n{secret}"``)) to each request — after the fix in
:func:`shanhai.notifications.observe.fix_dingtalk_signature` for Apprise's double encoding of ``sign``.  With "custom keywords"
security the keyword must appear in the text: our titles start with 【山海协作】.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import apprise
import requests
import urllib3

from .channels import Channel, new_asset
from .observe import Event, fix_dingtalk_signature, install_observers, sink
from .redact import log_scope, mask_url

__all__ = [
    "DeliveryError",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "OutcomeUnknownError",
    "DeliveryTag",
    "RateLimiter",
    "TEXT_LIMIT_BYTES",
    "TITLE_RESERVE_BYTES",
    "body_limit",
    "deliver",
]

log = logging.getLogger(__name__)

#: Robot text limits in UTF-8 bytes, by Apprise schema.
TEXT_LIMIT_BYTES: Mapping[str, int] = {"dingtalk": 2048, "wecombot": 2048}
#: Bytes of a robot's text set aside for the title line and its ``\r\n``.
TITLE_RESERVE_BYTES = 128

#: Default sliding windows (messages, seconds) per Apprise schema.
DEFAULT_RATE_LIMITS: Mapping[str, tuple[tuple[int, float], ...]] = {
    "dingtalk": ((20, 60.0),),
    "wecombot": ((20, 60.0),),
    "feishu": ((100, 60.0), (5, 1.0)),
    "lark": ((100, 60.0), (5, 1.0)),
}

# Robot reply codes (HTTP 200 bodies) that mean "try again later".
_ROBOT_TRANSIENT_CODES: Mapping[str, frozenset[int]] = {
    "dingtalk": frozenset({-1, 130101}),  # 系统繁忙, send too fast
    "wecombot": frozenset({-1, 45009, 45033}),  # 系统繁忙, 调用超过限制, 并发超过限制
    "feishu": frozenset({11232}),  # frequency limited
    "lark": frozenset({11232}),
}

_PERMANENT_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


class DeliveryError(Exception):
    """Delivery failed; ``permanent`` says whether retrying can help, ``maybe_delivered`` whether the
    endpoint may have got it all the same (then retrying could send it twice)."""

    permanent: bool = False
    maybe_delivered: bool = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help: disable the channel / report it."""

    permanent = True


class TransientDeliveryError(DeliveryError):
    """Retry later, with backoff."""

    permanent = False


class OutcomeUnknownError(DeliveryError):
    """The request went out and no answer came: it may have arrived. Report it, never resend blindly."""

    permanent = False
    maybe_delivered = True


#: Schemes whose requests can carry our headers (Apprise's custom json/form/xml webhooks).
IDEMPOTENT_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


@dataclass(frozen=True)
class DeliveryTag:
    """What identifies one message on the wire across attempts: the outbox delivery ids it carries and
    a key unique to them, for a receiver to drop a repeat."""

    delivery_ids: tuple[int, ...]
    key: str

    @property
    def ids_text(self) -> str:
        return ",".join(str(i) for i in self.delivery_ids)


# --------------------------------------------------------------------------- limits


def body_limit(channel: Channel) -> int | None:
    """Bytes available for the body on this channel, or None (no practical limit).

    DingTalk and WeCom robot text stops at 2048 bytes including the title
    line Apprise prepends; :data:`TITLE_RESERVE_BYTES` of it are kept for that.
    """
    limit = TEXT_LIMIT_BYTES.get(channel.scheme)
    return None if limit is None else limit - TITLE_RESERVE_BYTES


class RateLimiter:
    """Per-channel sliding-window rate limiter for ONE process (its threads), with an injectable clock.

    Used by ``shanhai channels test`` (:mod:`shanhai.notifications.probe`); the outbox's deliveries are
    limited across processes by their claim times instead, not by this class.

    ``acquire(channel)`` reserves the earliest send slot that keeps every
    window of the channel's scheme within its limit and returns the seconds to
    wait until that slot (0.0 if free now); the caller sleeps, then sends.
    Slots are reserved, so concurrent callers are spread out rather than all
    waking at once.  Channels are keyed by scheme and the URL's host part (a
    robot's token, after any ``secret@``), so two units sharing one robot share
    its budget.  Schemes without limits are never held.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        limits: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    ):
        self._clock = clock
        self._limits = {k: tuple(v) for k, v in (DEFAULT_RATE_LIMITS if limits is None else limits).items()}
        for windows in self._limits.values():
            for count, span in windows:
                if count < 1 or span <= 0:
                    raise ValueError(f"invalid rate window ({count}, {span})")
        self._slots: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(channel: Channel) -> str:
        scheme, _, rest = channel.url.partition("://")
        host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        return f"{scheme.lower()}://{host}"

    def acquire(self, channel: Channel) -> float:
        windows = self._limits.get(channel.scheme)
        if not windows:
            return 0.0
        with self._lock:
            now = self._clock()
            slots = self._slots.setdefault(self._key(channel), [])
            longest = max(span for _, span in windows)
            del slots[: bisect.bisect_right(slots, now - longest)]
            at = max(now, slots[-1]) if slots else now
            for count, span in windows:
                if len(slots) >= count:
                    at = max(at, slots[-count] + span)
            slots.append(at)
            return max(0.0, at - now)


# --------------------------------------------------------------------------- delivery


def deliver(
    channel: Channel, *, title: str, body: str, timeout: float = 10.0, tag: DeliveryTag | None = None
) -> None:
    """Send one message through ``channel``; raise a :class:`DeliveryError` subclass on failure.

    ``tag`` names the outbox deliveries the message carries; a webhook gets it as an idempotency key.

    Every error text passes through :meth:`Channel.scrub` (and is raised without its chained
    cause, whose text may quote the URL): no substituted secret leaves in a message, a database
    row or a traceback.  Apprise's and urllib3's log records of the attempt are held back and
    re-logged scrubbed on this module's logger.
    """
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    started = time.monotonic()
    records: list[logging.LogRecord] = []
    try:
        with log_scope(quiet=True) as records:
            _deliver(channel, title=title, body=body, timeout=timeout, tag=tag)
    except DeliveryError as exc:
        error = type(exc)(channel.scrub(str(exc)), status=exc.status)
        _relog(channel, records)
        log.info("delivery to %s failed after %.2fs: %s", channel.masked_url, time.monotonic() - started, error)
        raise error from None
    _relog(channel, records)


# Apprise's and urllib3's records, re-logged scrubbed.  Like the ``apprise`` logger it has a
# NullHandler: silent unless the application configures logging (Prefect does).
_library_log = log.getChild("libraries")
_library_log.addHandler(logging.NullHandler())


def _relog(channel: Channel, records: list[logging.LogRecord]) -> None:
    for record in records:
        if _library_log.isEnabledFor(record.levelno):
            _library_log.log(record.levelno, "%s: %s", record.name, channel.scrub(record.getMessage()))


def _deliver(channel: Channel, *, title: str, body: str, timeout: float, tag: DeliveryTag | None) -> None:
    where = channel.masked_url

    limit = TEXT_LIMIT_BYTES.get(channel.scheme)
    if limit is not None:
        size = len((f"{title}\r\n{body}" if title else body).encode("utf-8"))
        if size > limit:
            raise PermanentDeliveryError(
                f"消息 {size} 字节，超过 {channel.scheme} 文本上限 {limit} 字节（{where}）"
            )

    try:
        plugin = apprise.Apprise.instantiate(channel.url, asset=new_asset(), suppress_exceptions=False)
    except Exception as exc:  # any plugin error means "this URL cannot work"
        raise PermanentDeliveryError(f"Apprise 无法加载渠道 {where}：{mask_url(str(exc))}") from None
    if plugin is None:
        raise PermanentDeliveryError(f"Apprise 无法加载渠道 {where}")

    plugin.socket_connect_timeout = float(timeout)
    plugin.socket_read_timeout = float(timeout)
    plugin.retry = 0  # the outbox retries, with backoff
    if channel.scheme == "dingtalk":
        fix_dingtalk_signature(plugin)
    if tag is not None and channel.scheme in IDEMPOTENT_SCHEMES:
        _attach_tag(plugin, channel.scheme, tag)

    install_observers()
    events: list[Event] = []
    token = sink.set(events)
    try:
        with log_scope(quiet=True) as records:
            ok = plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    except apprise.exception.AppriseException as exc:
        raise PermanentDeliveryError(f"{where}：{mask_url(str(exc))}") from None
    except Exception as exc:  # a plugin crash is reported, not propagated raw
        raise TransientDeliveryError(
            f"{where}：发送时出现异常 {type(exc).__name__}: {mask_url(str(exc))}"
        ) from None
    finally:
        sink.reset(token)

    error = _classify(channel.scheme, where, bool(ok), events, records)
    if error is not None:
        raise error


def _attach_tag(plugin: Any, scheme: str, tag: DeliveryTag) -> None:
    """Headers (and, for JSON, a body field) a receiver can drop a repeat by; the channel's own
    ``+Header=`` settings are kept."""
    plugin.headers = {**plugin.headers, "Idempotency-Key": tag.key, "X-Shanhai-Delivery": tag.ids_text}
    if scheme.startswith("json"):
        plugin.payload_extras = {**plugin.payload_extras, "idempotency_key": tag.key}


def _never_sent(error: BaseException) -> bool:
    """The request never left: refused, connect timeout, name not resolved, TLS or proxy handshake.
    Anything else (read timeout, reset or closed after sending) may have reached the endpoint."""
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return True
    if not isinstance(error, requests.ConnectionError):
        return False
    cause = error.args[0] if error.args else None
    # urllib3 wraps a connect-phase failure in MaxRetryError (NewConnectionError and
    # NameResolutionError are ConnectTimeoutError subclasses); a failure after sending is raised bare
    return isinstance(cause, urllib3.exceptions.MaxRetryError) and isinstance(
        cause.reason, urllib3.exceptions.ConnectTimeoutError
    )


def _http_exception_error(where: str, error: BaseException) -> DeliveryError:
    detail = type(error).__name__
    if isinstance(error, _PERMANENT_REQUEST_ERRORS):
        return PermanentDeliveryError(f"{where}：请求无效（{detail}）")
    if _never_sent(error):
        what = "连接超时" if isinstance(error, requests.Timeout) else "连接失败"
        return TransientDeliveryError(f"{where}：{what}，请求未发出（{detail}）")
    what = "超时未响应" if isinstance(error, requests.Timeout) else "连接在发出请求后中断"
    return OutcomeUnknownError(f"{where}：请求已发出，{what}（{detail}），结果未知（可能已送达）")


def _classify(
    scheme: str,
    where: str,
    ok: bool,
    events: list[Event],
    records: list[logging.LogRecord],
) -> DeliveryError | None:
    http = [e for e in events if e.kind == "http"]
    if ok:
        if scheme in _ROBOT_TRANSIENT_CODES and http and http[-1].status is not None:
            return _robot_reply_error(scheme, where, http[-1])
        return None

    smtp_failures = [
        e for e in events if e.kind == "smtp" and (e.error is not None or (e.status or 0) >= 400)
    ]
    if any(e.unanswered_data for e in smtp_failures):
        error = next(e.error for e in smtp_failures if e.unanswered_data)
        return OutcomeUnknownError(
            f"{where}：邮件内容已发出，SMTP 服务器未应答（{type(error).__name__}），结果未知（可能已送达）"
        )
    if smtp_failures:
        event = smtp_failures[-1]
        code = event.status
        detail = f"{type(event.error).__name__} " if event.error is not None else ""
        if code is not None and code >= 500:
            return PermanentDeliveryError(f"{where}：SMTP 服务器拒绝（{detail}{code}）", status=code)
        if code is not None:
            return TransientDeliveryError(f"{where}：SMTP 服务器暂时拒绝（{detail}{code}）", status=code)
        return TransientDeliveryError(f"{where}：SMTP 连接失败（{detail.strip()}）")

    failed = [e for e in http if e.error is not None or not (200 <= (e.status or 0) < 300)]
    last = failed[-1] if failed else (http[-1] if http else None)
    if last is not None:
        event = last
        if event.error is not None:
            return _http_exception_error(where, event.error)
        status = event.status or 0
        if status in (408, 429) or status >= 500:
            return TransientDeliveryError(f"{where}：服务端返回 HTTP {status}", status=status)
        return PermanentDeliveryError(f"{where}：服务端拒绝，HTTP {status}", status=status)

    # Neither HTTP nor SMTP was seen: fall back on what the plugin logged.
    messages = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    joined = " | ".join(messages)
    if re.search(r"no .*recipients|disabled", joined, re.IGNORECASE):
        return PermanentDeliveryError(f"{where}：{joined}")
    return TransientDeliveryError(f"{where}：发送失败（{joined or '无详细信息'}）")


def _robot_reply_error(scheme: str, where: str, event: Event) -> DeliveryError | None:
    try:
        data = json.loads(event.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    raw: Any = data.get("errcode", data.get("code", data.get("StatusCode", 0)))
    try:
        code = int(raw)
    except (TypeError, ValueError):
        return None
    if code == 0:
        return None
    message = str(data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or "")
    text = f"{where}：机器人返回错误码 {code} {message}".rstrip()
    if code in _ROBOT_TRANSIENT_CODES.get(scheme, frozenset()):
        return TransientDeliveryError(text, status=code)
    return PermanentDeliveryError(text, status=code)

"""Signed report links: ``{base_url}/report/{token}``, and a unit's keys for its own page and feed.

The token is an ``itsdangerous.URLSafeSerializer`` signature (HMAC, salted
with ``shanhai.report-link``) over ``[occurrence_id, unit_code, issued_at]``
where ``issued_at`` is whole UTC seconds.  No clock is read here: the caller
passes ``issued_at`` when signing and ``now`` when verifying, and the age
check is ``now - issued_at <= max_age_days`` (so tests never depend on today).

:class:`LinkError` carries ``reason``: ``"forged"`` (签名无效 — wrong secret, any
tampering, or a malformed token) or ``"expired"`` (链接已过期).  A token issued
more than :data:`CLOCK_SKEW` after ``now`` is treated as forged.

A token must be exactly what is issued, checked before its signature: the base64 decoder skips padding
and characters outside its alphabet and ignores a signature's spare low bits, so ``token==``,
``token`` + U+200B or a signature with its last character changed would otherwise verify as the token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from shanhai.models.localtime import local_date

__all__ = [
    "CLOCK_SKEW",
    "LinkError",
    "check_unit_key",
    "sign_report_link",
    "sign_unit_page_key",
    "unit_key",
    "ReportLink",
    "verify_report_token",
    "verify_unit_page_key",
]

_SALT = "shanhai.report-link"
_PAGE_SALT = "shanhai.unit-page"
#: Tolerated difference between the signer's and the verifier's clocks.
CLOCK_SKEW = timedelta(minutes=5)
#: payload (a leading dot when compressed) and an HMAC-SHA1 signature (20 bytes: 27 base64url characters)
_TOKEN_SHAPE = re.compile(r"\.?[A-Za-z0-9_-]{1,1024}\.[A-Za-z0-9_-]{27}")


class LinkError(ValueError):
    """The report link cannot be used; ``reason`` is ``"forged"`` or ``"expired"``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _serializer(secret: str | list[str], salt: str = _SALT) -> URLSafeSerializer:
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys or not all(keys):
        raise ValueError("a non-empty secret is required to sign or verify report links")
    # itsdangerous signs with the last key and verifies with any: ours are listed newest first
    return URLSafeSerializer(list(reversed(keys)), salt=salt)


def _check_shape(token: str) -> None:
    """Refuse anything but a token as issued: the alphabet, the lengths, a canonical signature."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise LinkError("forged", "签名无效：链接格式不正确（多了或少了字符，请完整复制提醒中的链接）")
    signature = token.rsplit(".", 1)[1]
    if base64_encode(base64_decode(signature)).decode() != signature:
        raise LinkError("forged", "签名无效：链接已被修改或不是本系统签发的")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value


def sign_report_link(
    *, base_url: str, occurrence_id: int, unit_code: str, secret: str, issued_at: datetime
) -> str:
    """Return ``{base_url}/report/{token}`` for this occurrence and unit."""
    if isinstance(occurrence_id, bool) or not isinstance(occurrence_id, int):
        raise TypeError("occurrence_id must be an int")
    if not unit_code:
        raise ValueError("unit_code must not be empty")
    issued = int(_aware(issued_at, "issued_at").timestamp())
    token = _serializer(secret).dumps([occurrence_id, unit_code, issued])
    return f"{base_url.rstrip('/')}/report/{token}"


class ReportLink(NamedTuple):
    occurrence_id: int
    unit_code: str
    issued_at: datetime  # when the reminder carrying it was queued: everything derived from it expires with it


def verify_report_token(
    token: str, *, secret: str | list[str], now: datetime, max_age_days: int = 60
) -> ReportLink:
    """The link's ``(occurrence_id, unit_code, issued_at)``, or raise :class:`LinkError`."""
    _aware(now, "now")
    _check_shape(token)
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature as exc:
        raise LinkError("forged", "签名无效：链接已被修改或不是本系统签发的") from exc
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or isinstance(payload[0], bool)
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
        or isinstance(payload[2], bool)
        or not isinstance(payload[2], int)
    ):
        raise LinkError("forged", "签名无效：链接内容格式不正确")
    occurrence_id, unit_code, issued = payload
    _check_age(issued, now, max_age_days)
    return ReportLink(occurrence_id, unit_code, datetime.fromtimestamp(issued, tz=UTC))


def _check_age(issued: int, now: datetime, max_age_days: int) -> None:
    issued_at = datetime.fromtimestamp(issued, tz=UTC)
    if issued_at - now > CLOCK_SKEW:
        raise LinkError("forged", "签名无效：链接签发时间晚于当前时间")
    if now - issued_at > timedelta(days=max_age_days):
        raise LinkError(
            "expired",
            f"链接已过期：签发于 {local_date(issued_at).isoformat()}，有效期 {max_age_days} 天，请使用最新提醒中的链接",
        )


def sign_unit_page_key(*, unit_code: str, secret: str, issued_at: datetime) -> str:
    """The ``?key=`` of a unit's own page as a report link shows it: signed over
    ``[unit_code, issued_at]`` (salt ``shanhai.unit-page``), so it expires like the report link it
    came from (see :func:`verify_unit_page_key`)."""
    if not unit_code:
        raise ValueError("unit_code must not be empty")
    issued = int(_aware(issued_at, "issued_at").timestamp())
    return _serializer(secret, _PAGE_SALT).dumps([unit_code, issued])


def verify_unit_page_key(
    key: str, *, unit_code: str, secret: str | list[str], now: datetime, max_age_days: int = 60
) -> datetime:
    """Accept a page key of ``unit_code`` no older than ``max_age_days`` and return when it was issued
    (the report link's issue time it inherits), or raise :class:`LinkError` (a key of another unit is
    ``"forged"``)."""
    _aware(now, "now")
    _check_shape(key)
    try:
        payload = _serializer(secret, _PAGE_SALT).loads(key)
    except BadSignature as exc:
        raise LinkError("forged", "签名无效：链接已被修改或不是本系统签发的") from exc
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or payload[0] != unit_code
        or isinstance(payload[1], bool)
        or not isinstance(payload[1], int)
    ):
        raise LinkError("forged", "签名无效：链接不属于该单位")
    _check_age(payload[1], now, max_age_days)
    return datetime.fromtimestamp(payload[1], tz=UTC)


def unit_key(*, unit_code: str, secret: str) -> str:
    """A capability for one unit's calendar feed (``calendar.ics?key=…``): HMAC of the unit code.

    Long-lived on purpose (a calendar subscription must keep working); changing the secret revokes
    every key. It opens only that feed (titles and due dates, no links, no messages): the unit's
    page takes the expiring key of :func:`sign_unit_page_key` instead."""
    import hashlib
    import hmac

    if not secret:
        raise ValueError("a non-empty secret is required to sign unit keys")
    return hmac.new(secret.encode(), f"shanhai.unit-key:{unit_code}".encode(), hashlib.sha256).hexdigest()[:32]


def check_unit_key(key: str | None, *, unit_code: str, secret: str) -> bool:
    import hmac

    return bool(key) and hmac.compare_digest(str(key), unit_key(unit_code=unit_code, secret=secret))

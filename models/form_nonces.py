"""One-time form nonces: a form carries one, the POST consumes it in the same transaction as what it
stores, so a double submit or a replayed POST stores nothing the second time.

Issuing writes nothing: a nonce is signed (HMAC with the installation's key) over its purpose and the
instant it was issued, so showing a page never needs the database's write lock (a page keeps answering
while an import writes). Only spending writes: the nonce's row is inserted, once; the second insert of
the same nonce writes nothing and is told so (the row lock on PostgreSQL, the write lock on SQLite).

A nonce is bound to a purpose (e.g. ``report:12:taishun``): one issued for one form cannot be spent on
another. Spent rows older than twice the lifetime are pruned as new ones are spent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlmodel import Field, Session, SQLModel, col

from shanhai.db import insert_ignore

NONCE_LIFETIME = timedelta(days=1)
_CLOCK_SKEW = timedelta(minutes=5)  # several portal processes' clocks may differ a little


class FormNonce(SQLModel, table=True):
    """A spent nonce (rows are written when a form is submitted, never when it is shown)."""

    nonce: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=128)
    issued_at: datetime
    used_at: datetime | None = None


class Spent(StrEnum):
    OK = "ok"
    USED = "used"  # submitted before
    UNKNOWN = "unknown"  # never issued, for another form, or expired


def _mac(key: str, purpose: str, body: str) -> str:
    derived = hmac.new(key.encode(), b"shanhai.form-nonce", hashlib.sha256).digest()
    mac = hmac.new(derived, f"{purpose}|{body}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue_nonce(*, keys: Sequence[str], purpose: str, now: datetime) -> str:
    """A nonce for one form: random, its issue instant and a signature (~50 characters); writes nothing."""
    body = f"{secrets.token_urlsafe(12)}.{int(now.timestamp()):x}"
    return f"{body}.{_mac(keys[0], purpose, body)}"


def _issued_at(nonce: str, *, keys: Sequence[str], purpose: str) -> datetime | None:
    """When the nonce was issued for this purpose, or None when no key of ours signed it so."""
    body, _, mac = nonce.rpartition(".")
    _, _, stamp = body.rpartition(".")
    if not mac or not stamp or not any(hmac.compare_digest(mac, _mac(k, purpose, body)) for k in keys):
        return None
    try:
        return datetime.fromtimestamp(int(stamp, 16), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def spend_nonce(*, session: Session, keys: Sequence[str], nonce: str, purpose: str, now: datetime) -> Spent:
    """Mark the nonce used; call it in the transaction that stores the form's effect."""
    if not nonce or len(nonce) > 64:
        return Spent.UNKNOWN
    issued = _issued_at(nonce, keys=keys, purpose=purpose)
    if issued is None or not (now - NONCE_LIFETIME <= issued <= now + _CLOCK_SKEW):
        return Spent.UNKNOWN
    row = {"nonce": nonce, "purpose": purpose, "issued_at": issued, "used_at": now}
    if not insert_ignore(session, FormNonce, row, on_key=True):
        return Spent.USED
    # spent rows go as new ones come: past the lifetime their nonces are refused as expired anyway
    session.execute(delete(FormNonce).where(col(FormNonce.issued_at) < now - 2 * NONCE_LIFETIME))
    return Spent.OK


def nonce_used(*, session: Session, nonce: str, purpose: str) -> bool:
    """Whether this form's nonce was spent already: a double submit is refused before any work is done
    (the spend itself still decides, in the storing transaction)."""
    if not nonce or len(nonce) > 64:
        return False
    row = session.execute(
        select(col(FormNonce.used_at)).where(col(FormNonce.nonce) == nonce, col(FormNonce.purpose) == purpose)
    ).first()
    return row is not None and row[0] is not None

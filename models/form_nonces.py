"""One-time form nonces: a form carries one, the POST consumes it in the same transaction as what it
stores, so a double submit or a replayed POST stores nothing the second time.

A nonce is bound to a purpose (e.g. ``report:12:taishun``): one issued for one form cannot be spent on
another. Consuming is a conditional UPDATE (used_at IS NULL), which two concurrent requests cannot both
win on SQLite (the write lock) or PostgreSQL (the row lock).

The table stays small however often pages are opened: issuing a nonce first drops the expired ones
(spent or not, they can no longer be spent) and keeps at most MAX_OPEN_PER_FORM unspent ones per form,
the oldest going first (one per open tab of a link page is plenty).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlmodel import Field, Session, SQLModel, col

NONCE_LIFETIME = timedelta(days=1)
MAX_OPEN_PER_FORM = 20  # unspent nonces kept per form: that many open tabs of one link page stay submittable


class FormNonce(SQLModel, table=True):
    nonce: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=128, index=True)
    issued_at: datetime = Field(index=True)
    used_at: datetime | None = None


class Spent(StrEnum):
    OK = "ok"
    USED = "used"  # submitted before
    UNKNOWN = "unknown"  # never issued, for another form, or expired


def issue_nonce(*, session: Session, purpose: str, now: datetime) -> str:
    prune_nonces(session=session, purpose=purpose, now=now)
    nonce = secrets.token_urlsafe(24)
    session.add(FormNonce(nonce=nonce, purpose=purpose, issued_at=now))
    return nonce


def prune_nonces(*, session: Session, purpose: str, now: datetime) -> None:
    """Drop expired nonces, and this form's unspent ones beyond the newest MAX_OPEN_PER_FORM - 1 (room
    for the one about to be issued). Two indexed deletes: cheap enough for every page view."""
    session.execute(delete(FormNonce).where(col(FormNonce.issued_at) < now - NONCE_LIFETIME))
    open_of_form = (col(FormNonce.purpose) == purpose, col(FormNonce.used_at).is_(None))
    newest = (
        select(col(FormNonce.nonce))
        .where(*open_of_form)
        .order_by(col(FormNonce.issued_at).desc())
        .limit(MAX_OPEN_PER_FORM - 1)
    )
    session.execute(delete(FormNonce).where(*open_of_form, col(FormNonce.nonce).not_in(newest)))


def spend_nonce(*, session: Session, nonce: str, purpose: str, now: datetime) -> Spent:
    """Mark the nonce used; call it in the transaction that stores the form's effect."""
    if not nonce or len(nonce) > 64:
        return Spent.UNKNOWN
    result = session.execute(
        update(FormNonce)
        .where(
            col(FormNonce.nonce) == nonce,
            col(FormNonce.purpose) == purpose,
            col(FormNonce.used_at).is_(None),
            col(FormNonce.issued_at) >= now - NONCE_LIFETIME,
        )
        .values(used_at=now)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return Spent.OK
    return Spent.USED if nonce_used(session=session, nonce=nonce, purpose=purpose) else Spent.UNKNOWN


def nonce_used(*, session: Session, nonce: str, purpose: str) -> bool:
    """Whether this form's nonce was spent already: a double submit is refused before any work is done
    (the spend itself still decides, in the storing transaction)."""
    if not nonce or len(nonce) > 64:
        return False
    row = session.execute(
        select(col(FormNonce.used_at)).where(col(FormNonce.nonce) == nonce, col(FormNonce.purpose) == purpose)
    ).first()
    return row is not None and row[0] is not None

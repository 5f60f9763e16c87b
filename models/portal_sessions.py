"""Portal login sessions, kept on the server so that they can be ended.

The signed cookie carries only a random session id; the row (keyed by the id's SHA-256, so the table
alone opens no session) says whose it is and until when. Logging out deletes the row, and disabling an
account or changing its password deletes all of that account's rows: a copied cookie stops working at
once instead of living out its 12 hours. Expired rows go when a new session is opened.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, col

SESSION_LIFETIME = timedelta(hours=12)
MAX_SESSION_ID = 64  # longer than any id issued: refused unread


class PortalSession(SQLModel, table=True):
    id_hash: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(max_length=64, index=True)
    created_at: datetime
    expires_at: datetime = Field(index=True)


def session_key(session_id: str) -> str:
    """What the table stores for a session id: its SHA-256, never the id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(*, session: Session, user_name: str, now: datetime) -> str:
    """A new session for the account, valid SESSION_LIFETIME from now; returns the id for the cookie."""
    session_id = secrets.token_urlsafe(32)
    session.execute(delete(PortalSession).where(col(PortalSession.expires_at) <= now))
    session.add(
        PortalSession(
            id_hash=session_key(session_id), user_name=user_name, created_at=now, expires_at=now + SESSION_LIFETIME
        )
    )
    return session_id


def end_session(*, session: Session, session_id: str) -> None:
    if session_id and len(session_id) <= MAX_SESSION_ID:
        session.execute(delete(PortalSession).where(col(PortalSession.id_hash) == session_key(session_id)))


def end_sessions_of(*, session: Session, user_name: str) -> int:
    """End every session of the account (disabled, or its password changed); how many there were."""
    result = session.execute(delete(PortalSession).where(col(PortalSession.user_name) == user_name))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

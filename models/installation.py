"""The installation: where tracking starts and the key that signs links and names channels.

Stored in the database, so every worker that shares it agrees (a key generated per SHANHAI_HOME made a
second worker reject every pending delivery). Created by the migration that creates its table; the
first sync sets the tracking start (and would create the row, race-free, were it missing).
"""

from __future__ import annotations

import secrets
from datetime import date

from sqlmodel import Session

from shanhai.db import insert_ignore
from shanhai.models.audit import audit
from shanhai.models.tables import Installation, utcnow

KEY = "shanhai"


def ensure_installation(*, session: Session, tracking_from: date) -> Installation:
    """The installation row, created with ``tracking_from`` and a fresh key if there is none yet."""
    insert_ignore(
        session,
        Installation,
        {"key": KEY, "tracking_from": tracking_from, "secret": secrets.token_urlsafe(32), "created_at": utcnow()},
    )
    row = session.get(Installation, KEY)
    assert row is not None
    return row


def read_installation(*, session: Session) -> Installation | None:
    return session.get(Installation, KEY)


def set_tracking_from(*, session: Session, tracking_from: date, actor: str) -> None:
    row = session.get(Installation, KEY)
    assert row is not None, "ensure_installation first"
    if row.tracking_from != tracking_from:
        audit(
            session=session,
            actor=actor,
            action="installation.tracking_from",
            entity="installation",
            entity_id=KEY,
            before=row.tracking_from,
            after=tracking_from,
        )
        row.tracking_from = tracking_from

"""The audit log: append-only (database triggers refuse UPDATE and DELETE); who did what, when."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from shanhai.models.tables import AuditEntry


def audit(*, session: Session, actor: str, action: str, entity: str, entity_id: str, **detail: Any) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            detail=json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
        )
    )

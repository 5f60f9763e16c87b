"""Import batches written in short transactions, visible all at once.

An import stores its rows in chunks, each its own short commit, under a batch whose ``completed_at`` is
NULL: such records count nowhere and are listed nowhere (``visible_records``), so the write lock is never
held for a whole file and the portal keeps answering. One last short commit sets ``completed_at`` and the
whole file appears at once. A batch left incomplete by a killed process is recognised by its owner (this
host and a pid that no longer runs; for another host, its age) and removed by the next import.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from shanhai.models.audit import audit
from shanhai.models.tables import CompletionRecord, ImportBatch

# An import on another host cannot be asked whether it still runs: one that started this long ago and is
# still incomplete is taken as dead (a 100,000-row file takes well under a minute).
FOREIGN_IMPORT_GIVE_UP = timedelta(hours=1)


def visible_records(batch_column: Any = None) -> ColumnElement[bool]:
    """Records that count: typed in one by one, or of an import that completed (``batch_column``: the
    import_batch_id of another alias of the records table; CompletionRecord's own by default)."""
    batch = col(CompletionRecord.import_batch_id) if batch_column is None else batch_column
    pending = exists().where(col(ImportBatch.id) == batch, col(ImportBatch.completed_at).is_(None))
    return ~pending


def this_process() -> str:
    """host:pid, the start of an owner token (import_writer appends a token per import)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: it writes nothing more
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def is_abandoned(batch: ImportBatch, *, now: datetime) -> bool:
    """Whether an incomplete batch's writer is gone (so nobody will ever complete it)."""
    host, pid = ((batch.owner or "").rsplit(":", 2) + ["", ""])[:2]  # host:pid:token
    if host == socket.gethostname() and pid.isdigit():
        return not _pid_runs(int(pid))
    started = batch.imported_at if batch.imported_at.tzinfo else batch.imported_at.replace(tzinfo=now.tzinfo)
    return now - started > FOREIGN_IMPORT_GIVE_UP


def batch_of_file(*, session: Session, sha256: str) -> ImportBatch | None:
    """The batch this very file (by content hash) was imported, or is being imported, in."""
    return session.execute(select(ImportBatch).where(col(ImportBatch.sha256) == sha256)).scalar_one_or_none()


def incomplete_batches(*, session: Session) -> list[ImportBatch]:
    return list(session.execute(select(ImportBatch).where(col(ImportBatch.completed_at).is_(None))).scalars())


def delete_batch_records(*, session: Session, batch_id: int, limit: int) -> int:
    """Delete up to ``limit`` records of an incomplete batch (a short transaction per call); how many went."""
    doomed = (
        select(col(CompletionRecord.id)).where(col(CompletionRecord.import_batch_id) == batch_id).limit(limit)
    )
    # the subquery is materialised first: SQLite and PostgreSQL both allow it in DELETE … IN
    ids = list(session.execute(doomed).scalars())
    if not ids:
        return 0
    session.execute(delete(CompletionRecord).where(col(CompletionRecord.id).in_(ids)))
    return len(ids)


def delete_batch(*, session: Session, batch_id: int) -> bool:
    """Remove an incomplete batch whose records are gone; False when it completed meanwhile."""
    result = session.execute(
        delete(ImportBatch).where(col(ImportBatch.id) == batch_id, col(ImportBatch.completed_at).is_(None))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def write_records(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One chunk of an incomplete batch's records: a single executemany INSERT."""
    if rows:
        session.execute(insert(CompletionRecord), list(rows))


def complete_batch(*, session: Session, batch: ImportBatch, now: datetime, actor: str) -> None:
    """The one short commit that makes every record of the batch count."""
    session.execute(
        update(ImportBatch).where(col(ImportBatch.id) == batch.id).values(completed_at=now, owner=None)
    )
    audit(
        session=session,
        actor=actor,
        action="import.completed",
        entity="import",
        entity_id=str(batch.id),
        file=batch.file_name,
        sha256=batch.sha256,
        rows=batch.rows,
    )


def visible_record(*, session: Session, record_id: int) -> CompletionRecord | None:
    """The record of an id a person typed or a link carries, unless an unfinished import holds it."""
    from shanhai.models.tables import by_id

    rec = by_id(session, CompletionRecord, record_id)
    if rec is None or rec.import_batch_id is None:
        return rec
    batch = session.get(ImportBatch, rec.import_batch_id)
    return rec if batch is not None and batch.completed_at is not None else None

"""Writing a checked import: short transactions under an incomplete batch, then one short commit.

Between chunks the write lock is free, so link pages, logins and ``record`` wait at most one chunk. The
records count nowhere until the last commit marks the batch complete (models/import_batches.py); a batch
left incomplete by a killed import is removed by the next one, in chunks too.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

# imports running in this process, by owner token: a batch owned by this pid but not listed here was left
# by an import of this process that failed and could not clean up after itself
_RUNNING: set[str] = set()
_running_lock = threading.Lock()


def write_batch(app, records: list[dict[str, Any]], *, sha256: str, file_name: str, actor: str):
    """The new batch's id once all records count; or the prior batch of the same file (this import
    lost a race to store it, and wrote nothing)."""
    from sqlalchemy.exc import IntegrityError

    from shanhai.models.import_batches import complete_batch, this_process, write_records
    from shanhai.models.tables import ImportBatch

    owner = f"{this_process()}:{uuid.uuid4().hex[:12]}"
    with _running_lock:
        _RUNNING.add(owner)
    try:
        try:
            with app.session() as session:
                batch = ImportBatch(sha256=sha256, file_name=file_name, rows=len(records), actor=actor,
                                    owner=owner, imported_at=app.clock())
                session.add(batch)
                session.flush()  # the unique hash: a concurrent import of the same file stops here
        except IntegrityError:
            return _prior_batch(app, sha256)
        assert batch.id is not None
        try:
            size = app.settings.import_chunk_rows
            for start in range(0, len(records), size):
                with app.session() as session:
                    write_records(session=session,
                                  rows=[{**r, "import_batch_id": batch.id} for r in records[start:start + size]])
            with app.session() as session:
                complete_batch(session=session, batch=batch, now=app.clock(), actor=actor)
        except BaseException:
            _discard_quietly(app, batch.id)
            raise
        return batch.id
    finally:
        with _running_lock:
            _RUNNING.discard(owner)


def _prior_batch(app, sha256: str):
    from shanhai.models.import_batches import batch_of_file

    with app.read_session() as session:
        prior = batch_of_file(session=session, sha256=sha256)
    if prior is None:  # it was an abandoned batch, removed meanwhile: a real conflict, not a repeat
        raise RuntimeError(f"import batch for {sha256} vanished while storing it")
    return prior


def _discard_quietly(app, batch_id: int) -> None:
    """Best effort after a failed write (a full disk, say): what cannot be removed now stays invisible
    and the next import removes it."""
    from contextlib import suppress

    with suppress(Exception):  # the original error is the one to report
        discard_batch(app, batch_id)


def discard_batch(app, batch_id: int) -> None:
    """Remove an incomplete batch and its records, a chunk per short transaction."""
    from shanhai.models.import_batches import delete_batch, delete_batch_records

    size = app.settings.import_chunk_rows
    while True:
        with app.session() as session:
            if delete_batch_records(session=session, batch_id=batch_id, limit=size) < size:
                delete_batch(session=session, batch_id=batch_id)
                return


def _gone(batch, *, now) -> bool:
    """Whether an incomplete batch's import no longer runs: for this very process, by its token (an import
    that failed and could not clean up); for another, by its pid or age (models.import_batches)."""
    from shanhai.models.import_batches import is_abandoned, this_process

    if batch.owner and batch.owner.startswith(this_process() + ":"):
        with _running_lock:
            return batch.owner not in _RUNNING
    return is_abandoned(batch, now=now)


def remove_abandoned(app) -> int:
    """Remove every incomplete batch whose import is gone (killed, or failed without cleaning up);
    how many. A batch still being written by a live import is left alone."""
    from shanhai.models.import_batches import incomplete_batches

    now = app.clock()
    with app.read_session() as session:
        doomed = [b.id for b in incomplete_batches(session=session) if b.id is not None and _gone(b, now=now)]
    for batch_id in doomed:
        discard_batch(app, batch_id)
    return len(doomed)

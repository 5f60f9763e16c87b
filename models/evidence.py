"""Evidence files, stored once by content hash under SHANHAI_HOME/evidence (read safely by models.files)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from shanhai.db import insert_ignore
from shanhai.models.files import read_regular_file
from shanhai.models.tables import EvidenceFile, utcnow

__all__ = ["Evidence", "read_regular_file", "store_evidence"]


@dataclass(frozen=True)
class Evidence:
    sha256: str
    name: str
    size: int


def store_evidence(path: Path, *, session: Session, evidence_dir: Path, max_bytes: int) -> Evidence:
    """Keep the file once under its content hash (atomic rename); the row joins the caller's transaction."""
    data = read_regular_file(path, max_bytes=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    target = evidence_dir / digest[:2] / digest
    if not target.exists():
        # private (folders 0700, files 0600 as mkstemp makes them): evidence holds personal data
        evidence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        _write_atomically(target, data)
    # written now, before the record that refers to it; the same file recorded at once by another
    # process: this insert waits for its commit and writes nothing, and both records point to one row
    insert_ignore(session, EvidenceFile, {"sha256": digest, "size": len(data), "stored_at": utcnow()})
    return Evidence(digest, path.name, len(data))


def _write_atomically(target: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader never sees half a file, and a write that fails
    (a full disk) leaves no temporary file behind."""
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

"""Evidence files, stored once by content hash under SHANHAI_HOME/evidence."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from shanhai.models.errors import InputError
from shanhai.models.tables import EvidenceFile


@dataclass(frozen=True)
class Evidence:
    sha256: str
    name: str
    size: int


def store_evidence(path: Path, *, session: Session, evidence_dir: Path, max_bytes: int) -> Evidence:
    """Keep the file once under its content hash (atomic rename); the row joins the caller's transaction."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError("evidence", f"不是文件：{path}")
        if size > max_bytes:
            raise InputError("evidence", f"文件过大：{size} 字节，上限 {max_bytes} 字节（{path}）")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # a file that grew since stat() still cannot pass the limit
        if len(data) > max_bytes:
            raise InputError("evidence", f"文件过大：超过上限 {max_bytes} 字节（{path}）")
        size = len(data)
    except OSError as exc:
        raise InputError("evidence", f"无法读取证明材料 {path}：{exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    target = evidence_dir / digest[:2] / digest
    if not target.exists():
        # private (folders 0700, files 0600 as mkstemp makes them): evidence holds personal data
        evidence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
    if session.get(EvidenceFile, digest) is None:
        session.add(EvidenceFile(sha256=digest, size=size))
        session.flush()  # before the record that refers to it: the unit of work does not order by FK
    return Evidence(digest, path.name, size)



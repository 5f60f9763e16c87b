"""Evidence files, stored once by content hash under SHANHAI_HOME/evidence; reading a user's file safely."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from shanhai.db import insert_ignore
from shanhai.models.errors import InputError
from shanhai.models.tables import EvidenceFile, utcnow

_CHUNK = 1 << 20
_KINDS = [
    (stat.S_ISDIR, "是目录，不是文件"),
    (stat.S_ISCHR, "是字符设备，不是普通文件"),
    (stat.S_ISBLK, "是块设备，不是普通文件"),
    (stat.S_ISFIFO, "是管道（FIFO），不是普通文件"),
    (stat.S_ISSOCK, "是套接字，不是普通文件"),
]


@dataclass(frozen=True)
class Evidence:
    sha256: str
    name: str
    size: int


def read_regular_file(path: Path, *, max_bytes: int, field: str = "evidence", what: str = "证明材料") -> bytes:
    """The whole content of a regular, non-empty file of at most max_bytes, read in bounded chunks.

    A symlink to a regular file is fine: the checks are made on what was opened (fstat of the open
    descriptor), so a file swapped after the check cannot slip through. A device, directory, FIFO or
    socket is refused before anything is read; O_NONBLOCK keeps a FIFO without a writer from hanging
    the open. A pseudo-file (/proc, /sys) reports a size that is not its content's: any file whose
    content does not match its size is refused, which also catches a file still being written.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        dangling = os.path.lexists(path)
        reason = "是指向不存在文件的符号链接" if dangling else "不存在"
        raise InputError(field, f"{what} {path} {reason}") from None
    except OSError as exc:
        raise InputError(field, f"无法读取{what} {path}：{exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        for is_kind, reason in _KINDS:
            if is_kind(st.st_mode):
                raise InputError(field, f"{what} {path} {reason}")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(field, f"{what} {path} 不是普通文件")
        if st.st_size > max_bytes:
            raise InputError(field, f"{what}过大：{st.st_size} 字节，上限 {max_bytes} 字节（{path}）")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(field, f"无法读取{what} {path}：{exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if total == 0 and st.st_size == 0:
        raise InputError(field, f"{what} {path} 是空文件")
    if total != st.st_size:
        shown = f"超过 {max_bytes}" if total > max_bytes else str(total)
        raise InputError(
            field,
            f"{what} {path} 的内容（{shown} 字节）与其文件大小（{st.st_size} 字节）不符："
            "可能是 /proc、/sys 下的伪文件，或正在写入的文件",
        )
    return b"".join(chunks)


def store_evidence(path: Path, *, session: Session, evidence_dir: Path, max_bytes: int) -> Evidence:
    """Keep the file once under its content hash (atomic rename); the row joins the caller's transaction."""
    data = read_regular_file(path, max_bytes=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    target = evidence_dir / digest[:2] / digest
    if not target.exists():
        # private (folders 0700, files 0600 as mkstemp makes them): evidence holds personal data
        evidence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
    # written now, before the record that refers to it; the same file recorded at once by another
    # process: this insert waits for its commit and writes nothing, and both records point to one row
    insert_ignore(session, EvidenceFile, {"sha256": digest, "size": len(data), "stored_at": utcnow()})
    return Evidence(digest, path.name, len(data))

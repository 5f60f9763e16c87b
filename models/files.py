"""Reading a file a user names, safely: a regular file of bounded size, never a device, FIFO or directory.

Used for evidence, imported ledgers, holiday notices and the YAML files people edit, so that a path to
/dev/zero, a FIFO without a writer or a sparse 3 GB file is refused at once, not read until memory runs out.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shanhai.models.errors import InputError

_CHUNK = 1 << 20
_KINDS = [
    (stat.S_ISDIR, "是目录，不是文件"),
    (stat.S_ISCHR, "是字符设备，不是普通文件"),
    (stat.S_ISBLK, "是块设备，不是普通文件"),
    (stat.S_ISFIFO, "是管道（FIFO），不是普通文件"),
    (stat.S_ISSOCK, "是套接字，不是普通文件"),
]


def read_regular_file(
    path: Path, *, max_bytes: int, field: str = "evidence", what: str = "证明材料", allow_empty: bool = False
) -> bytes:
    """The whole content of a regular, non-empty file of at most max_bytes, read in bounded chunks.

    A symlink to a regular file is fine: the checks are made on what was opened (fstat of the open
    descriptor), so a file swapped after the check cannot slip through. A device, directory, FIFO or
    socket is refused before anything is read; O_NONBLOCK keeps a FIFO without a writer from hanging
    the open. A pseudo-file (/proc, /sys) reports a size that is not its content's: any file whose
    content does not match its size is refused, which also catches a file still being written.
    ``allow_empty``: an empty file is b"" rather than an error.
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
    if total == 0 and st.st_size == 0 and not allow_empty:
        raise InputError(field, f"{what} {path} 是空文件")
    if total != st.st_size:
        shown = f"超过 {max_bytes}" if total > max_bytes else str(total)
        raise InputError(
            field,
            f"{what} {path} 的内容（{shown} 字节）与其文件大小（{st.st_size} 字节）不符："
            "可能是 /proc、/sys 下的伪文件，或正在写入的文件",
        )
    return b"".join(chunks)

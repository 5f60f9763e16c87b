"""`shanhai export`: the status sheet (built by shanhai.models.excel) written safely to a file.

The file is written to a temporary file beside the target and renamed over it, so a full disk or a
crash never leaves half a workbook where the old one was."""

from __future__ import annotations

import gc
import os
import secrets
import sys
from datetime import datetime
from pathlib import Path

from shanhai.cli.errors import os_reason


class ExportError(Exception):
    """The workbook could not be written to the path it names; nothing was left behind."""


def export_excel(app, path: Path, *, as_of: datetime, everything: bool = False) -> int:
    """Write the status sheet to ``path`` (replacing it whole); the number of occurrences written.
    Raises :class:`ExportError` naming the path when it cannot be written (call :func:`check_target`
    first to refuse a hopeless path before any work)."""
    from shanhai.models.excel import status_rows, status_workbook

    rows = status_rows(app, as_of=as_of, everything=everything)
    _save_atomically(status_workbook(rows, as_of=as_of), path)
    return len(rows)


def check_target(path: Path) -> None:
    """Refuse, before any work, a target that can never be a workbook (touches nothing)."""
    try:
        _check_target(path)
    except OSError as exc:  # a name too long for the file system, a loop of links, no permission to look
        raise ExportError(f"无法写入 {path}：{os_reason(exc)}（未写入任何文件）") from None


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise ExportError(f"{path} 是一个目录：请给出文件名，如 {path / '督办状态.xlsx'}")
    if path.exists() and not path.is_file():
        raise ExportError(f"{path} 不是普通文件，不能写入（请换一个文件名）")
    # a mistyped folder is refused, not created: the file would land somewhere nobody looks
    if path.parent.exists() and not path.parent.is_dir():
        raise ExportError(f"无法写入 {path}：{path.parent} 不是目录")
    if not path.parent.is_dir():
        raise ExportError(f"目录不存在：{path.parent}（请先创建该目录）")


def _save_atomically(wb, path: Path) -> None:
    """A temporary file in the same folder, fsynced, then renamed over the target: the target is either
    the old file or the whole new one. The new file gets the usual permissions (umask applies)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    previous_hook = sys.unraisablehook
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as fh:
                    wb.save(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            # openpyxl's half-written zip and sheet stream die with this exception and try to flush
            # again on the full disk: their second failure is the same one, not worth a traceback
            sys.unraisablehook = _ignore
            failure = f"无法写入 {path}：{os_reason(exc)}（未写入任何文件）"
        else:
            return
        gc.collect()
    finally:
        sys.unraisablehook = previous_hook
    raise ExportError(failure)


def _ignore(_unraisable) -> None:
    return None

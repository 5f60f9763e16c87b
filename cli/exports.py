"""Status to Excel (the ICS calendar is shanhai.cli.ics): one sheet a person can filter and print.

A title row states the as-of instant; the header row below it is frozen and carries the autofilter;
columns are as wide as their content (a Chinese character counts double). The file is written to a
temporary file beside the target and renamed over it, so a full disk or a crash never leaves half a
workbook where the old one was."""

from __future__ import annotations

import errno
import gc
import os
import secrets
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shanhai.cli.output import width
from shanhai.models.queries import ordered_evaluations, title_and_clause

COLUMNS = [
    ("id", "期次#"),
    ("title", "事项"),
    ("clause", "条款"),
    ("obligation", "事项编号"),
    ("scope", "范围"),
    ("responsible", "责任单位"),
    ("period", "期次"),
    ("due", "期限"),
    ("light_label", "灯"),
    ("status_label", "状态"),
    ("progress_text", "进度"),
    ("escalation_level", "督办级别"),
    ("pending", "待核验"),
]
FILLS = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE", "grey": "D9D9D9"}  # Excel's light tints
LIGHT_NAMES = {"green": "绿灯", "yellow": "黄灯", "red": "红灯", "grey": "灰灯"}
MAX_WIDTH = 60  # a long progress text wraps at this width instead of pushing the sheet off screen
TITLE = "山海协作工程督办状态"

_REASONS = {
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "磁盘配额已满",
    errno.EFBIG: "文件超出允许的大小",
    errno.EACCES: "没有写入权限",
    errno.EPERM: "没有写入权限",
    errno.EROFS: "只读文件系统",
    errno.ENOENT: "该位置不存在或不能创建文件",
    errno.ENOTDIR: "路径中有一段不是目录",
    errno.EISDIR: "是一个目录",
}


class ExportError(Exception):
    """The workbook could not be written to the path it names; nothing was left behind."""


def export_rows(app, *, as_of: datetime, everything: bool = False) -> list[dict[str, Any]]:
    """The export's rows, in the order `shanhai status` lists them (most urgent, oldest first)."""
    from shanhai.models.progress import progress_text
    from shanhai.models.statuses import label_of

    rows = []
    for occ, ev in ordered_evaluations(app, as_of=as_of, everything=everything):
        item = ev.as_item(*title_and_clause(app.catalogue, ev.obligation_id))
        rows.append(
            {
                **item,
                "due": ev.due,
                "responsible": "、".join(occ.requirement.responsible),
                "light_label": LIGHT_NAMES[item["light"]],
                "status_label": label_of(item["status"]),
                "progress_text": progress_text(item["progress"]),
                "pending": "是" if item["pending"] else "",
            }
        )
    return rows


def export_excel(app, path: Path, *, as_of: datetime, everything: bool = False) -> int:
    """Write the status sheet to ``path`` (replacing it whole); the number of occurrences written.
    Raises :class:`ExportError` naming the path when it cannot be written."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from shanhai.models.localtime import format_local

    check_target(path)
    rows = export_rows(app, as_of=as_of, everything=everything)
    title = f"{TITLE} 截至 {format_local(as_of)}（上海时间）"
    wb = Workbook()
    wb.properties.title = title
    ws = wb.active
    ws.title = "状态"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([h for _, h in COLUMNS])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    light_col = next(i for i, (k, _) in enumerate(COLUMNS, 1) if k == "light_label")
    status_col = next(i for i, (k, _) in enumerate(COLUMNS, 1) if k == "status_label")
    due_col = next(i for i, (k, _) in enumerate(COLUMNS, 1) if k == "due")
    for row in rows:
        ws.append([row[k] for k, _ in COLUMNS])
        fill = PatternFill("solid", fgColor=FILLS[row["light"]])
        ws.cell(ws.max_row, light_col).fill = fill
        ws.cell(ws.max_row, status_col).fill = fill
        ws.cell(ws.max_row, due_col).number_format = "yyyy-mm-dd"
    wrap = Alignment(wrap_text=True, vertical="top")
    for i, (key, head) in enumerate(COLUMNS, 1):
        widths = [width(_shown(row[key])) for row in rows]
        ws.column_dimensions[get_column_letter(i)].width = min(max([width(head), *widths]) + 2, MAX_WIDTH)
        for r, w in enumerate(widths, start=3):
            if w + 2 > MAX_WIDTH:
                ws.cell(r, i).alignment = wrap
    last = get_column_letter(len(COLUMNS))
    ws.auto_filter.ref = f"A2:{last}{ws.max_row}"
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    _save_atomically(wb, path)
    return len(rows)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def check_target(path: Path) -> None:
    """Refuse, before any work, a target that can never be a workbook (touches nothing)."""
    if path.is_dir():
        raise ExportError(f"{path} 是一个目录：请给出文件名，如 {path / '督办状态.xlsx'}")
    if path.exists() and not path.is_file():
        raise ExportError(f"{path} 不是普通文件，不能写入（请换一个文件名）")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"无法写入 {path}：{parent} 不是目录")
            break


def _save_atomically(wb, path: Path) -> None:
    """A temporary file in the same folder, fsynced, then renamed over the target: the target is either
    the old file or the whole new one. The new file gets the usual permissions (umask applies)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    previous_hook = sys.unraisablehook
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
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
            failure = f"无法写入 {path}：{_reason(exc)}（未写入任何文件）"
        else:
            return
        gc.collect()
    finally:
        sys.unraisablehook = previous_hook
    raise ExportError(failure)


def _ignore(_unraisable) -> None:
    return None

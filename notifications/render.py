"""Chinese message rendering (Jinja2 templates in ``templates/``).

One recipient gets one message listing all its items.  Each item shows the
obligation, its clause and scope, the due date with the Chinese weekday
(``2026-10-31（周六）``), the working days left (or ``已逾期N个工作日``), the
progress (``1/2``), its status in Chinese and its signed report link.

With ``limit_bytes`` (UTF-8 bytes of the body; see
:func:`shanhai.notifications.transport.body_limit`) a body that does not fit
becomes a summary: one count line per status, then as many *whole* items as
fit — the most urgent first — and ``另有N项，详见：{board_link}``.  An item is
never cut, and the limit is never exceeded (a limit too small even for the
summary frame raises ``ValueError``).

The templates are plain files beside this module (``title.txt.j2``,
``message.txt.j2``, ``item.txt.j2``); a coordinator can reword them without
touching code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import jinja2

from shanhai.models.status import LABELS

__all__ = ["RenderItem", "STATUS_LABELS", "render_message", "format_due", "format_days_left"]


TEMPLATE_DIR = Path(__file__).with_name("templates")

#: Occurrence status code -> Chinese label, in order of urgency.
STATUS_LABELS: dict[str, str] = {
    code: LABELS[code]
    for code in ("overdue", "behind_pace", "due_soon", "on_track", "done_late", "done", "waived")
}
_URGENCY = {code: rank for rank, code in enumerate(STATUS_LABELS)}
_BY_LABEL = {label: code for code, label in STATUS_LABELS.items()}
_CLOSED = frozenset({"done", "done_late", "waived"})
_WEEKDAYS = "一二三四五六日"

_ROLES = {
    "unit": "unit",
    "county": "unit",
    "partner": "unit",
    "department": "unit",
    "承办单位": "unit",
    "责任单位": "unit",
    "coordinator": "coordinator",
    "协调": "coordinator",
    "督办": "coordinator",
    "协调/督办": "coordinator",
    "supervisor": "supervisor",
    "领导小组": "supervisor",
}
# role -> (lead sentence, follow-up note)
_INTROS: dict[str | None, tuple[str, str]] = {
    "unit": ("以下事项请按时办理", "完成后请点击该项的“填报”链接上报完成情况并上传佐证材料。"),
    "coordinator": ("以下事项请跟踪督办", ""),
    "supervisor": ("以下事项请督促相关单位办理", ""),
    None: ("以下事项请关注", ""),
}


@dataclass(frozen=True)
class RenderItem:
    title: str
    clause: str
    scope: str
    due: date
    status: str  # a status code (``overdue`` …) or its Chinese label (``已逾期`` …)
    progress: str
    working_days_left: int  # negative: working days overdue
    stage_label: str
    link: str


def format_due(d: date) -> str:
    """``2026-10-31（周六）``."""
    return f"{d.isoformat()}（周{_WEEKDAYS[d.weekday()]}）"


def format_days_left(n: int) -> str:
    """``剩余3个工作日`` / ``已逾期2个工作日``."""
    return f"剩余{n}个工作日" if n >= 0 else f"已逾期{-n}个工作日"


def _status_code(status: str) -> str:
    if status in STATUS_LABELS:
        return status
    if status in _BY_LABEL:
        return _BY_LABEL[status]
    raise ValueError(f"unknown occurrence status {status!r} (expected one of {', '.join(STATUS_LABELS)})")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,  # plain text for chat robots and text/plain mail
    )
    env.filters["cn_date"] = format_due
    return env


def _render_item(number: int, item: RenderItem, code: str, stage_label: str) -> str:
    days_suffix = "" if code in _CLOSED else f"，{format_days_left(item.working_days_left)}"
    stage_suffix = (
        f"　阶段：{item.stage_label}" if item.stage_label and item.stage_label != stage_label else ""
    )
    return (
        _env()
        .get_template("item.txt.j2")
        .render(
            number=number,
            item=item,
            status_label=STATUS_LABELS[code],
            days_suffix=days_suffix,
            stage_suffix=stage_suffix,
            stage_label=stage_label,
        )
        .rstrip("\n")
    )


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def render_message(
    *,
    recipient: str,
    role: str,
    items: Sequence[RenderItem],
    stage_label: str,
    board_link: str,
    limit_bytes: int | None,
) -> tuple[str, str]:
    """Return ``(title, body)`` in Chinese for one recipient's items."""
    codes = [_status_code(item.status) for item in items]
    title = _env().get_template("title.txt.j2").render(stage_label=stage_label).strip()
    message = _env().get_template("message.txt.j2")
    common = {
        "recipient": recipient,
        "intro": _INTROS[_ROLES.get(role.strip())][0],
        "note": _INTROS[_ROLES.get(role.strip())][1],
        "total": len(items),
        "board_link": board_link,
    }

    def body(blocks: list[str], *, summary: bool, remaining: int) -> str:
        counts = sorted(Counter(codes).items(), key=lambda kv: _URGENCY[kv[0]])
        return message.render(
            **common,
            blocks=blocks,
            summary=summary,
            counts=[(STATUS_LABELS[c], n) for c, n in counts],
            remaining=remaining,
        ).rstrip("\n")

    full = body(
        [
            _render_item(i, item, code, stage_label)
            for i, (item, code) in enumerate(zip(items, codes, strict=True), 1)
        ],
        summary=False,
        remaining=0,
    )
    if limit_bytes is None or _size(full) <= limit_bytes:
        return title, full

    # Summary: most urgent first (stable), whole items only.
    order = sorted(range(len(items)), key=lambda i: _URGENCY[codes[i]])
    blocks: list[str] = []
    best = body([], summary=True, remaining=len(items))
    if _size(best) > limit_bytes:
        raise ValueError(
            f"limit_bytes={limit_bytes} is too small even for a summary of {len(items)} items "
            f"({_size(best)} bytes)"
        )
    for position, index in enumerate(order, 1):
        candidate_blocks = [*blocks, _render_item(position, items[index], codes[index], stage_label)]
        candidate = body(candidate_blocks, summary=True, remaining=len(items) - len(candidate_blocks))
        if _size(candidate) > limit_bytes:
            break
        blocks, best = candidate_blocks, candidate
    return title, best

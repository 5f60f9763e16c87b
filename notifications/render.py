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

from shanhai.models.localtime import format_day
from shanhai.models.statuses import Status
from shanhai.notifications.planner import Role

__all__ = ["RenderItem", "format_days_left", "render_message"]


TEMPLATE_DIR = Path(__file__).with_name("templates")

# role -> (lead sentence, follow-up note)
_INTROS: dict[Role, tuple[str, str]] = {
    Role.COUNTY: ("以下事项请按时办理", "完成后请点击该项的“填报”链接上报完成情况并上传佐证材料。"),
    Role.COORDINATOR: ("以下事项请跟踪督办", ""),
    Role.SUPERVISOR: ("以下事项请督促相关单位办理", ""),
}


@dataclass(frozen=True)
class RenderItem:
    title: str
    clause: str
    scope: str
    due: date
    status: Status
    progress: str
    working_days_left: int  # negative: working days overdue
    stage_label: str
    link: str


def format_days_left(n: int) -> str:
    """``剩余3个工作日`` / ``已逾期2个工作日``."""
    return f"剩余{n}个工作日" if n >= 0 else f"已逾期{-n}个工作日"


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
    env.filters["cn_date"] = format_day
    return env


def _render_item(number: int, item: RenderItem, code: Status, stage_label: str) -> str:
    days_suffix = "" if code.is_resolved else f"，{format_days_left(item.working_days_left)}"
    stage_suffix = (
        f"　阶段：{item.stage_label}" if item.stage_label and item.stage_label != stage_label else ""
    )
    return (
        _env()
        .get_template("item.txt.j2")
        .render(
            number=number,
            item=item,
            status_label=code.label,
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
    codes = [Status(item.status) for item in items]
    title = _env().get_template("title.txt.j2").render(stage_label=stage_label).strip()
    message = _env().get_template("message.txt.j2")
    common = {
        "recipient": recipient,
        "intro": _INTROS[Role(role)][0],
        "note": _INTROS[Role(role)][1],
        "total": len(items),
        "board_link": board_link,
    }

    def body(blocks: list[str], *, summary: bool, remaining: int) -> str:
        counts = sorted(Counter(codes).items(), key=lambda kv: kv[0].urgency)
        return message.render(
            **common,
            blocks=blocks,
            summary=summary,
            counts=[(c.label, n) for c, n in counts],
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
    order = sorted(range(len(items)), key=lambda i: codes[i].urgency)
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

"""Chinese messages a clerk reads once and acts on (Jinja2 templates in ``templates/``).

One recipient gets one message listing all its items. A unit that both leads some items and is copied
(抄送) on others reads them in separate sections, each under its own heading (贵单位牵头办理的事项 /
抄送贵单位（配合办理）的事项): a unit is never told it leads what it only co-owns. Within a section the
items are grouped by urgency — newly overdue, due soon, still overdue. The title names every group, the
most severe first, with counts adding up to the items (``【山海协作】2项新逾期、1项仍逾期、1项即将到期``).
Each item shows the duty in one line (``年度帮扶资金到位：5月底前到位、不低于省外结对帮扶资金``) and its
clause, who owes it (责任单位: the lead side of a pairing, the lead department), the scope, the due date
with its weekday, the time left or the time overdue (in working days while recent, in weeks once older:
never "已逾期1971个工作日"), the progress in the duty's own unit (``已到位 500 万元 / 目标 1000 万元``) and a
link: 填报 for the units that owe it, 查看 for everyone else. Every body names the recipient and its role
in Chinese (牵头单位, 配合单位, 协调单位, 领导小组), the document the duties come from, and the sender.

With ``limit_bytes`` (UTF-8 bytes of the body; see :func:`shanhai.notifications.transport.body_limit`)
a body that does not fit becomes a summary: one count line per group, then as many *whole* items as
fit — the most urgent first — and ``另有N项，详见：{board_link}``. An item is never cut and the limit is
never exceeded (a limit too small even for the summary frame raises ``ValueError``).

The templates are plain files beside this module; a coordinator can reword them without touching code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import jinja2

from shanhai.models.localtime import format_day
from shanhai.models.statuses import Status
from shanhai.models.working_days import PROVISIONAL_MARK, provisional_footnote
from shanhai.notifications.planner import NEWS_DAYS, Role, Urgency

__all__ = ["RenderItem", "format_age", "format_days_left", "message_title", "render_message"]

TEMPLATE_DIR = Path(__file__).with_name("templates")
RECENT_DAYS = NEWS_DAYS  # overdue by fewer calendar days: counted in working days; from then on, in weeks

_INTROS: dict[Role, tuple[str, str]] = {
    Role.LEAD: ("以下事项由贵单位牵头办理", "办结后请点击该项的“填报”链接上报完成情况并上传佐证材料；已知悉可在链接页面“签收”。"),
    Role.CO: ("以下事项贵单位为配合单位，特此抄送", "请配合责任单位办理；点击“查看”可了解进度。"),
    Role.COORDINATOR: ("以下事项请跟踪督办", "点击“查看”可打开事项页面核验记录、豁免或催办。"),
    Role.SUPERVISOR: ("以下事项已逾期，请督促责任单位办理", "点击“查看”可打开事项页面。"),
}
# a message whose items the recipient holds in more than one role: one section per role
_SECTION_HEADINGS: dict[Role, str] = {
    Role.LEAD: "贵单位牵头办理的事项",
    Role.CO: "抄送贵单位（配合办理）的事项",
    Role.COORDINATOR: "请跟踪督办的事项",
    Role.SUPERVISOR: "请督促办理的逾期事项",
}
_MIXED_INTRO = "以下事项与贵单位有关，按贵单位的职责分列"
_NUMERALS = "一二三四五六七八九十"
# the title names the groups most severe first (the body keeps the groups in message order)
_SEVERITY = (Urgency.NEWLY_OVERDUE, Urgency.STILL_OVERDUE, Urgency.DUE_SOON)
_STILL_OVERDUE_DEFAULT = Urgency.STILL_OVERDUE


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
    role: Role = Role.LEAD
    urgency: Urgency | None = None  # None: from the status (digests)
    days_overdue: int = 0  # calendar days
    due_nominal: date | None = None  # the document's date, when it fell on a day off and rolled (顺延)
    provisional: bool = False  # the due date's year is answered by the provisional calendar
    accountable: tuple[str, ...] = ()  # 责任单位: the units that owe it (empty in payloads stored before)
    duty: str = ""  # the duty in one line, shown after the title

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "accountable", tuple(self.accountable))
        if self.urgency is None:
            urgency = _STILL_OVERDUE_DEFAULT if self.status is Status.OVERDUE else Urgency.DUE_SOON
        else:
            urgency = Urgency(self.urgency)
        object.__setattr__(self, "urgency", urgency)

    @property
    def group(self) -> Urgency:
        assert isinstance(self.urgency, Urgency)
        return self.urgency


@dataclass(frozen=True)
class _Group:
    urgency: Urgency
    items: list[tuple[int, RenderItem]] = field(default_factory=list)


@dataclass(frozen=True)
class _Section:
    role: Role | None  # None: every item in one role, no section heading
    groups: list[_Group]

    @property
    def size(self) -> int:
        return sum(len(g.items) for g in self.groups)


def format_days_left(n: int) -> str:
    """``剩余3个工作日`` / ``今日到期`` / ``已逾期2个工作日``."""
    if n == 0:
        return "今日到期"
    return f"剩余{n}个工作日" if n > 0 else f"已逾期{-n}个工作日"


def format_age(item: RenderItem) -> str:
    """The time left, or overdue: working days while recent, weeks once older."""
    if item.status.is_final:
        return ""
    if item.working_days_left < 0 and item.days_overdue >= RECENT_DAYS:
        return f"已逾期{item.days_overdue // 7}周"
    return format_days_left(item.working_days_left)


def message_title(items: Sequence[RenderItem], label: str | None = None) -> str:
    """Every group the message carries, the most severe first, counts adding up to the items:
    ``【山海协作】2项新逾期、1项仍逾期（最早一项已逾期14周）、1项即将到期``."""
    if label:
        return f"【山海协作】{label}"
    parts = []
    for urgency in _SEVERITY:
        group = [i for i in items if i.group is urgency]
        if group:
            parts.append(f"{len(group)}项{urgency.label}{_oldest_note(urgency, group)}")
    return "【山海协作】" + "、".join(parts)


def _oldest_note(urgency: Urgency, items: Sequence[RenderItem]) -> str:
    """``（最早一项已逾期14周）`` for a group of long-overdue items, else nothing."""
    oldest = max((i.days_overdue for i in items), default=0)
    if urgency is not Urgency.STILL_OVERDUE or oldest < RECENT_DAYS:
        return ""
    return f"（最早一项已逾期{oldest // 7}周）"


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
    env.globals["provisional_mark"] = PROVISIONAL_MARK
    return env


def _render_item(number: int, item: RenderItem, stage_label: str | None) -> str:
    return (
        _env()
        .get_template("item.txt.j2")
        .render(
            number=number,
            item=item,
            status_label=item.status.label,
            age=format_age(item),
            copied=item.role is Role.CO,
            accountable="、".join(item.accountable),
            stage_suffix=(
                f"　阶段：{item.stage_label}" if item.stage_label and item.stage_label != stage_label else ""
            ),
            link_label="填报" if item.role.reports else "查看",
        )
        .rstrip("\n")
    )


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _groups(ranked: Sequence[tuple[int, RenderItem]]) -> list[_Group]:
    groups: dict[Urgency, _Group] = {}
    for index, item in ranked:
        groups.setdefault(item.group, _Group(item.group)).items.append((index, item))
    return list(groups.values())


def _sections(items: Sequence[RenderItem]) -> list[_Section]:
    """One section per role the recipient holds (lead, copied, …), in role order; a single role: one
    section without a heading."""
    order = {u: n for n, u in enumerate(Urgency)}
    ranked = sorted(
        enumerate(items), key=lambda p: (order[p[1].group], -p[1].days_overdue, p[1].due, p[0])
    )
    roles = sorted({i.role for i in items}, key=list(Role).index)
    if len(roles) < 2:
        return [_Section(None, _groups(ranked))]
    return [_Section(role, _groups([p for p in ranked if p[1].role is role])) for role in roles]


def _group_heading(number: str, group: _Group) -> str:
    oldest = _oldest_note(group.urgency, [i for _, i in group.items]).strip("（）")
    return f"{number}{group.urgency.label}（{len(group.items)}项" + (f"，{oldest}" if oldest else "") + "）"


def _provisional_notes(items: Sequence[RenderItem]) -> list[str]:
    years = {i.due.year for i in items if i.provisional}
    return [provisional_footnote(years)] if years else []


def _frame(who: Role, items: Sequence[RenderItem], sections: list[_Section]) -> tuple[str, str, str]:
    """(role label, intro, note) of the message: a recipient in several roles is told each in its section
    (a unit that leads some items and is copied on others reads "牵头单位、配合单位"); in one role, the
    intro of the role it holds on its items."""
    if sections[0].role is not None:
        label = "、".join(s.role.label for s in sections if s.role) if who in (Role.LEAD, Role.CO) else who.label
        return label, _MIXED_INTRO, ""
    # one role throughout: the items' own (the coordinator's own duty reads as a duty it leads, 填报)
    intro, note = _INTROS[items[0].role if items else who]
    return who.label, intro, note


def _blocks(sections: list[_Section], stage_label: str | None, shown: set[int] | None) -> list[dict]:
    """The sections as the template lays them out; ``shown``: the items a summary keeps (None: all)."""
    number = 0
    out = []
    for n, section in enumerate(sections):
        headed = section.role is not None
        groups = []
        for g, group in enumerate(section.groups):
            rendered = []
            for index, item in group.items:
                if shown is None or index in shown:
                    number += 1
                    rendered.append(_render_item(number, item, stage_label))
            label = f"（{_NUMERALS[g]}）" if headed else f"{_NUMERALS[g]}、"
            groups.append({"heading": _group_heading(label, group), "items": rendered})
        heading = note = ""
        if section.role is not None:
            heading = f"{_NUMERALS[n]}、{_SECTION_HEADINGS[section.role]}（{section.size}项）"
            note = _INTROS[section.role][1]
        out.append({"heading": heading, "note": note, "groups": groups})
    return out


def render_message(
    *,
    recipient: str,
    role: str,
    items: Sequence[RenderItem],
    stage_label: str | None,
    board_link: str,
    limit_bytes: int | None,
    document: str = "",
    sender: str = "",
    title_label: str | None = None,
    notes: Sequence[str] = (),
) -> tuple[str, str]:
    """``(title, body)`` in Chinese for one recipient's items.

    ``title_label`` replaces the "what is new" title (digests, reports); ``notes`` are lines shown
    before the items (e.g. a digest's count of records waiting for review)."""
    sections = _sections(items)
    role_label, intro, note = _frame(Role(role), items, sections)
    message = _env().get_template("message.txt.j2")
    common = {
        "recipient": recipient,
        "role_label": role_label,
        "intro": intro,
        "note": note,
        "notes": [*notes, *_provisional_notes(items)],
        "document": document,
        "sender": sender,
        "total": len(items),
        "board_link": board_link,
    }

    def body(shown: set[int] | None) -> str:
        remaining = 0 if shown is None else len(items) - len(shown)
        return message.render(
            **common, sections=_blocks(sections, stage_label, shown), summary=shown is not None, remaining=remaining
        ).rstrip("\n")

    title = message_title(items, title_label)
    full = body(None)
    if limit_bytes is None or _size(full) <= limit_bytes:
        return title, full
    return title, _summary(body, [index for s in sections for g in s.groups for index, _ in g.items], limit_bytes)


def _summary(body, order: list[int], limit_bytes: int) -> str:
    """Whole items only, the most urgent first, as many as fit."""
    shown: set[int] = set()
    best = body(shown)
    if _size(best) > limit_bytes:
        raise ValueError(
            f"limit_bytes={limit_bytes} is too small even for a summary of {len(order)} items "
            f"({_size(best)} bytes)"
        )
    for index in order:
        candidate = body(shown | {index})
        if _size(candidate) > limit_bytes:
            break
        shown.add(index)
        best = candidate
    return best

"""The notification planner: which messages are due now, to whom, one per recipient.

Pure: from the evaluated occurrences, their ladders, the outbox history (its unique keys), the units'
acknowledgements and an explicit ``as_of`` instant, compute the messages to record in the outbox.
No clock, no I/O. Delivering, retrying and recording are someone else's job.

Rules:

* Nothing is planned when messages may not leave (``may_send``: a non-working day, or before
  ``send_hour`` on Shanghai's clock); :func:`why_quiet` says why a run planned nothing.
* Only open occurrences are chased: not done, waived or closed (missed), and not due before the
  installation's tracking start (history).
* Who: the lead units (牵头) at every lead stage; co-responsible units (配合) are copied (抄送) at the
  due date and the first escalation only; the coordinator from the first escalation; the supervisors once,
  at the second (never for a duty whose figures are unverified, nor for one the catalogue marks as the
  leading group's own, ``escalate: false``: 年中调研督查), then only in their monthly digest; the weekly
  repeats go to the lead units and the coordinator.
* Each item carries who owes it (``accountable``: the lead units, e.g. 鹿城区 for 泰顺-鹿城's 帮扶资金),
  the duty in one line, and the label of this recipient's own copy (:func:`copy_label`): a repeat is
  numbered by the overdue messages really stored for that occurrence and recipient, so a fresh install
  or a catch-up never says "第25次".
* Each recipient gets the most advanced stage that is due *for that recipient* (after downtime: never
  a burst of stale ones, never silence because a later stage was meant for someone else), and nothing
  it already got, or older than what it got.
* A lead unit that acknowledged (签收) an occurrence gets no more weekly repeats for it until a later
  stage of its ladder; the escalation to the coordinator and the supervisors goes on.
* One message per recipient per run, listing all its items; a recipient who is the coordinator (or the
  supervisors) gets that role's message, with its role on each item.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from shanhai.models.ladder import (
    DEFAULT_LADDER,
    Audience,
    ReminderLadder,
    Schedule,
    Stage,
    StagePhase,
    WorkingDays,
    copy_label,
    may_send,
    rank_phase,
    send_time_text,
)
from shanhai.models.localtime import local_date, to_local
from shanhai.models.statuses import Status

__all__ = ["PlanItem", "PlannedItem", "PlannedMessage", "Role", "Urgency", "plan", "why_quiet"]


class Role(StrEnum):
    """Why a recipient gets a message or an item; declared in message order."""

    LEAD = "lead"
    CO = "co"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"

    @property
    def label(self) -> str:
        return _ROLE_LABELS[self]

    @property
    def reports(self) -> bool:
        """Owes the duty: its link opens the report form; everyone else's opens a view."""
        return self is Role.LEAD


_ROLE_LABELS = {
    Role.LEAD: "牵头单位",
    Role.CO: "配合单位",
    Role.COORDINATOR: "协调单位",
    Role.SUPERVISOR: "领导小组",
}
ROLE_ORDER = {role: i for i, role in enumerate(Role)}
_AUDIENCE_ROLE = {
    Audience.LEAD: Role.LEAD,
    Audience.COPIED: Role.CO,
    Audience.COORDINATOR: Role.COORDINATOR,
    Audience.SUPERVISOR: Role.SUPERVISOR,
}


NEWS_DAYS = 14  # calendar days an escalation stays "new" (and an age is told in working days)


class Urgency(StrEnum):
    """How a message groups its items, most urgent first."""

    NEWLY_OVERDUE = "newly_overdue"
    DUE_SOON = "due_soon"
    STILL_OVERDUE = "still_overdue"

    @property
    def label(self) -> str:
        return {"newly_overdue": "新逾期", "due_soon": "即将到期", "still_overdue": "仍逾期"}[self]

    @staticmethod
    def of(stage: Stage, days_overdue: int) -> Urgency:
        """An escalation is news for a fortnight; a late catch-up of one, or a repeat, is not."""
        if stage.phase in (StagePhase.BEFORE, StagePhase.DUE):
            return Urgency.DUE_SOON
        if stage.phase is StagePhase.OVERDUE and days_overdue < NEWS_DAYS:
            return Urgency.NEWLY_OVERDUE
        return Urgency.STILL_OVERDUE


@dataclass(frozen=True)
class PlanItem:
    """One open occurrence as the status engine evaluated it."""

    occurrence_id: int
    obligation_id: str
    title: str  # 联席会议
    clause: str  # 三(二)
    scope: str  # 泰顺-鹿城 | 永嘉县 | a park name | 全市
    due: date  # effective due date (already rolled)
    status: Status
    lead: tuple[str, ...]  # unit names that owe it, already resolved from the pairing's sides
    progress: str  # "1/2", "12.5/40 亿元"
    copied: tuple[str, ...] = ()  # co-responsible unit names copied at the due date and first escalation
    ladder: ReminderLadder = DEFAULT_LADDER
    unverified: bool = False  # garbled figures: never escalated to the supervisors
    tracked: bool = True  # due before the tracking start: history, never reminded
    due_nominal: date | None = None  # the document's date when it fell on a day off and rolled
    provisional: bool = False  # the due date's year has no State Council notice yet (provisional calendar)
    duty: str = ""  # the duty in one line (the catalogue's summary): 5月底前到位、不低于省外结对帮扶资金
    escalates: bool = True  # False: the leading group's own duty (escalate: false), never sent to it

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))


@dataclass(frozen=True)
class PlannedItem:
    occurrence_id: int
    obligation_id: str
    title: str
    clause: str
    scope: str
    due: date
    status: Status
    progress: str
    stage: Stage
    role: Role  # the recipient's role on this item
    working_days_left: int  # cal.working_days_between(today, due); negative when overdue
    days_overdue: int  # calendar days since the due date (0 when not overdue)
    due_nominal: date | None = None
    provisional: bool = False
    accountable: tuple[str, ...] = ()  # the units that owe it (the lead side of a pairing)
    duty: str = ""
    label: str = ""  # this recipient's copy, as really sent (copy_label); the stage's own label if empty

    @property
    def stage_label(self) -> str:
        return self.label or self.stage.label

    @property
    def urgency(self) -> Urgency:
        return Urgency.of(self.stage, self.days_overdue)

    def sort_key(self) -> tuple:
        return (self.urgency_rank, self.due, self.obligation_id, self.scope, self.occurrence_id)

    @property
    def urgency_rank(self) -> int:
        return list(Urgency).index(self.urgency)


@dataclass(frozen=True)
class PlannedMessage:
    recipient: str  # unit name
    role: Role
    stage: Stage  # the most advanced stage among its items
    items: tuple[PlannedItem, ...] = field(default=())  # newly overdue, due soon, still overdue; oldest first

    @property
    def stage_label(self) -> str:
        """The label of the message: its most advanced item's copy."""
        return next((i.stage_label for i in self.items if i.stage == self.stage), self.stage.label)

    def keys(self) -> list[tuple[int, str, str]]:
        """The outbox's unique keys: (occurrence_id, stage name, recipient) per item."""
        return [(item.occurrence_id, item.stage.name, self.recipient) for item in self.items]


def why_quiet(as_of: datetime, cal: WorkingDays, send_hour: int) -> str:
    """Why a run at ``as_of`` planned nothing, in Chinese."""
    local = to_local(as_of)
    if not cal.is_working_day(local.date()):
        return f"{local.date().isoformat()} 不是工作日：不发送任何提醒，{send_time_text(as_of, cal, send_hour)} 起发送"
    if local.hour < send_hour:
        return f"未到发送时间：{send_time_text(as_of, cal, send_hour)} 起发送"
    return "此刻没有新到期的提醒或督办阶段（已发出的阶段不会重发）"


def plan(
    items: Iterable[PlanItem],
    *,
    as_of: datetime,
    cal: WorkingDays,
    coordinator: str,
    supervisor: str,
    already_sent: Collection[tuple[int, str, str]],
    acknowledged: Mapping[tuple[int, str], int] | None = None,
    send_hour: int = 9,
) -> list[PlannedMessage]:
    """The messages due at ``as_of``, one per recipient, in a deterministic order (role, recipient).

    ``acknowledged`` maps (occurrence id, unit name) to the rank of the stage the unit acknowledged."""
    if not 0 <= send_hour <= 23:
        raise ValueError(f"send_hour must be 0..23, got {send_hour!r}")
    if not may_send(as_of, cal, send_hour):
        return []
    today = local_date(as_of)
    acks = acknowledged or {}

    sent: dict[tuple[int, str], set[str]] = {}
    for occurrence_id, stage_name, recipient in already_sent:
        sent.setdefault((occurrence_id, recipient), set()).add(stage_name)

    schedules: dict[tuple[date, ReminderLadder], Schedule] = {}
    days_left: dict[date, int] = {}
    inbox: dict[str, dict[int, PlannedItem]] = {}

    for item in items:
        if item.status.is_final or not item.tracked:
            continue
        key = (item.due, item.ladder)
        sched = schedules.get(key) or schedules.setdefault(key, Schedule(item.due, cal, item.ladder))
        for recipient, role, stage in _recipients(item, sched, today, coordinator, supervisor):
            history = sent.get((item.occurrence_id, recipient))
            if history and (stage.name in history or _got_more_advanced(history, stage, sched)):
                continue
            if (
                role is Role.LEAD
                and stage.phase is StagePhase.REPEAT
                and acks.get((item.occurrence_id, recipient), -1) >= sched.last_fixed_rank
            ):
                continue  # acknowledged: no weekly repeats to this unit until a later stage
            mine = inbox.setdefault(recipient, {})
            if item.occurrence_id in mine and ROLE_ORDER[mine[item.occurrence_id].role] <= ROLE_ORDER[role]:
                continue  # the coordinator that also leads an item gets it once, as its lead
            left = days_left.get(item.due)
            if left is None:
                left = days_left[item.due] = cal.working_days_between(today, item.due)
            label = copy_label(stage, sched.ladder, on=today, overdue_before=_overdue_sent(history, sched))
            mine[item.occurrence_id] = _planned(item, stage, role, label, today=today, working_days_left=left)

    return _messages(inbox, coordinator, supervisor)


def _messages(inbox: dict[str, dict[int, PlannedItem]], coordinator: str, supervisor: str) -> list[PlannedMessage]:
    """One message per recipient, in a deterministic order (role, recipient)."""
    messages = []
    for recipient, planned_items in inbox.items():
        ordered = tuple(sorted(planned_items.values(), key=PlannedItem.sort_key))
        top = max((p.stage for p in ordered), key=lambda s: (s.rank, s.on, s.name))
        if recipient == coordinator:
            role = Role.COORDINATOR
        elif recipient == supervisor:
            role = Role.SUPERVISOR
        else:
            role = min((p.role for p in ordered), key=ROLE_ORDER.__getitem__)
        messages.append(PlannedMessage(recipient=recipient, role=role, stage=top, items=ordered))
    messages.sort(key=lambda m: (ROLE_ORDER[m.role], m.recipient))
    return messages


def _planned(
    item: PlanItem, stage: Stage, role: Role, label: str, *, today: date, working_days_left: int
) -> PlannedItem:
    return PlannedItem(
        occurrence_id=item.occurrence_id,
        obligation_id=item.obligation_id,
        title=item.title,
        clause=item.clause,
        scope=item.scope,
        due=item.due,
        status=item.status,
        progress=item.progress,
        stage=stage,
        role=role,
        working_days_left=working_days_left,
        days_overdue=max(0, (today - item.due).days),
        due_nominal=item.due_nominal,
        provisional=item.provisional,
        accountable=item.lead,
        duty=item.duty,
        label=label,
    )


def _overdue_sent(history: set[str] | None, sched: Schedule) -> int:
    """How many overdue messages (escalations and repeats) the recipient was really sent for the item."""
    ranks = (sched.rank_of(name) for name in history or ())
    return sum(1 for r in ranks if r is not None and rank_phase(r) in (StagePhase.OVERDUE, StagePhase.REPEAT))


def _recipients(
    item: PlanItem, sched: Schedule, today: date, coordinator: str, supervisor: str
) -> list[tuple[str, Role, Stage]]:
    """(recipient, role, the most advanced stage due for that audience) for one occurrence."""
    by_audience: dict[Audience, list[str]] = {
        Audience.LEAD: list(item.lead),
        Audience.COPIED: list(item.copied),
        Audience.COORDINATOR: [coordinator],
        Audience.SUPERVISOR: [supervisor] if item.escalates and not item.unverified else [],
    }
    out = []
    for audience, names in by_audience.items():
        stage = sched.latest_for(audience, today) if names else None
        if stage is not None:
            out += [(name, _AUDIENCE_ROLE[audience], stage) for name in names]
    return out


def _got_more_advanced(history: set[str], stage: Stage, sched: Schedule) -> bool:
    for name in history:
        rank = sched.rank_of(name)
        if rank is not None and rank > stage.rank:
            return True
    return False

"""The notification planner: which messages are due now, to whom, one per recipient.

Pure: from the evaluated occurrences, their ladders, the outbox history (its unique keys)
and an explicit ``as_of`` instant, compute the messages to record in the outbox.  No clock,
no I/O.  Delivering, retrying and recording are someone else's job.

Rules:

* Nothing is planned when messages may not leave (``may_send``: a non-working day, or before
  ``send_hour`` on Shanghai's clock).
* Satisfied occurrences (done, done_late, waived) get nothing.
* Each open occurrence gets only its most advanced stage that has gone out by today:
  after downtime, earlier unsent stages are superseded, never sent as a burst.
* A (occurrence, stage, recipient) key already in the outbox is not planned again, nor is a
  stage older than one the recipient already got for that occurrence (ranks come from
  recomputing the occurrence's ladder; stage names the ladder does not know are ignored).
* One message per recipient per run, listing all its items.  A recipient whose name is the
  coordinator's (or the supervisor's) gets that role's single message, even for items where
  it is also a responsible unit; each occurrence appears at most once per message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from shanhai.models.ladder import (
    DEFAULT_LADDER,
    Audience,
    ReminderLadder,
    Schedule,
    Stage,
    WorkingDays,
    may_send,
)
from shanhai.models.localtime import local_date
from shanhai.models.statuses import Status

__all__ = ["PlanItem", "PlannedItem", "PlannedMessage", "Role", "plan"]


class Role(StrEnum):
    """Why a recipient gets a message; declared in message order."""

    COUNTY = "county"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"


ROLE_ORDER = {role: i for i, role in enumerate(Role)}


@dataclass(frozen=True)
class PlanItem:
    """One occurrence as the status engine evaluated it."""

    occurrence_id: int
    obligation_id: str
    title: str  # 联席会议
    clause: str  # 三(二)
    scope: str  # 泰顺-鹿城 | 永嘉县 | a park name | 全市
    due: date  # effective due date (already rolled)
    status: Status
    responsible: tuple[str, ...]  # unit names (both sides of a pairing), already resolved
    progress: str  # "1/2", "12.5/40 亿元"
    ladder: ReminderLadder = DEFAULT_LADDER

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
    working_days_left: int  # cal.working_days_between(today, due); negative when overdue

    def sort_key(self) -> tuple:
        return (self.due, self.obligation_id, self.scope, self.occurrence_id)


@dataclass(frozen=True)
class PlannedMessage:
    recipient: str  # unit name
    role: Role
    stage: Stage  # the most advanced stage among its items
    items: tuple[PlannedItem, ...] = field(default=())  # sorted by due, obligation, scope

    def keys(self) -> list[tuple[int, str, str]]:
        """The outbox's unique keys: (occurrence_id, stage name, recipient) per item."""
        return [(item.occurrence_id, item.stage.name, self.recipient) for item in self.items]


def plan(
    items: Iterable[PlanItem],
    *,
    as_of: datetime,
    cal: WorkingDays,
    coordinator: str,
    supervisor: str,
    already_sent: Collection[tuple[int, str, str]],
    send_hour: int = 9,
) -> list[PlannedMessage]:
    """The messages due at ``as_of``, one per recipient, in a deterministic order
    (role: county, coordinator, supervisor; then recipient)."""
    if not 0 <= send_hour <= 23:
        raise ValueError(f"send_hour must be 0..23, got {send_hour!r}")
    today = local_date(as_of)
    if not may_send(as_of, cal, send_hour):
        return []

    # Outbox history: (occurrence, recipient) -> stage names already sent.  O(len(already_sent)).
    sent: dict[tuple[int, str], set[str]] = defaultdict(set)
    for occurrence_id, stage_name, recipient in already_sent:
        sent[(occurrence_id, recipient)].add(stage_name)

    # Per (due, ladder): the schedule and today's current stage; per due: working days left.
    schedules: dict[tuple[date, ReminderLadder], tuple[Schedule, Stage | None]] = {}
    days_left: dict[date, int] = {}

    def role_of(recipient: str, default: Role) -> Role:
        if recipient == coordinator:
            return Role.COORDINATOR
        if recipient == supervisor:
            return Role.SUPERVISOR
        return default

    # recipient -> (role, {occurrence_id: PlannedItem})
    inbox: dict[str, tuple[Role, dict[int, PlannedItem]]] = {}

    for item in items:
        if item.status.is_resolved:
            continue
        key = (item.due, item.ladder)
        cached = schedules.get(key)
        if cached is None:
            sched = Schedule(item.due, cal, item.ladder)
            cached = (sched, sched.current(today))
            schedules[key] = cached
        sched, stage = cached
        if stage is None:
            continue

        recipients: list[tuple[str, Role]] = []
        if Audience.RESPONSIBLE in stage.audience:
            recipients.extend((unit, Role.COUNTY) for unit in item.responsible)
        if Audience.COORDINATOR in stage.audience:
            recipients.append((coordinator, Role.COORDINATOR))
        if Audience.SUPERVISOR in stage.audience:
            recipients.append((supervisor, Role.SUPERVISOR))

        planned: PlannedItem | None = None
        for recipient, default_role in recipients:
            history = sent.get((item.occurrence_id, recipient))
            if history and (stage.name in history or _got_more_advanced(history, stage, sched)):
                continue
            role = role_of(recipient, default_role)
            entry = inbox.get(recipient)
            if entry is None:
                entry = inbox[recipient] = (role, {})
            if item.occurrence_id in entry[1]:
                continue  # e.g. the coordinator is also a responsible unit of this occurrence
            if planned is None:
                left = days_left.get(item.due)
                if left is None:
                    left = days_left[item.due] = cal.working_days_between(today, item.due)
                planned = PlannedItem(
                    occurrence_id=item.occurrence_id,
                    obligation_id=item.obligation_id,
                    title=item.title,
                    clause=item.clause,
                    scope=item.scope,
                    due=item.due,
                    status=item.status,
                    progress=item.progress,
                    stage=stage,
                    working_days_left=left,
                )
            entry[1][item.occurrence_id] = planned

    messages = []
    for recipient, (role, planned_items) in inbox.items():
        if not planned_items:
            continue
        ordered = tuple(sorted(planned_items.values(), key=PlannedItem.sort_key))
        top = max((p.stage for p in ordered), key=lambda s: (s.rank, s.on, s.name))
        messages.append(PlannedMessage(recipient=recipient, role=role, stage=top, items=ordered))
    messages.sort(key=lambda m: (ROLE_ORDER[m.role], m.recipient))
    return messages


def _got_more_advanced(history: set[str], stage: Stage, sched: Schedule) -> bool:
    for name in history:
        rank = sched.rank_of(name)
        if rank is not None and rank > stage.rank:
            return True
    return False

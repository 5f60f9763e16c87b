"""The status of occurrences at an instant, evaluated in bulk and purely.

An occurrence knows its own status at ``as_of``, as a Healthchecks check knows get_status(): the inputs
are the occurrence rows, the records aggregated per (occurrence, day, category, review state), the
waived occurrence ids, ``as_of`` and the working calendar. No I/O, no clock.

Rules: a waived occurrence is waived; one whose counting records (submitted or verified, dated on or
before today, from its period's start (or window) up to its closing) satisfy its requirement is done on
the day they first did (done_late after the due date); otherwise, once its period has closed (the year's
assessment, by default the first 03-31 after the due date) it is missed, final; before that it is overdue
after its due date, due soon within the ladder's first reminder (30 calendar days by default), behind
pace once a pace milestone has passed unmet, and on track before that. An overdue occurrence carries the
escalation level its ladder has reached.

History is not failure: an occurrence due before its document took effect (``Requirement.document_from``)
or before the installation's tracking start is history. It is never reminded or escalated, and where it
would be overdue or missed it is ``history`` (grey) instead; records still make it done.

Quantities (money, people, projects) count in the period that contains their date
(``Requirement.counts_until``); a joint count duty counts distinct dates (``Requirement.counts_events``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shanhai.models.ladder import ReminderLadder, Schedule
from shanhai.models.localtime import local_date
from shanhai.models.progress import RecordTotal, Tally, is_satisfied, pace_met, progress_of, progress_text
from shanhai.models.requirement import Requirement
from shanhai.models.statuses import History, Light, RecordState, Status
from shanhai.models.working_days import WorkingCalendar


@dataclass(frozen=True)
class OccurrenceRow:
    id: int
    obligation_id: str
    scope: str
    period: str
    period_start: date
    due: date
    requirement: Requirement


@dataclass(frozen=True)
class Evaluation:
    occurrence_id: int
    obligation_id: str
    scope: str
    period: str
    due: date
    status: Status
    progress: dict[str, Any]
    escalation_level: int
    satisfied_on: date | None
    pending: bool  # satisfied only thanks to records a coordinator has not verified yet
    closes: date  # the period's closing day: after it the status is final
    tracked: bool = True  # not history: reminded and escalated
    due_nominal: date | None = None  # the document's date, when the effective due date differs
    unverified: bool = False  # the source's figures are garbled (数字存疑)
    provisional: bool = False  # the due date's year is answered by the provisional calendar (no notice yet)
    history: History | None = None  # due before the document took effect or before tracking started
    accountable: tuple[str, ...] = ()  # the units that owe it (Requirement.accountable)

    @property
    def light(self) -> Light:
        return self.status.light

    @property
    def label(self) -> str:
        """The status as people read it; history says which ("文件印发前" / "纳入跟踪前")."""
        if self.status is Status.HISTORY and self.history is not None:
            return self.history.label
        return self.status.label

    @property
    def is_history(self) -> bool:
        """Not scored: the assessment and every count of failures leave it out."""
        return self.history is not None

    @property
    def progress_text(self) -> str:
        return progress_text(self.progress)

    def as_item(self, title: str, clause: str | None) -> dict[str, Any]:
        """The `shanhai status --json` item (field names are a documented contract)."""
        return {
            "id": self.occurrence_id,
            "obligation": self.obligation_id,
            "title": title,
            "clause": clause,
            "scope": self.scope,
            "period": self.period,
            "due": self.due.isoformat(),
            "due_nominal": (self.due_nominal or self.due).isoformat(),
            "closes": self.closes.isoformat(),
            "status": str(self.status),
            "light": str(self.light),
            "progress": self.progress,
            "escalation_level": self.escalation_level,
            "pending": self.pending,
            "satisfied_on": self.satisfied_on.isoformat() if self.satisfied_on else None,
            "unverified": self.unverified,
            "provisional_calendar": self.provisional,
            "history": str(self.history) if self.history else None,
            "accountable": list(self.accountable),
        }


def evaluate(
    occurrences: Iterable[OccurrenceRow],
    totals: Iterable[RecordTotal],
    waived: Collection[int],
    *,
    as_of: datetime,
    cal: WorkingCalendar,
    tracking_from: date | None = None,
) -> list[Evaluation]:
    """``tracking_from``: occurrences due before it are history (see :func:`history_of`); None tracks all."""
    today = local_date(as_of)
    by_occurrence: dict[int, list[RecordTotal]] = defaultdict(list)
    for t in totals:
        if RecordState(t.state).counts and t.on <= today:
            by_occurrence[t.occurrence_id].append(t)
    schedules: dict[tuple[date, ReminderLadder], Schedule] = {}

    def schedule(due: date, ladder: ReminderLadder) -> Schedule:
        key = (due, ladder)
        found = schedules.get(key)
        if found is None:
            found = schedules[key] = Schedule(due, cal, ladder)
        return found

    is_provisional = functools.cache(cal.is_provisional)  # one answer per year, not per occurrence
    return [
        _evaluate_one(
            occ,
            by_occurrence.get(occ.id, []),
            occ.id in waived,
            today,
            schedule,
            history=history_of(occ, tracking_from),
            provisional=is_provisional(occ.due.year),
        )
        for occ in occurrences
    ]


def history_of(occ: OccurrenceRow, tracking_from: date | None) -> History | None:
    """Why the occurrence is history, or None: the document's effective date first, then tracking."""
    if occ.requirement.before_document(occ.due):
        return History.BEFORE_DOCUMENT
    if tracking_from is not None and occ.due < tracking_from:
        return History.BEFORE_TRACKING
    return None


def _tally(occ: OccurrenceRow, totals: list[RecordTotal]) -> tuple[Tally, date | None, date | None]:
    """The records that count for the occurrence, tallied day by day: the tally, the day they first
    satisfied it, and the day its verified records alone first did."""
    req = occ.requirement
    start, until = req.counts_from(occ.period_start), req.counts_until(occ.due, occ.period)
    rows = sorted((t for t in totals if start <= t.on <= until), key=lambda t: t.on)
    everything, verified = Tally(events=req.counts_events), Tally(events=req.counts_events)
    satisfied_on = verified_on = None
    for i, t in enumerate(rows):
        everything.add(t)
        if t.state == RecordState.VERIFIED:
            verified.add(t)
        last_of_day = i + 1 == len(rows) or rows[i + 1].on != t.on
        if last_of_day:
            if satisfied_on is None and is_satisfied(everything, req):
                satisfied_on = t.on
            if verified_on is None and is_satisfied(verified, req):
                verified_on = t.on
    return everything, satisfied_on, verified_on


def _evaluate_one(
    occ: OccurrenceRow,
    totals: list[RecordTotal],
    waived: bool,
    today: date,
    schedule: Callable[[date, ReminderLadder], Schedule],
    *,
    history: History | None,
    provisional: bool,
) -> Evaluation:
    req = occ.requirement
    ladder = req.reminder_ladder
    closes = req.closes_on(occ.due)
    everything, satisfied_on, verified_on = _tally(occ, totals)
    level = 0
    if waived:
        status = Status.WAIVED
    elif satisfied_on is not None:
        status = Status.DONE if satisfied_on <= occ.due else Status.DONE_LATE
    elif history is not None and today > occ.due:
        status = Status.HISTORY
    elif today > closes:
        status = Status.MISSED
    elif today > occ.due:
        status = Status.OVERDUE
        if history is None:
            # rungs: 1 units + coordinator, 2 supervisors, 3 the weekly repeats that follow (not a counter)
            level = min(schedule(occ.due, ladder).escalation_level(today), len(ladder.overdue_working_days) + 1)
    elif (occ.due - today).days <= max(ladder.before_calendar_days, default=0):
        status = Status.DUE_SOON
    elif any(step.by < today and not pace_met(everything, req, step) for step in req.pace):
        status = Status.BEHIND_PACE
    else:
        status = Status.ON_TRACK
    return Evaluation(
        occurrence_id=occ.id,
        obligation_id=occ.obligation_id,
        scope=occ.scope,
        period=occ.period,
        due=occ.due,
        status=status,
        progress=progress_of(everything, req),
        escalation_level=level,
        satisfied_on=satisfied_on,
        pending=satisfied_on is not None and verified_on is None,
        closes=closes,
        tracked=history is None,
        due_nominal=req.due_nominal,
        unverified=req.unverified,
        provisional=provisional,
        history=history,
        accountable=req.accountable,
    )

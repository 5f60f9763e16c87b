"""Checking an obligation: evaluate its occurrences in bulk, plan the reminders due at ``as_of``, queue them.

The thin I/O shell around the pure status engine and planner; the check flows and ``shanhai remind``
call it. Checks only queue: the delivery run sends what all the day's checks queued.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from shanhai.models.localtime import local_date
from shanhai.models.progress import progress_phrase
from shanhai.models.queries import title_and_clause
from shanhai.models.status import Evaluation, OccurrenceRow
from shanhai.models.statuses import Status
from shanhai.models.store import OccurrenceFilter, load_evaluations
from shanhai.models.tables import OutboxItem
from shanhai.notifications.outbox import configured_channels, queue_reminders
from shanhai.notifications.planner import PlanItem, PlannedMessage, plan, why_quiet

# A check run's final state is named for the most urgent status it found.
STATE_NAMES = (
    (Status.OVERDUE, "Overdue"),
    (Status.BEHIND_PACE, "BehindPace"),
    (Status.DUE_SOON, "DueSoon"),
    (Status.MISSED, "Missed"),
)


@dataclass
class CheckResult:
    obligation_id: str | None
    title: str
    as_of: datetime
    dry_run: bool
    items: list[dict[str, Any]]
    counts: dict[str, int]
    messages: list[dict[str, Any]]
    queued: int
    state_name: str
    summary: str
    accountable: dict[int, tuple[str, ...]] = field(default_factory=dict)  # occurrence id -> who owes it


def state_name(counts: Counter) -> str:
    for status, name in STATE_NAMES:
        if counts.get(status):
            return name
    if not counts:
        return "NoOccurrences"  # nothing has started yet (e.g. a duty whose first year is ahead)
    if all(Status(s).is_final for s in counts):
        return "AllDone"
    return "AllOnTrack"


def summary(counts: Counter, queued: int, dry_run: bool) -> str:
    parts = [f"{s.label} {counts[s]} 项" for s in Status if counts.get(s)]
    verb = "计划发送" if dry_run else "新写入发件箱"
    return ("，".join(parts) or "尚无期次") + f"；{verb} {queued} 条"


def status_item(app, ev: Evaluation) -> dict[str, Any]:
    return ev.as_item(*title_and_clause(app.catalogue, ev.obligation_id))


def _already_sent(session: Session, occurrence_ids: list[int]) -> set[tuple[int, str, str]]:
    if not occurrence_ids:
        return set()
    rows = session.execute(
        select(col(OutboxItem.occurrence_id), col(OutboxItem.stage), col(OutboxItem.recipient)).where(
            col(OutboxItem.occurrence_id).in_(occurrence_ids)
        )
    )
    return {(o, s, r) for o, s, r in rows}


def _acknowledged(app, session: Session, occurrence_ids: list[int]) -> dict[tuple[int, str], int]:
    """(occurrence id, unit name) -> the highest ladder rank the unit acknowledged (签收)."""
    from shanhai.models.acknowledgements import latest_acknowledgements

    names = {u.code: u.name for u in app.catalogue.units.values()}
    return {
        (occ, names[code]): rank
        for (occ, code), rank in latest_acknowledgements(session=session, occurrence_ids=occurrence_ids).items()
        if code in names
    }


def duty_summary(app, obligation_id: str) -> str:
    """The duty in one line (the catalogue's ``summary``), shown after its title; empty when none."""
    ob = app.catalogue.obligations.get(obligation_id)
    return (ob.summary or "") if ob else ""


def escalates(app, obligation_id: str) -> bool:
    """False for a duty the catalogue marks as the leading group's own (``escalate: false``): it is never
    escalated to the supervisors, in a reminder or in their digest. Read from the catalogue, not the
    stored requirement, so that it holds for occurrences stored before the setting."""
    ob = app.catalogue.obligations.get(obligation_id)
    return ob.escalate if ob else True


def plan_item(app, occ: OccurrenceRow, ev: Evaluation) -> PlanItem:
    title, clause = title_and_clause(app.catalogue, occ.obligation_id)
    return PlanItem(
        occurrence_id=occ.id,
        obligation_id=occ.obligation_id,
        title=title,
        clause=clause or "",
        scope=occ.scope,
        due=occ.due,
        status=ev.status,
        lead=occ.requirement.leads,
        copied=occ.requirement.copied,
        progress=progress_phrase(ev.progress, occ.requirement.kind),
        ladder=occ.requirement.reminder_ladder,
        unverified=occ.requirement.unverified,
        tracked=ev.tracked,
        due_nominal=occ.requirement.due_nominal,
        provisional=ev.provisional,
        duty=duty_summary(app, occ.obligation_id),
        escalates=escalates(app, occ.obligation_id),
    )


def message_json(m: PlannedMessage) -> dict[str, Any]:
    """The `remind --json` message (a documented contract)."""
    return {
        "recipient": m.recipient,
        "role": str(m.role),
        "role_label": m.role.label,
        "stage": m.stage.name,
        "stage_label": m.stage_label,
        "items": [
            {
                "obligation": i.obligation_id,
                "title": i.title,
                "duty": i.duty,
                "accountable": list(i.accountable),
                "scope": i.scope,
                "due": i.due.isoformat(),
                "provisional_calendar": i.provisional,
                "status": str(i.status),
                "stage": i.stage.name,
                "stage_label": i.stage_label,
                "role": str(i.role),
                "urgency": str(i.urgency),
                "progress": i.progress,
                "working_days_left": i.working_days_left,
                "days_overdue": i.days_overdue,
            }
            for i in m.items
        ],
    }


def _plan_open(app, session: Session, open_pairs: list[tuple[OccurrenceRow, Evaluation]], as_of: datetime):
    ids = [occ.id for occ, _ in open_pairs]
    return plan(
        (plan_item(app, occ, ev) for occ, ev in open_pairs),
        as_of=as_of,
        cal=app.calendar,
        coordinator=app.catalogue.roles.coordinator,
        supervisor=app.catalogue.roles.supervisor,
        already_sent=_already_sent(session, ids),
        acknowledged=_acknowledged(app, session, ids),
        send_hour=app.settings.send_hour,
    )


def check_obligation(
    app, obligation_id: str | None, *, as_of: datetime, dry_run: bool = False
) -> CheckResult:
    """Evaluate one obligation's occurrences (None: all) and queue the reminders due at as_of."""
    if obligation_id is not None:
        app.catalogue.require_obligation(obligation_id)
    if not dry_run:  # a configured channel file that is missing or broken fails even when nothing is due
        configured_channels(app)
    app.migrate()
    from shanhai.db import get_engine

    with Session(get_engine(app.database_url), expire_on_commit=False) as session:
        app.sync_in(session, as_of=as_of)
        pairs = load_evaluations(
            session=session,
            as_of=as_of,
            cal=app.calendar,
            flt=OccurrenceFilter(obligation=obligation_id, everything=True),
        )
        open_pairs = [(occ, ev) for occ, ev in pairs if not ev.status.is_final]
        planned = _plan_open(app, session, open_pairs, as_of)
        queued = 0 if dry_run else queue_reminders(app, session, planned, as_of)
        quiet = None if planned else why_quiet(as_of, app.calendar, app.settings.send_hour)
        year = local_date(as_of).year
        shown = [
            (o, e)
            for o, e in pairs
            if not e.status.is_final or o.period == str(year) or o.due.year == year
        ]
        items = [status_item(app, e) for _, e in shown]
        history = Counter(e.status for _, e in pairs)
        accountable = {occ.id: occ.requirement.leads for occ, _ in shown}
        if dry_run:
            session.rollback()
        else:
            session.commit()
    counts = Counter(Status(i["status"]) for i in items)
    # an obligation whose periods are all past and closed shows none this year: judge it by its history
    judged = counts or history
    title = app.catalogue.obligations[obligation_id].title if obligation_id else "全部事项"
    return CheckResult(
        obligation_id=obligation_id,
        title=title,
        as_of=as_of,
        dry_run=dry_run,
        items=items,
        counts={str(s): n for s, n in counts.items()},
        messages=[message_json(m) for m in planned],
        queued=queued,
        state_name=state_name(judged),
        summary=("" if counts else "本年度无期次；历史期次：")
        + summary(judged, len(planned) if dry_run else queued, dry_run)
        + (f"（{quiet}）" if quiet else ""),
        accountable=accountable,
    )

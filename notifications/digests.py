"""Digests: weekly to the coordinator, monthly to the supervisors.

Each is one message, queued at most once per period (ISO week / calendar month; a dedup key) by the
first run of the period that falls in the send window (a working day, from the send hour) and finds
items to report. The deployments run daily at half past the send hour, so that is normally the period's
first working day; a period with nothing to report sends nothing, and a later run of the period finding
items then still sends its digest.

The coordinator's digest lists what is overdue, behind pace or due soon. The supervisors' lists what has
escalated to them (an item reaches them once, when it escalates, then only here): never a duty marked
as the leading group's own (``escalate: false``), and not what they were sent individually in the last
7 days (a note counts those), so they are never given the same item twice in a week.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any, Literal

from shanhai.models.ladder import may_send, send_time_text
from shanhai.models.localtime import to_local
from shanhai.models.orchestration import MONTHLY_DIGEST_FLOW, WEEKLY_DIGEST_FLOW
from shanhai.models.progress import progress_phrase
from shanhai.models.statuses import Status
from shanhai.models.tables import utcnow
from shanhai.notifications.checking import (
    CheckResult,
    check_obligation,
    duty_summary,
    escalates,
    state_name,
    summary,
)
from shanhai.notifications.outbox import (
    configured_channels,
    coordinator_notes,
    documents_of,
    queue_once,
    render,
    sender_line,
    unit_code,
    view_link,
)

Audience = Literal["coordinator", "supervisor"]
SUPERVISOR_LEVEL = 2  # Evaluation.escalation_level from which an item has escalated to the supervisors
_WANTED = {
    "coordinator": {Status.OVERDUE, Status.BEHIND_PACE, Status.DUE_SOON},
    "supervisor": {Status.OVERDUE},
}


def _pending_reviews(app) -> int:
    from sqlalchemy import func, select
    from sqlmodel import col

    from shanhai.models.import_batches import visible_records
    from shanhai.models.statuses import RecordState
    from shanhai.models.tables import CompletionRecord

    with app.session() as session:
        return session.execute(
            select(func.count()).where(col(CompletionRecord.state) == RecordState.SUBMITTED, visible_records())
        ).scalar_one()


def _kind(app, obligation_id: str) -> str:
    ob = app.catalogue.obligations.get(obligation_id)
    return ob.kind if ob else ""


def digest_period(audience: Audience, as_of: datetime) -> str:
    """``2026-W48`` for the weekly digest, ``2026-11`` for the monthly one."""
    local = to_local(as_of)
    if audience == "coordinator":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.strftime("%Y-%m")


def digest_period_label(audience: Audience, as_of: datetime) -> str:
    """The period as a reader says it: ``2026年第48周`` (ISO week), ``2026年11月``."""
    local = to_local(as_of)
    if audience == "coordinator":
        year, week, _ = local.isocalendar()
        return f"{year}年第{week}周"
    return f"{local.year}年{local.month}月"


def _told_this_week(app, as_of: datetime) -> set[int]:
    """The occurrences the supervisors were sent individually (their escalation) in the 7 days up to
    ``as_of``, by the planned instants of the runs that queued them."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import OutboxItem, OutboxMessage

    with app.session() as session:
        rows = session.execute(
            select(col(OutboxItem.occurrence_id))
            .join(OutboxMessage, col(OutboxMessage.id) == col(OutboxItem.message_id))
            .where(
                col(OutboxItem.recipient) == app.catalogue.roles.supervisor,
                col(OutboxMessage.planned_at) > as_of - timedelta(days=7),
                col(OutboxMessage.planned_at) <= as_of,
            )
            .distinct()
        )
        return {occurrence for (occurrence,) in rows}


def _digest_items(app, result: CheckResult, audience: Audience, as_of: datetime) -> tuple[list[dict], list[str]]:
    """The items a digest lists and its notes. The supervisors' digest lists what has escalated to them
    (never the leading group's own duty), leaving out what they were sent individually this week: an item
    reaches them once when it escalates, then in their digest, never twice in a week."""
    wanted = [i for i in result.items if Status(i["status"]) in _WANTED[audience]]
    if audience == "coordinator":
        # read in the office's chat by whoever is on duty: the portal, never a command line
        pending = _pending_reviews(app)
        return wanted, [f"待核验的完成记录：{pending} 条" + ("（请在门户“核验队列”处理）" if pending else "")]
    escalated = [i for i in wanted if i["escalation_level"] >= SUPERVISOR_LEVEL and not i["unverified"]
                 and escalates(app, i["obligation"])]
    recent = _told_this_week(app, as_of)
    items = [i for i in escalated if i["id"] not in recent]
    skipped = len(escalated) - len(items)
    return items, [f"另有{skipped}项已于近7日单独督办，本通报不再重复列出。"] if skipped else []


def _item_payload(app, result: CheckResult, i: dict[str, Any], *, today: date, audience: Audience, label: str):
    due = date.fromisoformat(i["due"])
    return {
        "title": i["title"],
        "duty": duty_summary(app, i["obligation"]),
        "accountable": list(result.accountable.get(i["id"], ())),
        "clause": i["clause"] or "",
        "scope": i["scope"],
        "due": i["due"],
        "provisional": i["provisional_calendar"],
        "status": i["status"],
        "progress": progress_phrase(i["progress"], _kind(app, i["obligation"])),
        "working_days_left": app.calendar.working_days_between(today, due),
        "stage_label": label,
        "role": audience,
        "days_overdue": max(0, (today - due).days),
        "link": view_link(app, i["id"]),
    }


def _queue_digest(app, payload: dict[str, Any], *, audience: Audience, as_of: datetime) -> int:
    recipient = payload["recipient"]
    with app.session() as session:
        title, body = render(payload, limit_bytes=None)
        return int(
            queue_once(
                app,
                session,
                {
                    "kind": "digest",
                    "dedup_key": f"digest:{audience}:{digest_period(audience, as_of)}",
                    "recipient": recipient,
                    "recipient_code": unit_code(app, recipient),
                    "role": audience,
                    "stage": f"digest_{audience}",
                    "stage_label": payload["stage_label"],
                    "title": title,
                    "body": body,
                    "payload": json.dumps(payload, ensure_ascii=False),
                    "planned_at": as_of,
                    "created_at": utcnow(),
                },
            )
        )


def _message_json(payload: dict[str, Any], items: list[dict[str, Any]], audience: Audience) -> dict[str, Any]:
    """The digest as `remind --json`-style output shows it."""
    return {
        "recipient": payload["recipient"],
        "role": audience,
        "stage": f"digest_{audience}",
        "stage_label": payload["stage_label"],
        "items": [
            {
                "obligation": i["obligation"],
                "title": i["title"],
                "duty": p["duty"],
                "accountable": p["accountable"],
                "scope": i["scope"],
                "due": i["due"],
                "provisional_calendar": i["provisional_calendar"],
                "status": i["status"],
                "stage": f"digest_{audience}",
                "progress": p["progress"],
                "working_days_left": p["working_days_left"],
            }
            for i, p in zip(items, payload["items"], strict=True)
        ],
    }


def send_digest(app, *, audience: Audience, as_of: datetime, dry_run: bool = False) -> CheckResult:
    """The weekly coordinator digest or the monthly supervisor digest."""
    if not dry_run:
        configured_channels(app)  # a missing or broken channel file fails even when nothing is due
    result = check_obligation(app, None, as_of=as_of, dry_run=True)
    working = may_send(as_of, app.calendar, app.settings.send_hour)
    items, notes = _digest_items(app, result, audience, as_of)
    if audience == "coordinator":
        notes = [*notes, *coordinator_notes(app, as_of)]
    name = WEEKLY_DIGEST_FLOW if audience == "coordinator" else MONTHLY_DIGEST_FLOW
    label = f"{name}（{digest_period_label(audience, as_of)}）"
    payload: dict[str, Any] = {
        "recipient": getattr(app.catalogue.roles, audience),
        "role": audience,
        "stage_label": label,
        "title_label": label,
        "notes": notes,
        "document": documents_of(app, [(i["obligation"], int(str(i["period"])[:4])) for i in items]),
        "sender": sender_line(app),
        "board_link": f"{app.settings.portal_url}/",
        "items": [
            _item_payload(app, result, i, today=to_local(as_of).date(), audience=audience, label=label)
            for i in items
        ],
    }
    queued = _queue_digest(app, payload, audience=audience, as_of=as_of) if not dry_run and items and working else 0
    counts = Counter(Status(i["status"]) for i in items)
    return CheckResult(
        obligation_id=None,
        title=label,
        as_of=as_of,
        dry_run=dry_run,
        items=items,
        counts={str(s): n for s, n in counts.items()},
        messages=[_message_json(payload, items, audience)] if items and working else [],
        queued=queued,
        state_name=state_name(counts),
        summary=summary(counts, queued if not dry_run else int(bool(items and working)), dry_run)
        + ("" if working else f"（未到发送时间：摘要将于{send_time_text(as_of, app.calendar, app.settings.send_hour)} 起发出）"),
    )

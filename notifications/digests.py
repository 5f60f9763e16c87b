"""Digests: weekly to the coordinator, monthly to the supervisors.

Each is one message, queued at most once per period (ISO week / calendar month; a dedup key) by the
first run of the period that falls in the send window (a working day, from the send hour) and finds
items to report. The deployments run daily at half past the send hour, so that is normally the period's
first working day; a period with nothing to report sends nothing, and a later run of the period finding
items then still sends its digest.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from typing import Any, Literal

from shanhai.models.ladder import may_send, send_time_text
from shanhai.models.localtime import to_local
from shanhai.models.progress import progress_text
from shanhai.models.statuses import Status
from shanhai.models.tables import utcnow
from shanhai.notifications.checking import CheckResult, check_obligation, state_name, summary
from shanhai.notifications.outbox import (
    configured_channels,
    documents_of,
    queue_once,
    render,
    sender_line,
    unit_code,
    view_link,
)

Audience = Literal["coordinator", "supervisor"]
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


def send_digest(app, *, audience: Audience, as_of: datetime, dry_run: bool = False) -> CheckResult:
    """The weekly coordinator digest or the monthly supervisor digest."""
    if not dry_run:
        configured_channels(app)  # a missing or broken channel file fails even when nothing is due
    result = check_obligation(app, None, as_of=as_of, dry_run=True)
    working = may_send(as_of, app.calendar, app.settings.send_hour)
    today = to_local(as_of).date()
    items = [i for i in result.items if Status(i["status"]) in _WANTED[audience]]
    period = digest_period(audience, as_of)
    recipient = getattr(app.catalogue.roles, audience)
    label = f"{'每周督办摘要' if audience == 'coordinator' else '每月逾期通报'}（{digest_period_label(audience, as_of)}）"
    notes = []
    if audience == "coordinator":
        # read in the office's chat by whoever is on duty: the portal, never a command line
        pending = _pending_reviews(app)
        notes.append(f"待核验的完成记录：{pending} 条" + ("（请在门户“核验队列”处理）" if pending else ""))
    payload: dict[str, Any] = {
        "recipient": recipient,
        "role": audience,
        "stage_label": label,
        "title_label": label,
        "notes": notes,
        "document": documents_of(app, [i["obligation"] for i in items]),
        "sender": sender_line(app),
        "board_link": f"{app.settings.portal_url}/",
        "items": [
            {
                "title": i["title"],
                "clause": i["clause"] or "",
                "scope": i["scope"],
                "due": i["due"],
                "provisional": i["provisional_calendar"],
                "status": i["status"],
                "progress": progress_text(i["progress"]),
                "working_days_left": app.calendar.working_days_between(today, date.fromisoformat(i["due"])),
                "stage_label": label,
                "role": audience,
                "days_overdue": max(0, (today - date.fromisoformat(i["due"])).days),
                "link": view_link(app, i["id"]),
            }
            for i in items
        ],
    }
    queued = 0
    if not dry_run and items and working:
        with app.session() as session:
            title, body = render(payload, limit_bytes=None)
            if queue_once(
                app,
                session,
                {
                    "kind": "digest",
                    "dedup_key": f"digest:{audience}:{period}",
                    "recipient": recipient,
                    "recipient_code": unit_code(app, recipient),
                    "role": audience,
                    "stage": f"digest_{audience}",
                    "stage_label": label,
                    "title": title,
                    "body": body,
                    "payload": json.dumps(payload, ensure_ascii=False),
                    "planned_at": as_of,
                    "created_at": utcnow(),
                },
            ):
                queued = 1
    counts = Counter(Status(i["status"]) for i in items)
    message = {
        "recipient": recipient,
        "role": audience,
        "stage": f"digest_{audience}",
        "stage_label": label,
        "items": [
            {
                "obligation": i["obligation"],
                "title": i["title"],
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
    return CheckResult(
        obligation_id=None,
        title=label,
        as_of=as_of,
        dry_run=dry_run,
        items=items,
        counts={str(s): n for s, n in counts.items()},
        messages=[message] if items and working else [],
        queued=queued,
        state_name=state_name(counts),
        summary=summary(counts, queued if not dry_run else int(bool(items and working)), dry_run)
        + ("" if working else f"（未到发送时间：摘要将于{send_time_text(as_of, app.calendar, app.settings.send_hour)} 起发出）"),
    )

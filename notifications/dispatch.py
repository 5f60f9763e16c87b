"""The thin I/O shell around the pure planner: evaluate, plan, write the outbox, deliver.

Exactly-once: every (occurrence, stage, recipient) is an OutboxItem under a unique key, written
before delivery with INSERT … ON CONFLICT DO NOTHING, so two concurrent runs cannot both queue it.
Each delivery is claimed with a conditional UPDATE and its row count checked (the Healthchecks way),
so it is sent at most once. A claim left behind by a killed process may or may not have reached the
channel; after CLAIM_LEASE it is not re-sent blindly but marked failed ("result unknown") and reported
to the coordinator, so nothing is lost silently and nothing goes out twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pendulum
from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from shanhai.db import insert_ignore
from shanhai.models.ladder import ReminderLadder
from shanhai.models.localtime import local_date
from shanhai.models.status import LABELS, OccurrenceRow, progress_text
from shanhai.models.store import OccurrenceFilter, audit, load_evaluations
from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage, utcnow
from shanhai.notifications.planner import PlanItem, PlannedMessage, plan

CLOSED = {"done", "done_late", "waived"}
_LIMITER = None  # one per process, so a robot's per-minute window carries over between deliveries
CLAIM_LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 6
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
STATE_NAMES = (("overdue", "Overdue"), ("behind_pace", "BehindPace"), ("due_soon", "DueSoon"))


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


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    kept_local: int = 0
    held: int = 0  # due, but outside working hours: they go at the next working day's send hour
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        text = f"已发送 {self.sent} 条，待重试 {self.retrying} 条，失败 {self.failed} 条，仅存本地 {self.kept_local} 条"
        return text + (f"；非工作时间，{self.held} 条待下一个工作日发送" if self.held else "")


def _state_name(counts: Counter) -> str:
    for status, name in STATE_NAMES:
        if counts.get(status):
            return name
    if not counts:
        return "NoOccurrences"  # nothing has started yet (e.g. a duty whose first year is ahead)
    if all(s in CLOSED for s in counts):
        return "AllDone"
    return "AllOnTrack"


def _summary(counts: Counter, queued: int, dry_run: bool) -> str:
    order = ("overdue", "behind_pace", "due_soon", "on_track", "done_late", "done", "waived")
    parts = [f"{LABELS[s]} {counts[s]} 项" for s in order if counts.get(s)]
    verb = "计划发送" if dry_run else "新入发件箱"
    return ("，".join(parts) or "尚无期次") + f"；{verb} {queued} 条"


def _status_item(app, ev) -> dict[str, Any]:
    from shanhai.models.queries import title_and_clause

    return ev.as_item(*title_and_clause(app.catalogue, ev.obligation_id))


def _already_sent(session: Session, occurrence_ids: list[int]) -> set[tuple[int, str, str]]:
    if not occurrence_ids:
        return set()
    rows = session.execute(
        select(OutboxItem.occurrence_id, OutboxItem.stage, OutboxItem.recipient).where(
            OutboxItem.occurrence_id.in_(occurrence_ids)
        )
    )
    return {tuple(r) for r in rows}


def _insert_ignore(session: Session, model, values: dict[str, Any]) -> bool:
    """True when this call wrote the row (the unique key was free)."""
    return insert_ignore(session, model, values) == 1


def check_obligation(
    app, obligation_id: str | None, *, as_of: datetime, dry_run: bool = False
) -> CheckResult:
    """Evaluate one obligation's occurrences (None: all) and queue the reminders due at as_of."""
    if obligation_id is not None and obligation_id not in app.catalogue.obligations:
        raise ValueError(f"unknown obligation '{obligation_id}'")
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
        open_ids = [occ.id for occ, ev in pairs if ev.status not in CLOSED]
        planned = plan(
            (_plan_item(app, occ, ev) for occ, ev in pairs if ev.status not in CLOSED),
            as_of=as_of,
            cal=app.calendar,
            coordinator=app.catalogue.roles.coordinator,
            supervisor=app.catalogue.roles.supervisor,
            already_sent=_already_sent(session, open_ids),
            send_hour=app.settings.send_hour,
        )
        queued = 0 if dry_run else _queue(app, session, planned, as_of)
        year = local_date(as_of).year
        shown = [
            (o, e) for o, e in pairs if e.status not in CLOSED or o.period == str(year) or o.due.year == year
        ]
        items = [_status_item(app, e) for _, e in shown]
        history = Counter(e.status for _, e in pairs)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    counts = Counter(i["status"] for i in items)
    # an obligation whose periods are all past and closed shows none this year: judge it by its history
    judged = counts or history
    title = app.catalogue.obligations[obligation_id].title if obligation_id else "全部事项"
    return CheckResult(
        obligation_id=obligation_id,
        title=title,
        as_of=as_of,
        dry_run=dry_run,
        items=items,
        counts=dict(counts),
        messages=[_message_json(m) for m in planned],
        queued=queued,
        state_name=_state_name(judged),
        summary=("" if counts else "本年度无期次；历史期次：")
        + _summary(judged, len(planned) if dry_run else queued, dry_run),
    )


def _plan_item(app, occ: OccurrenceRow, ev) -> PlanItem:
    req = occ.requirement
    ob = app.catalogue.obligations.get(occ.obligation_id)
    return PlanItem(
        occurrence_id=occ.id,
        obligation_id=occ.obligation_id,
        title=ob.title if ob else occ.obligation_id,
        clause=ob.clause if ob else "",
        scope=occ.scope,
        due=occ.due,
        status=ev.status,
        responsible=tuple(req["responsible"]),
        progress=progress_text(ev.progress),
        ladder=ReminderLadder.from_mapping(req.get("ladder")),
    )


def _message_json(m: PlannedMessage) -> dict[str, Any]:
    return {
        "recipient": m.recipient,
        "role": m.role,
        "stage": m.stage.name,
        "stage_label": m.stage.label,
        "items": [
            {
                "obligation": i.obligation_id,
                "title": i.title,
                "scope": i.scope,
                "due": i.due.isoformat(),
                "status": i.status,
                "stage": i.stage.name,
                "progress": i.progress,
                "working_days_left": i.working_days_left,
            }
            for i in m.items
        ],
    }


def _unit_code(app, name: str) -> str:
    unit = app.catalogue.unit(name)
    return unit.code if unit else hashlib.sha256(name.encode()).hexdigest()[:12]


def configured_channels(app):
    """Unit code -> channels, validated (raises ChannelConfigError naming the unit)."""
    from shanhai.notifications.channels import load_channels

    known = {u.code: u.name for u in app.catalogue.units.values()}
    return load_channels(app.settings.apprise_config, environ=os.environ, known_units=known)


def _render_items(app, recipient_code: str, items, as_of: datetime) -> list[dict[str, Any]]:
    from shanhai.notifications.links import sign_report_link

    secret = app.settings.signing_secret()
    return [
        {
            "title": i.title,
            "clause": i.clause,
            "scope": i.scope,
            "due": i.due.isoformat(),
            "status": i.status,
            "progress": i.progress,
            "working_days_left": i.working_days_left,
            "stage_label": i.stage.label,
            "link": sign_report_link(
                base_url=app.settings.portal_url,
                occurrence_id=i.occurrence_id,
                unit_code=recipient_code,
                secret=secret,
                issued_at=as_of,
            ),
        }
        for i in items
    ]


def render(payload: dict[str, Any], *, limit_bytes: int | None) -> tuple[str, str]:
    from shanhai.notifications.render import RenderItem, render_message

    items = [RenderItem(**{**i, "due": date.fromisoformat(i["due"])}) for i in payload["items"]]
    return render_message(
        recipient=payload["recipient"],
        role=payload["role"],
        items=items,
        stage_label=payload["stage_label"],
        board_link=payload["board_link"],
        limit_bytes=limit_bytes,
    )


def channel_key(app, url: str) -> str:
    """Identifies a channel without storing a reversible trace of its secrets (keyed hash)."""
    return hmac.new(app.settings.signing_secret().encode(), url.encode(), hashlib.sha256).hexdigest()


def in_working_hours(app, instant: datetime) -> bool:
    """Messages leave only on working days from the send hour (SPEC §3), retries and digests too."""
    local = pendulum.instance(instant).in_timezone("Asia/Shanghai")
    return app.calendar.is_working_day(local.date()) and local.hour >= app.settings.send_hour


def _add_deliveries(app, session: Session, message_id: int, channels) -> None:
    if not channels:
        # nothing configured for this unit: the message stays in the local outbox, nothing leaves the machine
        _insert_ignore(
            session,
            Delivery,
            {
                "message_id": message_id,
                "channel_key": "local",
                "channel_label": "本地发件箱",
                "status": "local",
            },
        )
        return
    for ch in channels:
        _insert_ignore(
            session,
            Delivery,
            {
                "message_id": message_id,
                "channel_key": channel_key(app, ch.url),
                "channel_label": ch.masked_url[:255],
                "status": "pending",
            },
        )


def _queue_once(app, session: Session, values: dict[str, Any]) -> bool:
    """A message under its dedup key (a digest's period, a failure's delivery), with its deliveries;
    False when it was queued before."""
    if not _insert_ignore(session, OutboxMessage, values):
        return False
    msg_id = session.execute(
        select(OutboxMessage.id).where(OutboxMessage.dedup_key == values["dedup_key"])
    ).scalar_one()
    _add_deliveries(app, session, msg_id, configured_channels(app).get(values["recipient_code"], []))
    return True


def _queue(app, session: Session, planned: list[PlannedMessage], as_of: datetime) -> int:
    channels = configured_channels(app) if planned else {}
    queued = 0
    for m in planned:
        with session.begin_nested() as savepoint:
            msg = OutboxMessage(
                kind="reminder",
                recipient=m.recipient,
                recipient_code=_unit_code(app, m.recipient),
                role=m.role,
                stage=m.stage.name,
                stage_label=m.stage.label,
                title="",
                body="",
                payload="{}",
                planned_at=as_of,
            )
            session.add(msg)
            session.flush()
            won = [
                i
                for i in m.items
                if _insert_ignore(
                    session,
                    OutboxItem,
                    {
                        "message_id": msg.id,
                        "occurrence_id": i.occurrence_id,
                        "stage": i.stage.name,
                        "recipient": m.recipient,
                    },
                )
            ]
            if not won:  # a concurrent run queued every item first
                savepoint.rollback()
                continue
            payload = {
                "recipient": m.recipient,
                "role": m.role,
                "stage_label": m.stage.label,
                "board_link": f"{app.settings.portal_url}/units/{msg.recipient_code}",
                "items": _render_items(app, msg.recipient_code, won, as_of),
            }
            msg.title, msg.body = render(payload, limit_bytes=None)
            msg.payload = json.dumps(payload, ensure_ascii=False)
            _add_deliveries(app, session, msg.id, channels.get(msg.recipient_code, []))
            queued += 1
    if queued:
        audit(
            session=session,
            actor="engine",
            action="outbox.queued",
            entity="outbox",
            entity_id="*",
            messages=queued,
            as_of=as_of.isoformat(),
        )
    return queued


def send_digest(
    app, *, audience: Literal["coordinator", "supervisor"], as_of: datetime, dry_run: bool = False
) -> CheckResult:
    """The weekly coordinator digest or the monthly supervisor digest: one message, once per period,
    on the period's first working day at or after the send hour (the deployments run it daily)."""
    result = check_obligation(app, None, as_of=as_of, dry_run=True)
    working = in_working_hours(app, as_of)
    local = pendulum.instance(as_of).in_timezone("Asia/Shanghai")
    wanted = {"overdue", "behind_pace", "due_soon"} if audience == "coordinator" else {"overdue"}
    items = [i for i in result.items if i["status"] in wanted]
    period = (
        f"{local.isocalendar()[0]}-W{local.isocalendar()[1]:02d}"
        if audience == "coordinator"
        else local.format("YYYY-MM")
    )
    recipient = getattr(app.catalogue.roles, audience)
    code = _unit_code(app, recipient)
    label = f"{'每周督办摘要' if audience == 'coordinator' else '每月逾期通报'}（{period}）"
    payload = {
        "recipient": recipient,
        "role": audience,
        "stage_label": label,
        "board_link": f"{app.settings.portal_url}/",
        "items": [
            {
                "title": i["title"],
                "clause": i["clause"] or "",
                "scope": i["scope"],
                "due": i["due"],
                "status": i["status"],
                "progress": progress_text(i["progress"]),
                "working_days_left": app.calendar.working_days_between(
                    local.date(), date.fromisoformat(i["due"])
                ),
                "stage_label": label,
                "link": f"{app.settings.portal_url}/occurrences/{i['id']}",
            }
            for i in items
        ],
    }
    queued = 0
    if not dry_run and items and working:
        with app.session() as session:
            title, body = render(payload, limit_bytes=None)
            if _queue_once(
                app,
                session,
                {
                    "kind": "digest",
                    "dedup_key": f"digest:{audience}:{period}",
                    "recipient": recipient,
                    "recipient_code": code,
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
    counts = Counter(i["status"] for i in items)
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
        counts=dict(counts),
        messages=[message] if items and working else [],
        queued=queued,
        state_name=_state_name(counts),
        summary=_summary(counts, queued if not dry_run else int(bool(items and working)), dry_run)
        + ("" if working else "（非工作时间：摘要在下一个工作日发出）"),
    )


# --------------------------------------------------------------------------- delivery


def _claim(session: Session, delivery_id: int, now: datetime, token: str) -> bool:
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status.in_(("pending", "retry")),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .values(status="sending", claimed_at=now, claim_token=token, attempts=Delivery.attempts + 1)
    )
    session.commit()
    return result.rowcount == 1


def _due_deliveries(session: Session, now: datetime, limit: int) -> list[tuple[int, str, str, int]]:
    q = (
        select(
            Delivery.id,
            Delivery.channel_key,
            OutboxMessage.kind,
            OutboxMessage.id,
            OutboxMessage.recipient_code,
        )
        .join(OutboxMessage, OutboxMessage.id == Delivery.message_id)
        .where(
            Delivery.status.in_(("pending", "retry")),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    return [tuple(r) for r in session.execute(q)]


def _expire_abandoned_claims(app, session: Session, now: datetime) -> int:
    """Claims older than the lease belong to a worker that died mid-send: report, don't resend."""
    stale = session.execute(
        select(Delivery.id, Delivery.claim_token).where(
            Delivery.status == "sending", Delivery.claimed_at < now - CLAIM_LEASE
        )
    ).all()
    expired = 0
    for delivery_id, token in stale:
        won = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.claim_token == token)
            .values(
                status="failed",
                last_error="投递中断，结果未知（可能已送达），未自动重发 interrupted, outcome unknown",
            )
        ).rowcount
        if won == 1:
            d = session.get(Delivery, delivery_id)
            _report_failure(app, session, d, session.get(OutboxMessage, d.message_id))
            expired += 1
        session.commit()
    return expired


def deliver_outbox(
    app, *, as_of: datetime | None = None, limit: int = 500, workers: int = 8, sleep=time.sleep
) -> DeliveryReport:
    """Deliver every due delivery, channels concurrently; each delivery is claimed before it is sent.

    Reminders queued for one channel by several check runs (one per obligation) go out as ONE
    message listing all their items; digests and failure reports go out on their own.
    """
    from shanhai.db import get_engine

    now = as_of or pendulum.now("UTC")
    app.migrate()
    engine = get_engine(app.database_url)
    with Session(engine) as session:
        abandoned = _expire_abandoned_claims(app, session, now)
        due = _due_deliveries(session, now, limit)
        local = session.execute(select(func.count()).where(Delivery.status == "local")).scalar_one()
    report = DeliveryReport(kept_local=local, failed=abandoned)
    if not due:
        return report
    if not in_working_hours(app, now):
        report.held = len(due)
        return report
    groups: dict[tuple, list[int]] = {}
    for delivery_id, key_of_channel, kind, message_id, recipient_code in due:
        # a unit's reminders on one channel go as one message; a chat shared by two units gets one each
        key = (recipient_code, key_of_channel) if kind == "reminder" else (key_of_channel, message_id)
        groups.setdefault(key, []).append(delivery_id)
    channels = {channel_key(app, c.url): c for cs in configured_channels(app).values() for c in cs}
    limiter = _rate_limiter()
    token = secrets.token_hex(8)

    def send_group(delivery_ids: list[int]) -> list[tuple[str, dict[str, Any]]]:
        with Session(engine, expire_on_commit=False) as s:
            claimed = [i for i in delivery_ids if _claim(s, i, now, token)]  # others belong to another worker
            if not claimed:
                return []
            deliveries = [s.get(Delivery, i) for i in claimed]
            messages = [s.get(OutboxMessage, d.message_id) for d in deliveries]
            s.commit()  # hold no transaction (on SQLite: no write lock) while the channel answers
            return _attempt(
                token,
                app,
                s,
                deliveries,
                messages,
                channels.get(deliveries[0].channel_key),
                limiter,
                sleep,
                now,
            )

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(groups)))) as pool:
        for outcomes in pool.map(send_group, groups.values()):
            for status, detail in outcomes:
                report.details.append(detail)
                if status == "sent":
                    report.sent += 1
                elif status == "retry":
                    report.retrying += 1
                else:
                    report.failed += 1
    return report


def _rate_limiter():
    global _LIMITER
    if _LIMITER is None:
        from shanhai.notifications.transport import RateLimiter

        _LIMITER = RateLimiter()
    return _LIMITER


_STAGE_ORDER = ("before_", "due", "overdue_", "repeat_")


def _stage_weight(stage: str) -> tuple[int, int]:
    phase = next((i for i, p in enumerate(_STAGE_ORDER) if stage.startswith(p)), -1)
    digits = "".join(c for c in stage if c.isdigit())
    number = int(digits) if digits else 0
    return (phase, -number if phase == 0 else number)  # 30 days before is earlier than 7 days before


def merged_payload(messages: list[OutboxMessage]) -> dict[str, Any]:
    """One recipient's queued reminders as one message: all items, labelled by the most advanced stage."""
    payloads = [json.loads(m.payload) for m in messages]
    if len(payloads) == 1:
        return payloads[0]
    lead = max(zip(messages, payloads, strict=True), key=lambda mp: _stage_weight(mp[0].stage))[1]
    return {**lead, "items": [item for p in payloads for item in p["items"]]}


def _attempt(
    token: str,
    app,
    s: Session,
    deliveries: list[Delivery],
    messages: list[OutboxMessage],
    channel,
    limiter,
    sleep,
    now,
) -> list[tuple[str, dict]]:
    from shanhai.notifications.transport import DeliveryError, body_limit, deliver

    error: DeliveryError | None = None
    if channel is None:
        error = DeliveryError("渠道已不在配置中 channel no longer configured")
        error.permanent = True
    else:
        try:
            title, body = render(merged_payload(messages), limit_bytes=body_limit(channel))
            wait = limiter.acquire(channel)
            if wait:
                sleep(wait)
            deliver(channel, title=title, body=body)
        except DeliveryError as exc:
            error = exc
    outcomes = []
    for d, msg in zip(deliveries, messages, strict=True):
        if error is None:
            values = {"status": "sent", "sent_at": utcnow(), "last_error": None}
        elif error.permanent or d.attempts >= MAX_ATTEMPTS:
            values = {"status": "failed", "last_error": str(error)[:2000]}
        else:
            values = {
                "status": "retry",
                "last_error": str(error)[:2000],
                "next_attempt_at": now + BACKOFF[min(d.attempts, len(BACKOFF)) - 1],
            }
        # write the outcome only while the claim is still ours (a lease expiry may have taken it)
        held = s.execute(
            update(Delivery)
            .where(Delivery.id == d.id, Delivery.status == "sending", Delivery.claim_token == token)
            .values(**values)
        ).rowcount
        if held != 1:
            continue
        for k, v in values.items():
            setattr(d, k, v)
        if d.status == "failed":
            _report_failure(app, s, d, msg)
        audit(
            session=s,
            actor="engine",
            action=f"delivery.{d.status}",
            entity="delivery",
            entity_id=str(d.id),
            attempts=d.attempts,
            error=d.last_error,
            sent_with=[x.id for x in deliveries],
        )
        outcomes.append(
            (
                d.status,
                {
                    "delivery": d.id,
                    "message": msg.id,
                    "recipient": msg.recipient,
                    "channel": d.channel_label,
                    "status": d.status,
                    "error": d.last_error,
                },
            )
        )
    s.commit()
    return outcomes


def _report_failure(app, s: Session, d: Delivery, msg: OutboxMessage) -> None:
    """A message that cannot be delivered is itself reported to the coordinator (never recursively)."""
    if msg.kind == "delivery_failure":
        return
    coordinator = app.catalogue.roles.coordinator
    code = _unit_code(app, coordinator)
    label = "消息无法送达"
    payload = {
        "recipient": coordinator,
        "role": "coordinator",
        "stage_label": label,
        "board_link": f"{app.settings.portal_url}/outbox",
        "items": json.loads(msg.payload).get("items", []),
    }
    body = (
        f"发给 {msg.recipient} 的消息 #{msg.id}（{msg.stage_label}）经 {d.channel_label} 无法送达，"
        f"已尝试 {d.attempts} 次：{d.last_error}"
    )
    _queue_once(
        app,
        s,
        {
            "kind": "delivery_failure",
            "dedup_key": f"failure:{d.id}",
            "recipient": coordinator,
            "recipient_code": code,
            "role": "coordinator",
            "stage": "delivery_failure",
            "stage_label": label,
            "title": f"【山海协作】{label}",
            "body": body,
            "payload": json.dumps(payload, ensure_ascii=False),
            "planned_at": utcnow(),
            "created_at": utcnow(),
        },
    )

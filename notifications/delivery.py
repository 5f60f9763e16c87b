"""Delivering the outbox: claim, send, record the outcome.

Each delivery is claimed with a conditional UPDATE and its row count checked (the Healthchecks way),
so it is sent at most once however many workers run. A claim left behind by a killed process may or
may not have reached the channel; after CLAIM_LEASE it is not re-sent blindly but marked ``unknown``
(结果未知（可能已送达）) and reported to the coordinator: nothing is lost silently, nothing goes out twice.
The same holds for a request that went out and got no answer (a read timeout, a reset after sending):
only a request that never left (refused, connect timeout) or was answered 5xx/408/429 is retried.
Everything one run could not deliver reaches the coordinator as ONE report (robots take 20 a minute).

Claims are stamped with the real clock, never with a previewed ``as_of``, so workers agree on leases.
Robots that limit messages per minute (DingTalk and WeCom: 20 a minute) are held to it across
processes: the limit is read from the outbox's own claim times for that channel, checked and claimed in
one transaction (serialised per channel on PostgreSQL by an advisory lock).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from shanhai.models.audit import audit
from shanhai.models.ladder import may_send, send_time_text
from shanhai.models.tables import Delivery, OutboxMessage
from shanhai.notifications.failure_report import report_failures
from shanhai.notifications.outbox import channel_keys, configured_channels, render
from shanhai.notifications.planner import ROLE_ORDER, Role

CLAIM_LEASE = timedelta(minutes=10)
#: Stored with a delivery that may have reached its channel: the lease case and a timeout after sending.
UNKNOWN_OUTCOME = "结果未知（可能已送达），未自动重发"
LEASE_EXPIRED = f"投递中断，{UNKNOWN_OUTCOME} interrupted, outcome unknown"
MAX_ATTEMPTS = 6
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
MAX_RATE_WAIT = 70.0  # seconds a run waits for a robot's per-minute budget; beyond it the next run sends


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    kept_local: int = 0
    held: int = 0  # due, but outside the send window (a day off, or before the send hour)
    held_until: str = ""  # when they leave: "今天北京时间 09:00", "下一个工作日 … 北京时间 09:00"
    deferred: int = 0  # a robot's per-minute budget was spent: the next run sends them
    unknown: int = 0  # of the failed: the request went out unanswered, or its worker died (maybe delivered)
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        text = f"已发送 {self.sent} 条，待重试 {self.retrying} 条，失败 {self.failed} 条"
        if self.unknown:
            text += f"（其中结果未知 {self.unknown} 条：可能已送达，未自动重发，已报告协调单位）"
        text += f"，仅存本地 {self.kept_local} 条"
        if self.deferred:
            text += f"；机器人每分钟限额已满，{self.deferred} 条下一轮发送"
        return text + (f"；未到发送时间，{self.held} 条将于{self.held_until} 起发送" if self.held else "")


def _due_deliveries(session: Session, now: datetime, limit: int) -> list[tuple[int, str, str, int, str]]:
    """(delivery id, channel key, message kind, message id, recipient code) of what may be sent now."""
    q = (
        select(
            col(Delivery.id),
            col(Delivery.channel_key),
            col(OutboxMessage.kind),
            col(OutboxMessage.id),
            col(OutboxMessage.recipient_code),
        )
        .join(OutboxMessage, col(OutboxMessage.id) == col(Delivery.message_id))
        .where(_sendable(now))
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    return [(d, k, kind, m, code) for d, k, kind, m, code in session.execute(q)]


def _sendable(now: datetime) -> ColumnElement[bool]:
    """Waiting to be sent (first time or retry) and due by ``now``."""
    return and_(
        col(Delivery.status).in_(("pending", "retry")),
        or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
    )


def _rate_wait(session: Session, key: str, windows: tuple[tuple[int, float], ...], now: datetime) -> float:
    """Seconds until this channel may take one more message, from the claims already made on it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
    longest = max(span for _, span in windows)
    # one claim token is one message on the wire (a unit's merged reminders share it)
    rows = session.execute(
        select(func.min(col(Delivery.claimed_at)))
        .where(col(Delivery.channel_key) == key, col(Delivery.claimed_at) >= now - timedelta(seconds=longest))
        .group_by(col(Delivery.claim_token))
    ).scalars()
    sent = sorted(_aware(t) for t in rows if t is not None)
    wait = 0.0
    for count, span in windows:
        recent = [t for t in sent if t > now - timedelta(seconds=span)]
        if len(recent) >= count:
            wait = max(wait, (recent[-count] + timedelta(seconds=span) - now).total_seconds())
    return wait


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _claim_group(
    session: Session,
    delivery_ids: list[int],
    *,
    due_at: datetime,
    now: datetime,
    token: str,
    rate: tuple[str, tuple[tuple[int, float], ...]] | None,
) -> tuple[list[int], float]:
    """Claim what is still unclaimed of one group, in one transaction: (claimed ids, seconds to wait
    first when the channel's per-minute budget is spent, in which case nothing is claimed)."""
    try:
        if rate:
            wait = _rate_wait(session, *rate, now)
            if wait > 0:
                session.rollback()
                return [], wait
        # one conditional UPDATE: the rows it does not return belong to another worker
        claimed = session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(delivery_ids), _sendable(due_at))
            .values(status="sending", claimed_at=now, claim_token=token, attempts=Delivery.attempts + 1)
            .returning(col(Delivery.id))
            .execution_options(synchronize_session=False)
        ).scalars().all()
        session.commit()
        return sorted(claimed), 0.0
    except BaseException:
        session.rollback()
        raise


def _expire_abandoned_claims(session: Session, now: datetime) -> list[tuple[Delivery, OutboxMessage]]:
    """Claims older than the lease belong to a worker that died mid-send: the message may have gone out.
    They are marked unknown in one statement (a concurrent run's UPDATE finds them taken), never resent;
    the caller reports them in the same transaction."""
    expired = list(
        session.execute(
            update(Delivery)
            .where(col(Delivery.status) == "sending", col(Delivery.claimed_at) < now - CLAIM_LEASE)
            .values(status="unknown", last_error=LEASE_EXPIRED)
            .returning(col(Delivery.id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if not expired:
        return []
    rows = session.execute(
        select(Delivery, OutboxMessage)
        .join(OutboxMessage, col(OutboxMessage.id) == col(Delivery.message_id))
        .where(col(Delivery.id).in_(expired))
        .order_by(col(Delivery.id))
        .execution_options(populate_existing=True)
    ).all()
    return [(d, m) for d, m in rows]


def merged_payload(messages: list[OutboxMessage]) -> dict[str, Any]:
    """One recipient's queued reminders as one message: all items, labelled by the most advanced stage
    and addressed in the recipient's lowest role among them (牵头 before 配合 …), as the planner does."""
    payloads = [json.loads(m.payload) for m in messages]
    if len(payloads) == 1:
        return payloads[0]
    lead = max(payloads, key=lambda p: p.get("stage_rank", -1))
    role = min((Role(p["role"]) for p in payloads), key=ROLE_ORDER.__getitem__)
    documents = [d for p in payloads for d in p.get("document", "").split("、") if d]
    return {
        **lead,
        "role": str(role),
        "document": "、".join(dict.fromkeys(documents)),
        "notes": list(dict.fromkeys(n for p in payloads for n in p.get("notes", ()))),
        "items": [item for p in payloads for item in p["items"]],
    }


@dataclass(frozen=True)
class _Run:
    """What every send of one deliver run shares."""

    app: Any
    engine: Any
    channels: dict[str, Any]  # channel key -> Channel
    due_at: datetime
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]


@dataclass(frozen=True)
class _Final:
    """A delivery that will not be tried again (failed, or outcome unknown), still claimed by its send: its
    outcome is written with the run's one failure report, so no failure is stored unreported (a crash
    before then leaves the claim to the lease, which reports it as unknown)."""

    delivery: Delivery
    message: OutboxMessage
    token: str
    values: dict[str, Any]
    sent_with: list[int | None]


def deliver_outbox(
    app,
    *,
    limit: int = 500,
    workers: int = 8,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Deliver every due delivery, channels concurrently; each delivery is claimed before it is sent.
    Delivery follows the app's real clock (``app.clock``): a preview never sends or stamps anything.

    Reminders queued for one channel by several check runs (one per obligation) go out as ONE
    message listing all their items; digests and failure reports go out on their own. What cannot be
    delivered in one run reaches the coordinator as ONE report listing it all.
    """
    from shanhai.db import get_engine

    clock = app.clock
    due_at = clock()
    configured = configured_channels(app)  # a configured file that is missing or broken fails every run
    app.migrate()
    engine = get_engine(app.database_url)
    with Session(engine) as session:
        due = _due_deliveries(session, due_at, limit)
        local = session.execute(select(func.count()).where(col(Delivery.status) == "local")).scalar_one()
    report = DeliveryReport(kept_local=local)
    channels = {key: c for cs in configured.values() for c in cs for key in channel_keys(app, c.url)}
    run = _Run(app, engine, channels, due_at, clock, sleep)
    sendable = bool(due) and may_send(due_at, app.calendar, app.settings.send_hour)
    if due and not sendable:
        report.held = len(due)
        report.held_until = send_time_text(due_at, app.calendar, app.settings.send_hour)
    finals = _send_due(run, due, workers, report) if sendable else []
    _count(report, _settle(run, finals))  # also in a run that sent nothing: claims a killed run left behind
    return report


def _send_due(
    run: _Run, due: list[tuple[int, str, str, int, str]], workers: int, report: DeliveryReport
) -> list[_Final]:
    """Send the due deliveries, channels concurrently; what will not be tried again, for :func:`_settle`."""
    groups: dict[tuple, list[int]] = {}
    for delivery_id, key_of_channel, kind, message_id, recipient_code in due:
        # a unit's reminders on one channel go as one message; a chat shared by two units gets one each
        key = (recipient_code, key_of_channel) if kind == "reminder" else (key_of_channel, message_id)
        groups.setdefault(key, []).append(delivery_id)
    finals: list[_Final] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(groups)))) as pool:
        for outcomes, group_finals in pool.map(lambda ids: _send_group(run, ids), groups.values()):
            _count(report, outcomes)
            finals.extend(group_finals)
    return finals


def _count(report: DeliveryReport, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
    for status, detail in outcomes:
        if status == "deferred":
            report.deferred += len(detail["deliveries"])
            continue
        report.details.append(detail)
        if status == "sent":
            report.sent += 1
        elif status == "retry":
            report.retrying += 1
        else:
            report.failed += 1
            report.unknown += status == "unknown"


def _send_group(run: _Run, delivery_ids: list[int]) -> tuple[list[tuple[str, dict[str, Any]]], list[_Final]]:
    """Claim one group (waiting for a robot's per-minute budget, up to MAX_RATE_WAIT) and send it."""
    from shanhai.notifications.transport import DEFAULT_RATE_LIMITS

    token = secrets.token_hex(8)
    with Session(run.engine, expire_on_commit=False) as s:
        key = s.execute(select(col(Delivery.channel_key)).where(col(Delivery.id) == delivery_ids[0])).scalar_one()
        s.rollback()
        channel = run.channels.get(key)
        windows = DEFAULT_RATE_LIMITS.get(channel.scheme) if channel else None
        waited = 0.0
        while True:
            claimed, wait = _claim_group(
                s, delivery_ids, due_at=run.due_at, now=run.clock(), token=token,
                rate=(key, tuple(windows)) if windows else None,
            )
            if not wait:
                break
            if waited + wait > MAX_RATE_WAIT:
                return [("deferred", {"deliveries": delivery_ids})], []
            run.sleep(wait)
            waited += wait
        if not claimed:
            return [], []
        deliveries = [s.get(Delivery, i) for i in claimed]
        live = [d for d in deliveries if d is not None]
        messages = [m for d in live if (m := s.get(OutboxMessage, d.message_id)) is not None]
        s.commit()  # hold no transaction (on SQLite: no write lock) while the channel answers
        error = _send(run, live, messages, channel)
        return _record(run, s, token, live, messages, error)


def _send(run: _Run, deliveries: list[Delivery], messages: list[OutboxMessage], channel):
    """Send one group's message; the DeliveryError it ended with, or None when the channel took it."""
    from shanhai.notifications.transport import (
        DeliveryError,
        DeliveryTag,
        PermanentDeliveryError,
        body_limit,
        deliver,
    )

    if channel is None:
        return PermanentDeliveryError("渠道已不在配置中 channel no longer configured")
    try:
        title, body = render(merged_payload(messages), limit_bytes=body_limit(channel))
    except Exception as exc:  # noqa: BLE001  (nothing reached the channel: a sure failure, not "maybe sent")
        return PermanentDeliveryError(f"消息无法生成，未发送 could not render: {type(exc).__name__}: {exc}")
    ids = tuple(sorted(d.id for d in deliveries if d.id is not None))
    # the stored channel key makes the key differ between installations whose delivery ids coincide
    tag = DeliveryTag(ids, f"shanhai-{'-'.join(map(str, ids))}-{deliveries[0].channel_key[:12]}")
    try:
        deliver(channel, title=title, body=body, timeout=run.app.settings.send_timeout_seconds, tag=tag)
    except DeliveryError as exc:
        return exc
    return None


def _outcome(d: Delivery, error, finished: datetime) -> dict[str, Any]:
    """The values a delivery is left with after an attempt that ended with ``error`` (None: sent)."""
    if error is None:
        return {"status": "sent", "sent_at": finished, "last_error": None}
    if error.maybe_delivered:  # it may have arrived: resending could deliver it twice
        return {"status": "unknown", "last_error": f"{error}，未自动重发"[:2000]}
    if error.permanent or d.attempts >= MAX_ATTEMPTS:
        return {"status": "failed", "last_error": str(error)[:2000]}
    return {
        "status": "retry",
        "last_error": str(error)[:2000],
        "next_attempt_at": finished + BACKOFF[min(d.attempts, len(BACKOFF)) - 1],
    }


def _record(
    run: _Run, s: Session, token: str, deliveries: list[Delivery], messages: list[OutboxMessage], error
) -> tuple[list[tuple[str, dict[str, Any]]], list[_Final]]:
    """Write what was sent or will be retried; hand the rest on to the run's failure report."""
    finished = run.clock()
    sent_with = [d.id for d in deliveries]
    now: list[tuple[Delivery, OutboxMessage, dict[str, Any]]] = []
    finals = []
    for d, msg in zip(deliveries, messages, strict=True):
        values = _outcome(d, error, finished)
        if values["status"] in ("failed", "unknown"):
            finals.append(_Final(d, msg, token, values, sent_with))
        else:
            now.append((d, msg, values))
    outcomes = _write_outcomes(s, token, now, sent_with)
    s.commit()
    return outcomes, finals


def _settle(run: _Run, finals: list[_Final]) -> list[tuple[str, dict[str, Any]]]:
    """In one transaction: the run's failed and unknown outcomes, the claims a killed run left behind
    (unknown), and ONE report of them all to the coordinator (a robot takes 20 messages a minute: never
    one report per delivery). (status, detail) of each."""
    with Session(run.engine, expire_on_commit=False) as s:  # closing without a commit rolls it all back
        outcomes = []
        for token in dict.fromkeys(f.token for f in finals):
            mine = [f for f in finals if f.token == token]
            outcomes += _write_outcomes(s, token, [(f.delivery, f.message, f.values) for f in mine], mine[0].sent_with)
        won = {detail["delivery"] for _, detail in outcomes}
        failed = [(f.delivery, f.message) for f in finals if f.delivery.id in won]
        # after this run's own outcomes: a run slower than the lease never expires its own claims
        abandoned = _expire_abandoned_claims(s, run.clock())
        outcomes += [("unknown", _detail(d, m)) for d, m in abandoned]
        report_failures(run.app, s, failed + abandoned)
        s.commit()
    return outcomes


def _write_outcomes(
    s: Session, token: str, outcomes: list[tuple[Delivery, OutboxMessage, dict[str, Any]]], sent_with: list
) -> list[tuple[str, dict[str, Any]]]:
    """One UPDATE per distinct outcome of a send, written only where the claim is still ours (a lease
    expiry may have taken it); (status, detail) of each delivery written."""
    by_values: dict[tuple, list[tuple[Delivery, OutboxMessage]]] = {}
    for d, msg, values in outcomes:
        by_values.setdefault(tuple(sorted(values.items())), []).append((d, msg))
    written = []
    for values_key, pairs in by_values.items():
        won = set(
            s.execute(
                update(Delivery)
                .where(
                    col(Delivery.id).in_([d.id for d, _ in pairs]),
                    col(Delivery.status) == "sending",
                    col(Delivery.claim_token) == token,
                )
                .values(**dict(values_key))
                .returning(col(Delivery.id))
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        written += [_written(s, d, msg, dict(values_key), sent_with) for d, msg in pairs if d.id in won]
    return written


def _written(
    s: Session, d: Delivery, msg: OutboxMessage, values: dict[str, Any], sent_with: list[int | None]
) -> tuple[str, dict[str, Any]]:
    """Audit one written outcome; (status, detail) for the run's report."""
    for k, v in values.items():
        set_committed_value(d, k, v)  # already written by the conditional UPDATE: no second write
    audit(
        session=s,
        actor="engine",
        action=f"delivery.{d.status}",
        entity="delivery",
        entity_id=str(d.id),
        attempts=d.attempts,
        error=d.last_error,
        sent_with=sent_with,
    )
    return d.status, _detail(d, msg)


def _detail(d: Delivery, msg: OutboxMessage) -> dict[str, Any]:
    return {
        "delivery": d.id,
        "message": msg.id,
        "recipient": msg.recipient,
        "channel": d.channel_label,
        "status": d.status,
        "error": d.last_error,
    }

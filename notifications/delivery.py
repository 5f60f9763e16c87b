"""Delivering the outbox: claim, send, record the outcome.

Each delivery is claimed with a conditional UPDATE and its row count checked (the Healthchecks way),
so it is sent at most once however many workers run. A claim left behind by a killed process may or
may not have reached the channel; after CLAIM_LEASE it is not re-sent blindly but marked failed
("result unknown") and reported to the coordinator: nothing is lost silently, nothing goes out twice.

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
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from shanhai.models.audit import audit
from shanhai.models.ladder import may_send, send_time_text
from shanhai.models.tables import Delivery, OutboxMessage
from shanhai.notifications.failure_report import report_failure
from shanhai.notifications.outbox import channel_keys, configured_channels, render
from shanhai.notifications.planner import ROLE_ORDER, Role

CLAIM_LEASE = timedelta(minutes=10)
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
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        text = f"已发送 {self.sent} 条，待重试 {self.retrying} 条，失败 {self.failed} 条，仅存本地 {self.kept_local} 条"
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
        claimed = []
        for delivery_id in delivery_ids:
            result = session.execute(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, _sendable(due_at))
                .values(status="sending", claimed_at=now, claim_token=token, attempts=Delivery.attempts + 1)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(delivery_id)  # the others belong to another worker
        session.commit()
        return claimed, 0.0
    except BaseException:
        session.rollback()
        raise


def _still_claimed(delivery_id: int | None, token: str | None) -> ColumnElement[bool]:
    return and_(
        col(Delivery.id) == delivery_id, col(Delivery.status) == "sending", col(Delivery.claim_token) == token
    )


def _expire_abandoned_claims(app, session: Session, now: datetime) -> int:
    """Claims older than the lease belong to a worker that died mid-send: report, don't resend."""
    stale = session.execute(
        select(col(Delivery.id), col(Delivery.claim_token)).where(
            col(Delivery.status) == "sending", col(Delivery.claimed_at) < now - CLAIM_LEASE
        )
    ).all()
    expired = 0
    for delivery_id, token in stale:
        won = session.execute(
            update(Delivery)
            .where(_still_claimed(delivery_id, token))
            .values(
                status="failed",
                last_error="投递中断，结果未知（可能已送达），未自动重发 interrupted, outcome unknown",
            )
        ).rowcount  # type: ignore[attr-defined]
        if won == 1:
            d = session.get(Delivery, delivery_id)
            assert d is not None
            report_failure(app, session, d, session.get(OutboxMessage, d.message_id))
            expired += 1
        session.commit()
    return expired


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
        "items": [item for p in payloads for item in p["items"]],
    }


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
    message listing all their items; digests and failure reports go out on their own.
    """
    from shanhai.db import get_engine
    from shanhai.notifications.transport import DEFAULT_RATE_LIMITS

    clock = app.clock
    due_at = clock()
    configured = configured_channels(app)  # a configured file that is missing or broken fails every run
    app.migrate()
    engine = get_engine(app.database_url)
    with Session(engine) as session:
        abandoned = _expire_abandoned_claims(app, session, clock())
        due = _due_deliveries(session, due_at, limit)
        local = session.execute(select(func.count()).where(col(Delivery.status) == "local")).scalar_one()
    report = DeliveryReport(kept_local=local, failed=abandoned)
    if not due:
        return report
    if not may_send(due_at, app.calendar, app.settings.send_hour):
        report.held = len(due)
        report.held_until = send_time_text(due_at, app.calendar, app.settings.send_hour)
        return report
    groups: dict[tuple, list[int]] = {}
    for delivery_id, key_of_channel, kind, message_id, recipient_code in due:
        # a unit's reminders on one channel go as one message; a chat shared by two units gets one each
        key = (recipient_code, key_of_channel) if kind == "reminder" else (key_of_channel, message_id)
        groups.setdefault(key, []).append(delivery_id)
    channels = {key: c for cs in configured.values() for c in cs for key in channel_keys(app, c.url)}

    def send_group(delivery_ids: list[int]) -> list[tuple[str, dict[str, Any]]]:
        token = secrets.token_hex(8)
        with Session(engine, expire_on_commit=False) as s:
            key = s.execute(
                select(col(Delivery.channel_key)).where(col(Delivery.id) == delivery_ids[0])
            ).scalar_one()
            s.rollback()
            channel = channels.get(key)
            windows = DEFAULT_RATE_LIMITS.get(channel.scheme) if channel else None
            waited = 0.0
            while True:
                claimed, wait = _claim_group(
                    s, delivery_ids, due_at=due_at, now=clock(), token=token,
                    rate=(key, tuple(windows)) if windows else None,
                )
                if not wait:
                    break
                if waited + wait > MAX_RATE_WAIT:
                    return [("deferred", {"deliveries": delivery_ids})]
                sleep(wait)
                waited += wait
            if not claimed:
                return []
            deliveries = [s.get(Delivery, i) for i in claimed]
            live = [d for d in deliveries if d is not None]
            messages = [m for d in live if (m := s.get(OutboxMessage, d.message_id)) is not None]
            s.commit()  # hold no transaction (on SQLite: no write lock) while the channel answers
            return _attempt(token, app, s, live, messages, channel, clock)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(groups)))) as pool:
        for outcomes in pool.map(send_group, groups.values()):
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
    return report


def _attempt(
    token: str,
    app,
    s: Session,
    deliveries: list[Delivery],
    messages: list[OutboxMessage],
    channel,
    clock: Callable[[], datetime],
) -> list[tuple[str, dict]]:
    from shanhai.notifications.transport import DeliveryError, PermanentDeliveryError, body_limit, deliver

    error: DeliveryError | None = None
    if channel is None:
        error = PermanentDeliveryError("渠道已不在配置中 channel no longer configured")
    else:
        try:
            title, body = render(merged_payload(messages), limit_bytes=body_limit(channel))
        except Exception as exc:  # noqa: BLE001  (nothing reached the channel: a sure failure, not "maybe sent")
            error = PermanentDeliveryError(f"消息无法生成，未发送 could not render: {type(exc).__name__}: {exc}")
        else:
            try:
                deliver(channel, title=title, body=body)
            except DeliveryError as exc:
                error = exc
    finished = clock()
    outcomes = []
    for d, msg in zip(deliveries, messages, strict=True):
        values: dict[str, Any]
        if error is None:
            values = {"status": "sent", "sent_at": finished, "last_error": None}
        elif error.permanent or d.attempts >= MAX_ATTEMPTS:
            values = {"status": "failed", "last_error": str(error)[:2000]}
        else:
            values = {
                "status": "retry",
                "last_error": str(error)[:2000],
                "next_attempt_at": finished + BACKOFF[min(d.attempts, len(BACKOFF)) - 1],
            }
        # write the outcome only while the claim is still ours (a lease expiry may have taken it)
        held = s.execute(
            update(Delivery)
            .where(_still_claimed(d.id, token))
            .values(**values)
        ).rowcount  # type: ignore[attr-defined]
        if held != 1:
            continue
        for k, v in values.items():
            setattr(d, k, v)
        if d.status == "failed":
            report_failure(app, s, d, msg)
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

"""A message that cannot be delivered is reported to the coordinator, in the outbox like any message:
what failed and where, and the duties it was about, without the unit's signed links."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage, utcnow
from shanhai.notifications.outbox import queue_once, render, sender_line, unit_code, view_link
from shanhai.notifications.redact import mask_urls

__all__ = ["report_failure"]


def report_failure(app, s: Session, d: Delivery, msg: OutboxMessage | None) -> None:
    """A message that cannot be delivered is itself reported to the coordinator (never recursively): what
    failed (the transport's error text, URLs masked) and the duties it was about, each with its portal
    page. Never the unit's signed 填报 links: the report goes to another unit's channel."""
    if msg is None or msg.kind == "delivery_failure":
        return
    coordinator = app.catalogue.roles.coordinator
    label = "消息无法送达"
    board = f"{app.settings.portal_url.rstrip('/')}/queue"
    error = mask_urls(d.last_error or "未记录原因")
    items = _items_without_signed_links(app, s, msg, board)
    payload: dict[str, Any] = {
        "recipient": coordinator,
        "role": "coordinator",
        "stage_label": label,
        "title_label": label,
        "notes": [
            f"发给 {msg.recipient} 的消息 #{msg.id}（{msg.stage_label}）经 {d.channel_label} 无法送达，"
            f"已尝试 {d.attempts} 次。",
            f"错误：{error}",
            *(["以下为该消息所列事项，请另行通知该单位；发送失败的消息可在门户“核验队列”查看。"] if items else []),
        ],
        "sender": sender_line(app),
        "board_link": board,
        "items": items,
    }
    try:
        title, body = render(payload, limit_bytes=None)
    except Exception:  # noqa: BLE001  (the failed message's items are what could not be rendered)
        payload["items"] = []
        payload["notes"] = payload["notes"][:2]
        title, body = render(payload, limit_bytes=None)
    queue_once(
        app,
        s,
        {
            "kind": "delivery_failure",
            "dedup_key": f"failure:{d.id}",
            "recipient": coordinator,
            "recipient_code": unit_code(app, coordinator),
            "role": "coordinator",
            "stage": "delivery_failure",
            "stage_label": label,
            "title": title,
            "body": body,
            "payload": json.dumps(payload, ensure_ascii=False),
            "planned_at": utcnow(),
            "created_at": utcnow(),
        },
    )


def _items_without_signed_links(app, s: Session, msg: OutboxMessage, board: str) -> list[dict[str, Any]]:
    """The failed message's items as the coordinator sees them: each links to its portal page (which
    the coordinator logs in to), not to the unit's signed form."""
    try:
        items = [{**i, "role": "coordinator"} for i in json.loads(msg.payload).get("items", [])]
    except (ValueError, TypeError, AttributeError):  # a payload that is no longer readable: report without it
        return []
    if msg.kind != "reminder":  # digests link to the portal pages already
        return items
    occurrence_ids = list(
        s.execute(
            select(col(OutboxItem.occurrence_id))
            .where(col(OutboxItem.message_id) == msg.id)
            .order_by(col(OutboxItem.id))
        ).scalars()
    )
    # a reminder's items are stored in the order of its OutboxItem rows (queue_reminders)
    if len(occurrence_ids) != len(items):
        return [{**i, "link": board} for i in items]
    return [{**i, "link": view_link(app, o)} for i, o in zip(items, occurrence_ids, strict=True)]

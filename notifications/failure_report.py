"""What could not be delivered is reported to the coordinator, in the outbox like any message: what failed
and where, and the duties it was about, without the unit's signed links. Everything one run could not
deliver goes in ONE report (a DingTalk robot takes 20 messages a minute: a report per delivery would
itself be throttled, and bury the coordinator)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage, utcnow
from shanhai.notifications.outbox import queue_once, render, sender_line, unit_code, view_link
from shanhai.notifications.redact import mask_urls

__all__ = ["report_failures"]

#: Failures listed one by one in a report; the rest are counted (the portal's 核验队列 lists them all).
#: With SHORT_ERROR it keeps a report within a robot's 2048 bytes.
LISTED_FAILURES = 5
SHORT_ERROR = 48  # characters of each listed error
ONE_ERROR = 300  # characters of the error of a report of one failure


def report_failures(app, s: Session, failures: Sequence[tuple[Delivery, OutboxMessage | None]]) -> None:
    """Queue one report of ``failures`` to the coordinator (never of a report itself: no recursion): what
    failed (the transport's error text, URLs masked) and the duties the messages were about, each with its
    portal page. Never the units' signed 填报 links: the report goes to another unit's channel."""
    reported = [(d, m) for d, m in failures if m is not None and m.kind != "delivery_failure"]
    if not reported:
        return
    coordinator = app.catalogue.roles.coordinator
    label = _label([d for d, _ in reported])
    board = f"{app.settings.portal_url.rstrip('/')}/queue"
    items = _items_without_signed_links(app, s, [m for _, m in reported], board)
    notes = _notes(reported) + (
        ["以下为这些消息所列事项，请另行通知相关单位；发送失败的消息可在门户“核验队列”查看。"] if items else []
    )
    payload: dict[str, Any] = {
        "recipient": coordinator,
        "role": "coordinator",
        "stage_label": label,
        "title_label": label,
        "notes": notes,
        "sender": sender_line(app),
        "board_link": board,
        "items": items,
    }
    try:
        title, body = render(payload, limit_bytes=None)
    except Exception:  # noqa: BLE001  (the failed messages' items are what could not be rendered)
        payload["items"] = []
        payload["notes"] = notes[:-1] if items else notes
        title, body = render(payload, limit_bytes=None)
    queue_once(
        app,
        s,
        {
            "kind": "delivery_failure",
            # each delivery fails in exactly one run (a conditional UPDATE): its smallest id names the report
            "dedup_key": f"failure:{min(d.id or 0 for d, _ in reported)}",
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


def _label(deliveries: list[Delivery]) -> str:
    unknown = sum(d.status == "unknown" for d in deliveries)
    what = (
        "消息投递结果未知" if unknown == len(deliveries)
        else "消息无法送达" if not unknown
        else "消息无法送达或结果未知"
    )
    return what if len(deliveries) == 1 else f"{len(deliveries)}条{what}"


def _notes(failures: list[tuple[Delivery, OutboxMessage]]) -> list[str]:
    """What failed, short enough for a robot's 2048 bytes with the frame around it."""
    if len(failures) == 1:
        d, msg = failures[0]
        return [
            f"发给 {msg.recipient} 的消息 #{msg.id}（{msg.stage_label}）经 {d.channel_label} "
            f"{'未能确认是否送达（未自动重发）' if d.status == 'unknown' else '无法送达'}，"
            f"已尝试 {d.attempts} 次。",
            f"错误：{_short(mask_urls(d.last_error or '未记录原因'), ONE_ERROR)}",
        ]
    unknown = sum(d.status == "unknown" for d, _ in failures)
    if unknown == len(failures):
        lead = "投递结果未知（可能已送达；均未自动重发）"
    elif not unknown:
        lead = "无法送达（均未自动重发）"
    else:
        lead = f"无法送达或结果未知（其中 {unknown} 条结果未知、可能已送达；均未自动重发）"
    lines = [f"以下 {len(failures)} 条消息{lead}："]
    for d, msg in failures[:LISTED_FAILURES]:
        lines.append(f"· {msg.recipient} #{msg.id}（{msg.stage_label}）：{_short(_reason(d.last_error), SHORT_ERROR)}")
    if len(failures) > LISTED_FAILURES:
        lines.append(f"另有 {len(failures) - LISTED_FAILURES} 条。")
    lines.append("渠道与完整错误见门户“核验队列”。")
    return lines


def _reason(error: str | None) -> str:
    """The error without the channel it names first (``json://…：请求已发出，…``): the line is short."""
    text = mask_urls(error or "未记录原因")
    where, sep, rest = text.partition("：")
    text = rest if sep and "://" in where else text
    return re.sub(r"\s+[A-Za-z][A-Za-z ,:'-]*$", "", text)  # the English gloss some errors end with


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _items_without_signed_links(
    app, s: Session, messages: Sequence[OutboxMessage], board: str
) -> list[dict[str, Any]]:
    """The failed messages' items as the coordinator sees them, each once: each links to its portal page
    (which the coordinator logs in to), not to the unit's signed form."""
    occurrences: dict[int, list[int]] = {}
    for message_id, occurrence_id in s.execute(
        select(col(OutboxItem.message_id), col(OutboxItem.occurrence_id))
        .where(col(OutboxItem.message_id).in_([m.id for m in messages if m.kind == "reminder"]))
        .order_by(col(OutboxItem.id))
    ):
        occurrences.setdefault(message_id, []).append(occurrence_id)
    seen: dict[tuple, dict[str, Any]] = {}
    for msg in messages:
        for item in _coordinator_items(app, msg, occurrences.get(msg.id or 0, []), board):
            seen.setdefault((item.get("title"), item.get("scope"), item.get("link")), item)
    return list(seen.values())


def _coordinator_items(app, msg: OutboxMessage, occurrence_ids: list[int], board: str) -> list[dict[str, Any]]:
    try:
        items = [{**i, "role": "coordinator"} for i in json.loads(msg.payload).get("items", [])]
    except (ValueError, TypeError, AttributeError):  # a payload that is no longer readable: report without it
        return []
    if msg.kind != "reminder":  # digests link to the portal pages already
        return items
    # a reminder's items are stored in the order of its OutboxItem rows (queue_reminders)
    if len(occurrence_ids) != len(items):
        return [{**i, "link": board} for i in items]
    return [{**i, "link": view_link(app, o)} for i, o in zip(items, occurrence_ids, strict=True)]

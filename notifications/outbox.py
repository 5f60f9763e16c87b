"""Writing the outbox: every message is stored, with one delivery row per channel, before anything is sent.

Exactly-once starts here: every (occurrence, stage, recipient) is an OutboxItem under a unique key,
written with INSERT … ON CONFLICT DO NOTHING, so two concurrent runs cannot both queue it. Digests and
failure reports are queued once under a dedup key. Channels are identified by a keyed hash, so the
database holds no trace of their secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from shanhai.db import insert_ignore
from shanhai.models.store import audit
from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage
from shanhai.notifications.planner import PlannedItem, PlannedMessage

LOCAL_CHANNEL = "local"


def configured_channels(app):
    """Unit code -> channels, validated (raises ChannelConfigError naming the unit)."""
    from shanhai.notifications.channels import load_channels

    known = {u.code: u.name for u in app.catalogue.units.values()}
    return load_channels(app.settings.apprise_config, environ=os.environ, known_units=known)


def channel_key(app, url: str) -> str:
    """Identifies a channel without storing a reversible trace of its secrets (keyed hash)."""
    return hmac.new(app.settings.signing_secret().encode(), url.encode(), hashlib.sha256).hexdigest()


def unit_code(app, name: str) -> str:
    unit = app.catalogue.unit(name)
    return unit.code if unit else hashlib.sha256(name.encode()).hexdigest()[:12]


def render(payload: dict[str, Any], *, limit_bytes: int | None) -> tuple[str, str]:
    """(title, body) of a stored payload, for a channel that takes ``limit_bytes`` (None: no limit)."""
    from shanhai.notifications.render import RenderItem, render_message

    fields = set(RenderItem.__dataclass_fields__) - {"due"}
    items = [
        RenderItem(**{k: v for k, v in i.items() if k in fields}, due=date.fromisoformat(i["due"]))
        for i in payload["items"]
    ]
    return render_message(
        recipient=payload["recipient"],
        role=payload["role"],
        items=items,
        stage_label=payload["stage_label"],
        board_link=payload["board_link"],
        limit_bytes=limit_bytes,
    )


def add_deliveries(app, session: Session, message_id: int, channels) -> None:
    """One delivery per channel of the recipient; with none configured the message stays local."""
    if not channels:
        insert_ignore(
            session,
            Delivery,
            {
                "message_id": message_id,
                "channel_key": LOCAL_CHANNEL,
                "channel_label": "本地发件箱",
                "status": "local",
            },
        )
        return
    for ch in channels:
        insert_ignore(
            session,
            Delivery,
            {
                "message_id": message_id,
                "channel_key": channel_key(app, ch.url),
                "channel_label": ch.masked_url[:255],
                "status": "pending",
            },
        )


def queue_once(app, session: Session, values: dict[str, Any]) -> bool:
    """A message under its dedup key (a digest's period, a failure's delivery), with its deliveries;
    False when it was queued before."""
    if insert_ignore(session, OutboxMessage, values) != 1:
        return False
    msg_id = session.execute(
        select(col(OutboxMessage.id)).where(col(OutboxMessage.dedup_key) == values["dedup_key"])
    ).scalar_one()
    add_deliveries(app, session, msg_id, configured_channels(app).get(values["recipient_code"], []))
    return True


def _item_payloads(app, recipient_code: str, items: list[PlannedItem], as_of: datetime) -> list[dict[str, Any]]:
    from shanhai.notifications.links import sign_report_link

    secret = app.settings.signing_secret()
    return [
        {
            "title": i.title,
            "clause": i.clause,
            "scope": i.scope,
            "due": i.due.isoformat(),
            "status": str(i.status),
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


def queue_reminders(app, session: Session, planned: list[PlannedMessage], as_of: datetime) -> int:
    """Store the planned messages; an item a concurrent run queued first is left out. Returns how many
    messages this call stored."""
    channels = configured_channels(app) if planned else {}
    queued = 0
    for m in planned:
        with session.begin_nested() as savepoint:
            msg = OutboxMessage(
                kind="reminder",
                recipient=m.recipient,
                recipient_code=unit_code(app, m.recipient),
                role=str(m.role),
                stage=m.stage.name,
                stage_label=m.stage.label,
                title="",
                body="",
                payload="{}",
                planned_at=as_of,
            )
            session.add(msg)
            session.flush()
            assert msg.id is not None
            won = [
                i
                for i in m.items
                if insert_ignore(
                    session,
                    OutboxItem,
                    {
                        "message_id": msg.id,
                        "occurrence_id": i.occurrence_id,
                        "stage": i.stage.name,
                        "recipient": m.recipient,
                    },
                )
                == 1
            ]
            if not won:  # a concurrent run queued every item first
                savepoint.rollback()
                continue
            payload = {
                "recipient": m.recipient,
                "role": str(m.role),
                "stage_label": m.stage.label,
                "stage_rank": m.stage.rank,
                "board_link": f"{app.settings.portal_url}/units/{msg.recipient_code}",
                "items": _item_payloads(app, msg.recipient_code, won, as_of),
            }
            msg.title, msg.body = render(payload, limit_bytes=None)
            msg.payload = json.dumps(payload, ensure_ascii=False)
            add_deliveries(app, session, msg.id, channels.get(msg.recipient_code, []))
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

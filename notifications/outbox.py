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
import threading
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from shanhai.db import insert_ignore
from shanhai.models.audit import audit
from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage
from shanhai.notifications.planner import PlannedItem, PlannedMessage, Role

LOCAL_CHANNEL = "local"


_channels_cache: dict[tuple, dict] = {}
_channels_lock = threading.Lock()


def configured_channels(app):
    """Unit code -> channels, validated (raises ChannelConfigError naming the unit). Parsed once per version
    of the file (its content), of the environment its ${VAR}s read and of the units: a delivery run asks for
    every message, and 14,000 URLs take seconds to parse, while hashing the file takes milliseconds."""
    from shanhai.notifications.channels import load_channels

    path = app.settings.apprise_config
    known = {u.code: u.name for u in app.catalogue.units.values()}
    key = _channels_version(path, known)
    if key is not None and key in _channels_cache:
        return _channels_cache[key]
    found = load_channels(path, environ=os.environ, known_units=known)
    if key is not None:
        with _channels_lock:
            if len(_channels_cache) >= 8:
                _channels_cache.clear()
            _channels_cache[key] = found
    return found


def _channels_version(path, known: dict[str, str]) -> tuple | None:
    """What the parsed channels depend on; None when the file cannot be read as a regular file of sensible
    size (load_channels then says why, every time)."""
    if path is None:
        return None
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > 64 * 1024 * 1024:
            return None
        with open(path, "rb") as handle:
            content = hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None
    environ = hashlib.sha256(repr(sorted(os.environ.items())).encode()).hexdigest()
    return (str(path), content, environ, tuple(sorted(known.items())))


def channel_key(app, url: str, key: str | None = None, *, session: Session | None = None) -> str:
    """Identifies a channel without storing a reversible trace of its secrets (keyed hash, by default
    under the current signing key)."""
    key = key or app.signing_keys(session=session)[0]
    return hmac.new(key.encode(), url.encode(), hashlib.sha256).hexdigest()


def channel_keys(app, url: str) -> list[str]:
    """The channel's identity under every key still in use (a rotation leaves pending deliveries
    queued under the previous key)."""
    return [channel_key(app, url, key) for key in app.signing_keys()]


def unit_code(app, name: str) -> str:
    unit = app.catalogue.unit(name)
    return unit.code if unit else hashlib.sha256(name.encode()).hexdigest()[:12]


def render(payload: dict[str, Any], *, limit_bytes: int | None) -> tuple[str, str]:
    """(title, body) of a stored payload, for a channel that takes ``limit_bytes`` (None: no limit)."""
    from shanhai.notifications.render import RenderItem, render_message

    if "text" in payload:  # prepared text (the annual assessment), cut to whole lines for the channel
        from shanhai.notifications.assessment_messages import fit_text

        return fit_text(payload["text"]["title"], payload["text"]["body"], limit_bytes)

    fields = set(RenderItem.__dataclass_fields__) - {"due", "due_nominal"}
    items = [
        RenderItem(
            **{k: v for k, v in i.items() if k in fields},
            due=date.fromisoformat(i["due"]),
            due_nominal=date.fromisoformat(i["due_nominal"]) if i.get("due_nominal") else None,
        )
        for i in payload["items"]
    ]
    return render_message(
        recipient=payload["recipient"],
        role=payload["role"],
        items=items,
        stage_label=payload.get("stage_label"),
        board_link=payload["board_link"],
        limit_bytes=limit_bytes,
        document=payload.get("document", ""),
        sender=payload.get("sender", ""),
        title_label=payload.get("title_label"),
        notes=payload.get("notes", ()),
    )


def sender_line(app) -> str:
    return f"山海协作工程督办系统（{app.catalogue.roles.coordinator}）"


def documents_of(app, cited: Iterable[tuple[str, int]]) -> str:
    """What the duties rest on, for (obligation, year) pairs: the document's number and the source of each
    override in force that year (温政发〔2018〕26号、市领导小组2027年工作要点)."""
    parts = [part for ob, year in cited for part in app.catalogue.citation(ob, year).split("、") if part]
    return "、".join(dict.fromkeys(parts))


def coordinator_notes(app, as_of: datetime) -> list[str]:
    """What the coordinator alone is told in every message: next year's holiday arrangement still to import
    (from mid-November), with the one command that imports it."""
    from shanhai.models.holiday_watch import missing_notice
    from shanhai.models.localtime import local_date

    notice = missing_notice(app.calendar, local_date(as_of))
    return [notice] if notice else []


def view_link(app, occurrence_id: int) -> str:
    """The portal's page of an occurrence: coordinators and supervisors log in to open it."""
    return f"{app.settings.portal_url.rstrip('/')}/occurrences/{occurrence_id}"


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
                "channel_key": channel_key(app, ch.url, session=session),
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


def _item_payloads(
    app, session: Session, recipient_code: str, items: list[PlannedItem]
) -> list[dict[str, Any]]:
    from shanhai.notifications.links import sign_report_link

    secret = app.signing_keys(session=session)[0]
    issued_at = app.clock()  # a link lives from when it is queued on the real clock, not a preview's date
    return [
        {
            "title": i.title,
            "duty": i.duty,
            "accountable": list(i.accountable),
            "clause": i.clause,
            "scope": i.scope,
            "due": i.due.isoformat(),
            "due_nominal": i.due_nominal.isoformat() if i.due_nominal else None,
            "provisional": i.provisional,
            "status": str(i.status),
            "progress": i.progress,
            "working_days_left": i.working_days_left,
            "days_overdue": i.days_overdue,
            "stage_label": i.stage_label,
            "role": str(i.role),
            "urgency": str(i.urgency),
            # units act through a signed link (the form for the units that owe it, a view for the others);
            # the coordinator and the supervisors log in
            "link": sign_report_link(
                base_url=app.settings.portal_url,
                occurrence_id=i.occurrence_id,
                unit_code=recipient_code,
                secret=secret,
                issued_at=issued_at,
            )
            if i.role in (Role.LEAD, Role.CO)
            else view_link(app, i.occurrence_id),
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
                stage_label=m.stage_label,
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
                "stage_label": m.stage_label,
                "stage_rank": m.stage.rank,
                "board_link": f"{app.settings.portal_url}/units/{msg.recipient_code}",
                "document": documents_of(app, [(i.obligation_id, (i.due_nominal or i.due).year) for i in won]),
                "notes": coordinator_notes(app, as_of) if m.role == Role.COORDINATOR else [],
                "sender": sender_line(app),
                "items": _item_payloads(app, session, msg.recipient_code, won),
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

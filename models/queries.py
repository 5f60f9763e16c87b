"""The items that listings print and `--json` emits: field names here are a contract (see README)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shanhai.models.catalogue import Catalogue
from shanhai.models.catalogue_specs import SIDE_TOKENS
from shanhai.models.requirement import Requirement
from shanhai.models.status import Evaluation, OccurrenceRow
from shanhai.models.statuses import Status


def obligation_items(cat: Catalogue) -> list[dict[str, Any]]:
    items = []
    for ob in cat.obligations.values():
        due = ob.due.isoformat() if isinstance(ob.due, date) else ob.due
        responsible = [
            n if n in SIDE_TOKENS else cat.aliases[n] for n in [*ob.responsible.lead, *ob.responsible.co]
        ]
        items.append(
            {
                "id": ob.id,
                "title": ob.title,
                "clause": ob.clause,
                "kind": ob.kind,
                "scope": ob.scope,
                "due": due,
                "min_count": ob.min_count,
                "target": ob.target.model_dump() if ob.target else None,
                "valid_from": ob.valid_from,
                "valid_until": ob.valid_until,
                "responsible": list(dict.fromkeys(responsible)),
                "document": cat.obligation_document[ob.id],
                **cat.override_fields(ob.id),
            }
        )
    return items


def plan_items(cat: Catalogue) -> list[dict[str, Any]]:
    return [
        {
            "park": r.park,
            "year": r.year,
            "kind": r.kind,
            "projects": r.projects,
            "planned_total": r.planned_total,
            "planned_completion": r.planned_completion,
        }
        for r in cat.plans
    ]


def _scope_filter(app, scope: str | None):
    """The typed scope as a ScopeRef (pairing, park, unit or 全市), or None for no filter."""
    from shanhai.models.scopes import parse_scope_name

    if scope is None:
        return None
    ref = parse_scope_name(app.catalogue, scope)
    if ref is None:
        raise ValueError(f"--scope：未知的范围“{scope}”（可用结对如 泰顺-鹿城、单位名、园区名或 全市）")
    return ref


def evaluations(app, *, as_of: datetime, scope=None, obligation=None, year=None, everything=False):
    from shanhai.models.store import OccurrenceFilter, load_evaluations

    if obligation is not None:
        app.catalogue.require_obligation(obligation)
    ref = _scope_filter(app, scope)
    unit_scope = ref.name if ref is not None and ref.kind == "unit" else None
    flt = OccurrenceFilter(
        obligation=obligation,
        scope=ref.name if ref is not None and not unit_scope else None,
        year=year,
        everything=everything,
    )
    with app.read_session() as session:
        pairs = load_evaluations(session=session, as_of=as_of, cal=app.calendar, flt=flt)
    if unit_scope:
        pairs = [(o, e) for o, e in pairs if unit_sees(unit_scope, o.scope, o.requirement)]
    return pairs


def unit_sees(unit: str, scope: str, requirement: Requirement) -> bool:
    """A unit sees its own occurrences: its own scope, its pairings', its parks' and city duties naming it."""
    return scope == unit or unit in requirement.responsible


def urgency_key(ev: Evaluation) -> tuple:
    """Most urgent first (Status is declared in that order), then the oldest effective due date."""
    return (Status(ev.status).urgency, ev.due, ev.obligation_id, ev.scope, ev.period)


def most_urgent_per_cell(
    pairs: Iterable[tuple[OccurrenceRow, Evaluation]],
) -> dict[tuple[str, str], tuple[OccurrenceRow, Evaluation]]:
    """(obligation, scope) -> the occurrence a board cell shows: its most urgent one (the first of equals,
    in the order given). The portal's board, its export and `shanhai board` agree through this."""
    cells: dict[tuple[str, str], tuple[OccurrenceRow, Evaluation]] = {}
    for occ, ev in pairs:
        key = (occ.obligation_id, occ.scope)
        if key not in cells or ev.status.urgency < cells[key][1].status.urgency:
            cells[key] = (occ, ev)
    return cells


def by_urgency(pairs: Iterable[tuple[OccurrenceRow, Evaluation]]) -> list[tuple[OccurrenceRow, Evaluation]]:
    """(occurrence, evaluation) pairs in the order every listing shows them: overdue first, oldest first."""
    return sorted(pairs, key=lambda pair: urgency_key(pair[1]))


def ordered_evaluations(app, *, as_of: datetime, **flt) -> list[tuple[OccurrenceRow, Evaluation]]:
    """What `status` and `export` list, in urgency order (filters as :func:`evaluations`)."""
    return by_urgency(evaluations(app, as_of=as_of, **flt))


def status_items(app, *, as_of: datetime, **flt) -> list[dict[str, Any]]:
    return [
        ev.as_item(*title_and_clause(app.catalogue, ev.obligation_id))
        for _, ev in ordered_evaluations(app, as_of=as_of, **flt)
    ]


def record_items(
    app, *, pending: bool = False, scope: str | None = None, obligation: str | None = None
) -> list[dict[str, Any]]:
    """Completion records for review: the submitted ones first, oldest first, then the reviewed ones.
    ``scope`` is read as `status --scope` reads it (a unit sees the records of its own occurrences)."""
    from sqlalchemy import case, select
    from sqlmodel import col

    from shanhai.models.import_batches import visible_records
    from shanhai.models.joint_events import load_same_event_partners
    from shanhai.models.requirement import parse_requirement
    from shanhai.models.statuses import RecordState
    from shanhai.models.tables import CompletionRecord, Occurrence

    if obligation is not None:
        app.catalogue.require_obligation(obligation)
    ref = _scope_filter(app, scope)
    submitted = RecordState.SUBMITTED.value
    q = (
        select(CompletionRecord, Occurrence)
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
        .where(visible_records())
        .order_by(
            case((col(CompletionRecord.state) == submitted, 0), else_=1),
            col(CompletionRecord.created_at),
            col(CompletionRecord.id),
        )
    )
    if pending:
        q = q.where(col(CompletionRecord.state) == submitted)
    if obligation is not None:
        q = q.where(col(Occurrence.obligation_id) == obligation)
    if ref is not None and ref.kind != "unit":
        q = q.where(col(Occurrence.scope) == ref.name)
    with app.read_session() as session:  # a listing: never waits for a writer
        rows = session.execute(q).all()
        partners = load_same_event_partners(session=session, occurrence_ids=[o.id for _, o in rows])
    if ref is not None and ref.kind == "unit":
        rows = [(r, o) for r, o in rows if unit_sees(ref.name, o.scope, parse_requirement(o.requirement))]

    return [_record_item(app.catalogue, r, o, [rid for rid, _ in partners.get(r.id, [])]) for r, o in rows]


def _record_item(cat: Catalogue, r, o, same_event: list[int]) -> dict[str, Any]:
    """One `records --json` item (field names are a documented contract)."""
    from shanhai.models.localtime import format_local, local_date
    from shanhai.models.records import amount_text

    def local(instant: datetime | None) -> str | None:
        return format_local(instant) if instant else None

    return {
        "id": r.id,
        "occurrence": o.id,
        "obligation": o.obligation_id,
        "title": title_and_clause(cat, o.obligation_id)[0],
        "scope": o.scope,
        "period": o.period,
        "date": r.date.isoformat(),
        "amount": amount_text(cat, o.obligation_id, r.amount_fen),
        "amount_yuan": None if r.amount_fen is None else f"{r.amount_fen // 100}.{r.amount_fen % 100:02d}",
        "count": r.count,
        "category": r.category,
        "state": r.state,
        "note": r.note,
        "evidence": r.evidence_name,
        "submitted_by": r.submitted_by,
        "submitted_at": local(r.created_at),
        "reviewed_by": r.reviewed_by,
        "reviewed_at": local(r.reviewed_at),
        "review_note": r.review_note,
        "same_event": same_event,
        "reported_late": reported_late(r.date, local_date(r.created_at), o.due),
    }


def reported_late(on: date, entered: date, due: date) -> bool:
    """Done in time, reported after the due date (补报): it counts as on time, and the record says so."""
    return on <= due < entered


def title_and_clause(cat: Catalogue, obligation_id: str) -> tuple[str, str | None]:
    """An obligation's name and clause; an id no longer in the catalogue still shows (history stays)."""
    ob = cat.obligations.get(obligation_id)
    return (ob.title, ob.clause) if ob else (obligation_id, None)


def board_grid(app, *, as_of: datetime) -> dict[str, Any]:
    """Rows: obligations; columns: the pairings in force plus 全市 and the parks; cells: the worst status."""
    cat = app.catalogue
    cells = {key: ev.status for key, (_, ev) in most_urgent_per_cell(evaluations(app, as_of=as_of)).items()}
    scopes = list(dict.fromkeys(scope for _, scope in cells))  # in the order first met
    pairing_cols = [p for p in cat.pairings if p in scopes]
    other_cols = [s for s in scopes if s not in pairing_cols]
    rows = [ob_id for ob_id in cat.obligations if any(k[0] == ob_id for k in cells)]
    return {
        "columns": pairing_cols + other_cols,
        "rows": [
            {"obligation": r, "title": cat.obligations[r].title, "clause": cat.obligations[r].clause}
            for r in rows
        ],
        "cells": {f"{o}|{s}": str(st) for (o, s), st in cells.items()},
    }


@dataclass(frozen=True)
class OutboxFilter:
    """Which stored messages a listing shows: a recipient (unit name), a kind, words in the title."""

    recipient: str | None = None
    kind: str | None = None
    search: str | None = None

    def where(self) -> list[Any]:
        from sqlmodel import col

        from shanhai.models.tables import OutboxMessage

        out = []
        if self.recipient:
            out.append(col(OutboxMessage.recipient) == self.recipient)
        if self.kind:
            out.append(col(OutboxMessage.kind) == self.kind)
        for word in (self.search or "").split():
            out.append(col(OutboxMessage.title).contains(word, autoescape=True))
        return out


def count_outbox(app, flt: OutboxFilter) -> int:
    from sqlalchemy import func, select

    from shanhai.models.tables import OutboxMessage

    with app.read_session() as session:
        return int(session.execute(select(func.count()).select_from(OutboxMessage).where(*flt.where())).scalar_one())


def outbox_items(
    app, *, limit: int = 50, message_id: int | None = None, offset: int = 0, flt: OutboxFilter | None = None
) -> list[dict[str, Any]]:
    import json

    from sqlalchemy import func, select
    from sqlmodel import col

    from shanhai.models.localtime import format_local
    from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage, by_id

    with app.read_session() as session:
        if message_id is not None:
            found = by_id(session, OutboxMessage, message_id)
            messages = [found] if found is not None else []
        else:
            q = (select(OutboxMessage).where(*(flt or OutboxFilter()).where())
                 .order_by(col(OutboxMessage.id).desc()).offset(offset).limit(limit))
            messages = list(session.execute(q).scalars())
        ids = [m.id for m in messages]
        deliveries = session.execute(select(Delivery).where(col(Delivery.message_id).in_(ids))).scalars().all()
        counts: dict[int, int] = {
            m: n
            for m, n in session.execute(
                select(col(OutboxItem.message_id), func.count())
                .where(col(OutboxItem.message_id).in_(ids))
                .group_by(col(OutboxItem.message_id))
            )
        }
    by_message: dict[int, list] = {}
    for d in deliveries:
        by_message.setdefault(d.message_id, []).append(
            {
                "channel": d.channel_label,
                "status": d.status,
                "attempts": d.attempts,
                "error": d.last_error,
                "sent_at": format_local(d.sent_at) if d.sent_at else None,
            }
        )
    return [
        {
            "id": m.id,
            "kind": m.kind,
            "recipient": m.recipient,
            "role": m.role,
            "stage": m.stage,
            "stage_label": m.stage_label,
            "created_at": format_local(m.created_at),
            "item_count": counts.get(m.id, len(json.loads(m.payload).get("items", []))),
            "title": m.title,
            "body": m.body,
            "deliveries": by_message.get(m.id, []),
        }
        for m in messages
    ]


def awaiting_delivery(app) -> int:
    """Deliveries still to be sent (pending, or a retry): what a delivery run now would work on."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from shanhai.models.tables import Delivery

    with app.read_session() as session:
        q = select(func.count()).select_from(Delivery).where(col(Delivery.status).in_(("pending", "retry")))
        return int(session.execute(q).scalar_one())

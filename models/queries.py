"""The items that listings print and `--json` emits: field names here are a contract (see README)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from shanhai.models.catalogue import SIDE_TOKENS, Catalogue
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

    if obligation is not None and obligation not in app.catalogue.obligations:
        raise ValueError(f"--obligation：未知的事项编号“{obligation}”")
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

    from shanhai.models.localtime import format_local
    from shanhai.models.records import amount_text
    from shanhai.models.requirement import parse_requirement
    from shanhai.models.statuses import RecordState
    from shanhai.models.tables import CompletionRecord, Occurrence

    if obligation is not None and obligation not in app.catalogue.obligations:
        raise ValueError(f"--obligation：未知的事项编号“{obligation}”")
    ref = _scope_filter(app, scope)
    submitted = RecordState.SUBMITTED.value
    q = (
        select(CompletionRecord, Occurrence)
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
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
    if ref is not None and ref.kind == "unit":
        rows = [(r, o) for r, o in rows if unit_sees(ref.name, o.scope, parse_requirement(o.requirement))]

    def local(instant: datetime | None) -> str | None:
        return format_local(instant) if instant else None

    return [
        {
            "id": r.id,
            "occurrence": o.id,
            "obligation": o.obligation_id,
            "title": title_and_clause(app.catalogue, o.obligation_id)[0],
            "scope": o.scope,
            "period": o.period,
            "date": r.date.isoformat(),
            "amount": amount_text(app.catalogue, o.obligation_id, r.amount_fen),
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
        }
        for r, o in rows
    ]


def title_and_clause(cat: Catalogue, obligation_id: str) -> tuple[str, str | None]:
    """An obligation's name and clause; an id no longer in the catalogue still shows (history stays)."""
    ob = cat.obligations.get(obligation_id)
    return (ob.title, ob.clause) if ob else (obligation_id, None)


def board_grid(app, *, as_of: datetime) -> dict[str, Any]:
    """Rows: obligations; columns: the pairings in force plus 全市 and the parks; cells: the worst status."""
    cat = app.catalogue
    cells: dict[tuple[str, str], Status] = {}
    scopes: list[str] = []
    for occ, ev in evaluations(app, as_of=as_of):
        key = (occ.obligation_id, occ.scope)
        if occ.scope not in scopes:
            scopes.append(occ.scope)
        if key not in cells or ev.status.urgency < cells[key].urgency:
            cells[key] = ev.status
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


def outbox_items(app, *, limit: int = 50, message_id: int | None = None) -> list[dict[str, Any]]:
    import json

    import pendulum
    from sqlalchemy import func, select
    from sqlmodel import col

    from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage

    with app.read_session() as session:
        q = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
        if message_id is not None:
            from shanhai.models.records import MAX_ID

            if not 0 < message_id <= MAX_ID:
                return []
            q = select(OutboxMessage).where(col(OutboxMessage.id) == message_id)
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
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
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
            "created_at": pendulum.instance(m.created_at)
            .in_timezone("Asia/Shanghai")
            .format("YYYY-MM-DD HH:mm"),
            "item_count": counts.get(m.id, len(json.loads(m.payload).get("items", []))),
            "title": m.title,
            "body": m.body,
            "deliveries": by_message.get(m.id, []),
        }
        for m in messages
    ]
# --------------------------------------------------------------------------- the portal's reads
#
# All read-only: a previewed as_of evaluates stored rows and changes nothing (no sync here).

BOARD_GROUPS = (("pairing", "结对"), ("county", "县（市、区）"), ("park", "产业园"), ("city", "全市"))


def _scope_kind(cat: Catalogue, scope: str) -> str:
    from shanhai.models.catalogue import CITY_SCOPE

    if scope in cat.pairings:
        return "pairing"
    if scope in cat.parks:
        return "park"
    return "city" if scope == CITY_SCOPE else "county"


def nominal_due(cat: Catalogue, obligation_id: str, period: str) -> date | None:
    """The due date as the document states it, before the roll to a working day (None if unknown)."""
    ob = cat.obligations.get(obligation_id)
    if ob is None or ob.due is None:
        return None
    if isinstance(ob.due, date):
        return ob.due
    return ob.due_date(int(period)) if period.isdigit() else None


def board_cell(cat: Catalogue, occ, ev) -> dict[str, Any]:
    from shanhai.models.progress import progress_text

    nominal = nominal_due(cat, occ.obligation_id, occ.period)
    return {
        "occurrence_id": occ.id,
        "status": str(ev.status),
        "light": str(ev.light),
        "label": ev.label,
        "progress": progress_text(ev.progress),
        "due": occ.due.isoformat(),
        "nominal_due": nominal.isoformat() if nominal and nominal != occ.due else None,
        "pending": ev.pending,
        "escalation_level": ev.escalation_level,
        "period": occ.period,
    }


def board_view(app, *, as_of: datetime, year: int) -> dict[str, Any]:
    """The portal's board for one year: column groups (pairings, counties, parks, 全市), one row per
    obligation with a cell per scope (the most urgent of its occurrences that year), and the counts."""
    from collections import Counter

    from shanhai.models.store import OccurrenceFilter, load_evaluations

    cat = app.catalogue
    with app.read_session() as session:
        pairs = load_evaluations(
            session=session, as_of=as_of, cal=app.calendar, flt=OccurrenceFilter(year=year)
        )
    cells: dict[tuple[str, str], tuple[Status, dict[str, Any]]] = {}
    for occ, ev in pairs:
        key = (occ.obligation_id, occ.scope)
        if key not in cells or ev.status.urgency < cells[key][0].urgency:
            cells[key] = (ev.status, board_cell(cat, occ, ev))
    scopes = {scope for _, scope in cells}
    order = [*cat.pairings, *dict.fromkeys(p.county for p in cat.pairings.values()), *cat.parks]
    ordered = [s for s in order if s in scopes] + sorted(s for s in scopes if s not in order)
    groups = []
    for kind, title in BOARD_GROUPS:
        columns = [
            {"name": s, "short": (cat.parks[s].short or s) if kind == "park" else s}
            for s in ordered
            if _scope_kind(cat, s) == kind
        ]
        if columns:
            groups.append({"kind": kind, "title": title, "columns": columns})
    rows = []
    for ob_id in [*cat.obligations, *sorted({o for o, _ in cells} - set(cat.obligations))]:
        row_cells = {scope: cell for (o, scope), (_, cell) in cells.items() if o == ob_id}
        if row_cells:
            title, clause = title_and_clause(cat, ob_id)
            rows.append({"obligation": ob_id, "title": title, "clause": clause or "", "cells": row_cells})
    counts = Counter(ev.status for _, ev in pairs)
    return {
        "year": year,
        "groups": groups,
        "rows": rows,
        "counts": [
            {"status": str(s), "label": s.label, "light": str(s.light), "n": counts[s]}
            for s in Status
            if counts[s]
        ],
        "items": [ev.as_item(*title_and_clause(cat, ev.obligation_id)) for _, ev in pairs],
    }


def unit_view(app, *, unit_name: str, as_of: datetime) -> list[dict[str, Any]]:
    """What a unit owes at as_of (this year's occurrences and anything still overdue), most urgent
    first; each a status item with progress text and the nominal due date."""
    from shanhai.models.progress import progress_text

    cat = app.catalogue
    out = []
    for occ, ev in evaluations(app, as_of=as_of, scope=unit_name):
        item = ev.as_item(*title_and_clause(cat, ev.obligation_id))
        nominal = nominal_due(cat, occ.obligation_id, occ.period)
        item.update(
            label=ev.label,
            progress_text=progress_text(ev.progress),
            nominal_due=nominal.isoformat() if nominal and nominal != occ.due else None,
            lead=bool(occ.requirement.responsible) and unit_name in occ.requirement.responsible,
        )
        out.append(item)
    out.sort(key=lambda i: (Status(i["status"]).is_final, Status(i["status"]).urgency, i["due"]))
    return out


def occurrence_evaluation(app, *, occurrence_id: int, as_of: datetime):
    """(OccurrenceRow, Evaluation) of one occurrence at as_of, or None when there is no such occurrence."""
    from shanhai.models.records import by_id
    from shanhai.models.store import OccurrenceFilter, load_evaluations
    from shanhai.models.tables import Occurrence

    with app.read_session() as session:
        occ = by_id(session, Occurrence, occurrence_id)
        if occ is None:
            return None
        pairs = load_evaluations(
            session=session,
            as_of=as_of,
            cal=app.calendar,
            flt=OccurrenceFilter(obligation=occ.obligation_id, scope=occ.scope, everything=True),
        )
    found = [(o, e) for o, e in pairs if o.id == occurrence_id]
    if found:
        return found[0]
    # not started yet at as_of (period_start ahead): evaluate it alone, as it will be
    from shanhai.models.requirement import parse_requirement
    from shanhai.models.status import OccurrenceRow, evaluate

    row = OccurrenceRow(
        occ.id,
        occ.obligation_id,
        occ.scope,
        occ.period,
        occ.period_start,
        occ.due,
        parse_requirement(occ.requirement),
    )
    return row, evaluate([row], [], (), as_of=as_of, cal=app.calendar)[0]


def occurrence_records(
    session, *, occurrence_ids: list[int] | None = None, state: str | None = None, limit: int = 200
):
    """Completion records (newest first) with their occurrence's obligation and scope."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import CompletionRecord, Occurrence

    q = (
        select(CompletionRecord, Occurrence)
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
        .order_by(col(CompletionRecord.created_at).desc(), col(CompletionRecord.id).desc())
        .limit(limit)
    )
    if occurrence_ids is not None:
        q = q.where(col(CompletionRecord.occurrence_id).in_(occurrence_ids))
    if state is not None:
        q = q.where(col(CompletionRecord.state) == state)
    return list(session.execute(q).all())


def count_records(session, *, state: str) -> int:
    from sqlalchemy import func, select
    from sqlmodel import col

    from shanhai.models.tables import CompletionRecord

    return int(session.execute(select(func.count()).where(col(CompletionRecord.state) == state)).scalar_one())


def occurrence_history(session, *, occurrence_id: int, record_ids: list[int]) -> list:
    """Audit entries about the occurrence and its records (review history, waiver, 签收), oldest first."""
    from sqlalchemy import and_, or_, select
    from sqlmodel import col

    from shanhai.models.tables import AuditEntry

    about = [and_(col(AuditEntry.entity) == "occurrence", col(AuditEntry.entity_id) == str(occurrence_id))]
    if record_ids:
        about.append(
            and_(
                col(AuditEntry.entity) == "record",
                col(AuditEntry.entity_id).in_([str(i) for i in record_ids]),
            )
        )
    return list(
        session.execute(
            select(AuditEntry).where(or_(*about)).order_by(col(AuditEntry.at), col(AuditEntry.id))
        ).scalars()
    )


def messages_about(
    session, *, occurrence_id: int | None = None, recipient_code: str | None = None, limit: int = 50
):
    """Outbox messages that listed an occurrence, or that went to a unit (newest first), with the
    delivery states of each: list of (OutboxMessage, [Delivery])."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage

    q = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if occurrence_id is not None:
        ids = select(col(OutboxItem.message_id)).where(col(OutboxItem.occurrence_id) == occurrence_id)
        q = q.where(col(OutboxMessage.id).in_(ids))
    if recipient_code is not None:
        q = q.where(col(OutboxMessage.recipient_code) == recipient_code)
    messages = list(session.execute(q).scalars())
    deliveries: dict[int, list] = {}
    if messages:
        for d in session.execute(
            select(Delivery).where(col(Delivery.message_id).in_([m.id for m in messages]))
        ).scalars():
            deliveries.setdefault(d.message_id, []).append(d)
    return [(m, deliveries.get(m.id, [])) for m in messages]


def failed_deliveries(session, *, limit: int = 50):
    """Deliveries that failed or wait for a retry, newest first: list of (Delivery, OutboxMessage)."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import Delivery, OutboxMessage

    return list(
        session.execute(
            select(Delivery, OutboxMessage)
            .join(OutboxMessage, col(OutboxMessage.id) == col(Delivery.message_id))
            .where(col(Delivery.status).in_(["failed", "retry"]))
            .order_by(col(Delivery.id).desc())
            .limit(limit)
        ).all()
    )


def county_of(cat: Catalogue, scope: str) -> str:
    """The county an occurrence's scope belongs to (a pairing's or park's county); 全市 stays 全市."""
    if scope in cat.pairings:
        return cat.pairings[scope].county
    if scope in cat.parks:
        return cat.pairings[cat.parks[scope].pairing].county
    return scope


def overdue_summary(app, *, as_of: datetime) -> dict[str, Any]:
    """Red occurrences (overdue, and missed once it exists) by county and by obligation, per year of
    the due date, from the first year to as_of's; plus the open overdue list."""
    from shanhai.models.localtime import local_date
    from shanhai.models.statuses import Light

    cat = app.catalogue
    today = local_date(as_of)
    pairs = evaluations(app, as_of=as_of, everything=True)
    red = [(o, e) for o, e in pairs if e.light == Light.RED and o.due < today]
    years = list(range(min([o.due.year for o, _ in pairs] or [today.year]), today.year + 1))
    by_county: dict[str, dict[int, int]] = {}
    by_obligation: dict[str, dict[int, int]] = {}
    for occ, _ in red:
        by_county.setdefault(county_of(cat, occ.scope), {}).setdefault(occ.due.year, 0)
        by_county[county_of(cat, occ.scope)][occ.due.year] += 1
        by_obligation.setdefault(occ.obligation_id, {}).setdefault(occ.due.year, 0)
        by_obligation[occ.obligation_id][occ.due.year] += 1
    counties = [c for c in dict.fromkeys(p.county for p in cat.pairings.values()) if c in by_county]
    counties += sorted(c for c in by_county if c not in counties)
    return {
        "years": years,
        "by_county": [
            {
                "name": c,
                "per_year": [by_county[c].get(y, 0) for y in years],
                "total": sum(by_county[c].values()),
            }
            for c in counties
        ],
        "by_obligation": [
            {
                "obligation": ob,
                "title": title_and_clause(cat, ob)[0],
                "per_year": [by_obligation[ob].get(y, 0) for y in years],
                "total": sum(by_obligation[ob].values()),
            }
            for ob in [o for o in cat.obligations if o in by_obligation]
            + sorted(o for o in by_obligation if o not in cat.obligations)
        ],
        "open": sorted(
            (
                {
                    **e.as_item(*title_and_clause(cat, e.obligation_id)),
                    "label": e.label,
                    "progress_text": e.progress_text,
                    "county": county_of(cat, o.scope),
                }
                for o, e in red
            ),
            key=lambda i: (i["due"], i["obligation"], i["scope"]),
        ),
    }

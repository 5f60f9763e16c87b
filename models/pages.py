"""What the portal's pages read: the board with progress per cell, a unit's page, an occurrence with its
records, history and messages, failed deliveries and the supervisors' overdue view (one read each, set-based).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shanhai.models.catalogue import Catalogue
from shanhai.models.queries import evaluations, most_urgent_per_cell, title_and_clause
from shanhai.models.statuses import Status
from shanhai.models.working_days import provisional_footnote

# --------------------------------------------------------------------------- the portal's reads
#
# All read-only: a previewed as_of evaluates stored rows and changes nothing (no sync here).

BOARD_GROUPS = (("pairing", "结对"), ("county", "县（市、区）"), ("park", "产业园"), ("city", "全市"))


def _scope_kind(cat: Catalogue, scope: str) -> str:
    from shanhai.models.catalogue_specs import CITY_SCOPE

    if scope in cat.pairings:
        return "pairing"
    if scope in cat.parks:
        return "park"
    return "city" if scope == CITY_SCOPE else "county"


def board_cell(cat: Catalogue, occ, ev) -> dict[str, Any]:
    from shanhai.models.progress import progress_text

    nominal = occ.requirement.due_nominal  # stored at sync, None when the due date did not roll
    return {
        "occurrence_id": occ.id,
        "status": str(ev.status),
        "light": str(ev.light),
        "label": ev.label,
        "progress": progress_text(ev.progress),
        "due": occ.due.isoformat(),
        "nominal_due": nominal.isoformat() if nominal else None,
        "pending": ev.pending,
        "provisional": ev.provisional,
        "escalation_level": ev.escalation_level,
        "period": occ.period,
        "accountable": list(ev.accountable),
        "history": str(ev.history) if ev.history else None,
    }


def board_view(app, *, as_of: datetime, year: int) -> dict[str, Any]:
    """The portal's board for one year: column groups (pairings, counties, parks, 全市), one row per
    obligation with a cell per scope (the most urgent of its occurrences that year), and the counts."""
    from shanhai.models.store import OccurrenceFilter, load_evaluations

    cat = app.catalogue
    with app.read_session() as session:
        pairs = load_evaluations(
            session=session, as_of=as_of, cal=app.calendar, flt=OccurrenceFilter(year=year)
        )
    cells = {key: board_cell(cat, occ, ev) for key, (occ, ev) in most_urgent_per_cell(pairs).items()}
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
        row_cells = {scope: cell for (o, scope), cell in cells.items() if o == ob_id}
        if row_cells:
            title, clause = title_and_clause(cat, ob_id)
            rows.append({"obligation": ob_id, "title": title, "clause": clause or "", "cells": row_cells})
    counts = Counter(ev.status for _, ev in pairs)
    provisional = {occ.due.year for occ, ev in pairs if ev.provisional}
    return {
        "year": year,
        "provisional_note": provisional_footnote(provisional) if provisional else None,
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
        nominal = occ.requirement.due_nominal
        item.update(
            label=ev.label,
            progress_text=progress_text(ev.progress),
            nominal_due=nominal.isoformat() if nominal else None,
            lead=unit_name in ev.accountable,  # else co-responsible (配合)
        )
        out.append(item)
    out.sort(key=lambda i: (Status(i["status"]).is_final, Status(i["status"]).urgency, i["due"]))
    return out


def occurrence_evaluation(app, *, occurrence_id: int, as_of: datetime):
    """(OccurrenceRow, Evaluation) of one occurrence at as_of, or None when there is no such occurrence.
    An occurrence not started yet at as_of (period_start ahead) is evaluated too, as it will be."""
    from shanhai.models.store import OccurrenceFilter, load_evaluations

    with app.read_session() as session:
        found = load_evaluations(
            session=session, as_of=as_of, cal=app.calendar, flt=OccurrenceFilter(occurrence_id=occurrence_id)
        )
    return found[0] if found else None


def occurrence_records(
    session, *, occurrence_ids: list[int] | None = None, state: str | None = None, limit: int = 200
):
    """Completion records (newest first) with their occurrence's obligation and scope."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.import_batches import visible_records
    from shanhai.models.tables import CompletionRecord, Occurrence

    q = (
        select(CompletionRecord, Occurrence)
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
        .where(visible_records())
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

    from shanhai.models.import_batches import visible_records
    from shanhai.models.tables import CompletionRecord

    counted = select(func.count()).where(col(CompletionRecord.state) == state, visible_records())
    return int(session.execute(counted).scalar_one())


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
    """Deliveries that failed, may have arrived (outcome unknown) or wait for a retry, newest first: list of
    (Delivery, OutboxMessage)."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import Delivery, OutboxMessage

    return list(
        session.execute(
            select(Delivery, OutboxMessage)
            .join(OutboxMessage, col(OutboxMessage.id) == col(Delivery.message_id))
            .where(col(Delivery.status).in_(["failed", "unknown", "retry"]))
            .order_by(col(Delivery.id).desc())
            .limit(limit)
        ).all()
    )


def period_year(period: str) -> int:
    """The year an occurrence belongs to: its period (a year, or a dated-once duty's nominal due date),
    never its rolled due date (2018-12-31 rolled to 2019-01-02 is still 2018's)."""
    return int(period[:4])


def accountable_order(cat: Catalogue, named: Iterable[str]) -> list[str]:
    """Every county and partner district in pairing order (with or without items), then the other
    accountable units (city departments) in the catalogue's order."""
    sides = [u for p in cat.pairings.values() for u in (p.county, p.partner)]
    units = list(dict.fromkeys(sides))
    rest = set(named) - set(units)
    return units + [u for u in cat.units if u in rest] + sorted(rest - set(cat.units))


def _per_year(counts: dict[str, Counter], keys: list[str], years: list[int]) -> list[dict[str, Any]]:
    return [
        {"name": k, "per_year": [counts[k][y] for y in years], "total": sum(counts[k].values())} for k in keys
    ]


def overdue_summary(app, *, as_of: datetime) -> dict[str, Any]:
    """Red occurrences (overdue, and missed once closed) by accountable unit and by obligation, per
    period year from the first year to as_of's; plus the open list. History (due before the document
    took effect or before tracking) is grey, so never here."""
    from shanhai.models.localtime import local_date
    from shanhai.models.statuses import Light

    cat = app.catalogue
    today = local_date(as_of)
    pairs = evaluations(app, as_of=as_of, everything=True)
    red = [(o, e) for o, e in pairs if e.light == Light.RED and o.due < today]
    years = list(range(min([period_year(o.period) for o, _ in pairs] or [today.year]), today.year + 1))
    by_unit: dict[str, Counter] = defaultdict(Counter)
    by_obligation: dict[str, Counter] = defaultdict(Counter)
    for occ, ev in red:
        for unit in ev.accountable:
            by_unit[unit][period_year(occ.period)] += 1
        by_obligation[occ.obligation_id][period_year(occ.period)] += 1
    obligations = [o for o in cat.obligations if o in by_obligation]
    obligations += sorted(o for o in by_obligation if o not in cat.obligations)
    return {
        "years": years,
        "by_unit": _per_year(by_unit, accountable_order(cat, by_unit), years),
        "by_obligation": [
            {**row, "obligation": row["name"], "title": title_and_clause(cat, row["name"])[0]}
            for row in _per_year(by_obligation, obligations, years)
        ],
        "open": sorted(
            (
                {
                    **e.as_item(*title_and_clause(cat, e.obligation_id)),
                    "label": e.label,
                    "progress_text": e.progress_text,
                    "accountable_text": "、".join(e.accountable),
                }
                for o, e in red
            ),
            key=lambda i: (i["due"], i["obligation"], i["scope"]),
        ),
    }

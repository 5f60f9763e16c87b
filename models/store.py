"""Database helpers for the catalogue, occurrences and their evaluation (set-based SQL)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from shanhai.db import insert_ignore
from shanhai.models.acknowledgements import Acknowledgement
from shanhai.models.audit import audit
from shanhai.models.catalogue import Catalogue
from shanhai.models.import_batches import visible_records
from shanhai.models.installation import ensure_installation, read_installation
from shanhai.models.localtime import local_date
from shanhai.models.occurrences import OccurrenceSpec, expected_occurrences
from shanhai.models.progress import RecordTotal
from shanhai.models.requirement import parse_requirement
from shanhai.models.status import Evaluation, OccurrenceRow, evaluate
from shanhai.models.statuses import RecordState, Status
from shanhai.models.tables import (
    CatalogueState,
    CompletionRecord,
    InvestmentPlan,
    Obligation,
    Occurrence,
    OutboxItem,
    Pairing,
    Park,
    Unit,
    Waiver,
)
from shanhai.models.working_days import WorkingCalendar


@dataclass(frozen=True)
class SyncReport:
    units: int
    obligations_added: int
    obligations_changed: int
    occurrences_added: int
    occurrences_updated: int
    occurrences_removed: int = 0

    @property
    def changed(self) -> bool:
        return any(
            (
                self.obligations_added,
                self.obligations_changed,
                self.occurrences_added,
                self.occurrences_updated,
                self.occurrences_removed,
            )
        )


def _upsert(session: Session, model: Any, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert the row, or update it where a value differs; safe when several processes sync at once
    (the insert waits for the other's commit and writes nothing; the UPDATE then changes nothing)."""
    if insert_ignore(session, model, {**key, **values}, on_key=True):
        return
    table = model.__table__
    session.connection().execute(
        update(table)
        .where(*(table.c[k] == v for k, v in key.items()))
        .where(or_(*(table.c[k].is_distinct_from(v) for k, v in values.items())))
        .values(**values)
    )


def _horizon(as_of: datetime, now: datetime) -> int:
    """The last year whose occurrences a sync at ``as_of`` (real clock ``now``) must have stored."""
    return max(local_date(as_of).year, local_date(now).year) + 1


def sync_is_current(session: Session, *, as_of: datetime, now: datetime, fingerprint: str) -> bool:
    """Whether :func:`sync_catalogue` would write nothing: the installation exists, the catalogue is
    unchanged, its occurrences reach the horizon and the high-water mark has seen ``now``'s day. Only
    reads, so a reading command can check it without taking a write lock."""
    state = session.get(CatalogueState, "catalogue")
    return (
        state is not None
        and state.fingerprint == fingerprint
        and state.through_year >= _horizon(as_of, now)
        and state.high_water >= local_date(now)
        and read_installation(session=session) is not None
    )


def sync_catalogue(
    cat: Catalogue,
    cal: WorkingCalendar,
    *,
    session: Session,
    as_of: datetime,
    now: datetime,
    actor: str = "system",
    fingerprint: str | None = None,
) -> SyncReport:
    """Store the catalogue and its occurrences; idempotent. With a fingerprint of the catalogue's
    files, an unchanged catalogue at the same horizon returns after one read.

    History is frozen by the real clock (``now``), never by a preview's ``as_of``: occurrences whose due
    date is on or before the latest day the real clock has reached keep their due date and requirement
    when the catalogue changes. Occurrences exist through the year after ``as_of`` and after ``now``.
    The first sync also creates the installation (tracking from 1 January of ``as_of``'s year).
    """
    first_year = date(local_date(as_of).year, 1, 1)
    installation = ensure_installation(session=session, tracking_from=first_year)
    state = session.get(CatalogueState, "catalogue")
    if state is None and installation.tracking_from != first_year:
        installation.tracking_from = first_year  # the first sync: the migration's row holds a placeholder
    real_today = local_date(now)
    stamp = now.astimezone(UTC)  # rows are stamped by the App's clock, like everything else it owns
    today = max(real_today, state.high_water) if state else real_today  # history ends here
    horizon = _horizon(as_of, now)
    if fingerprint and state and state.fingerprint == fingerprint and state.through_year >= horizon:
        state.high_water = today
        return SyncReport(len(cat.units), 0, 0, 0, 0)
    horizon = max(horizon, state.through_year if state else horizon)
    for u in cat.units.values():
        _upsert(
            session,
            Unit,
            {"code": u.code},
            {
                "name": u.name,
                "short": u.short,
                "kind": u.kind,
                "aliases": json.dumps(u.aliases, ensure_ascii=False),
            },
        )
    for p in cat.pairings.values():
        _upsert(session, Pairing, {"name": p.name}, p.model_dump(exclude={"name"}))
    for pk in cat.parks.values():
        _upsert(session, Park, {"name": pk.name}, pk.model_dump(exclude={"name"}))
    for row in cat.plans:
        _upsert(
            session,
            InvestmentPlan,
            {"park": row.park, "year": row.year, "kind": row.kind},
            row.model_dump(exclude={"park", "year", "kind"}),
        )
    added = changed = 0
    for ob_id, ob in cat.obligations.items():
        definition = cat.definition_json(ob_id)
        digest = hashlib.sha256(definition.encode()).hexdigest()
        values: dict[str, Any] = {
            "document_id": cat.obligation_document[ob_id],
            "title": ob.title,
            "clause": ob.clause,
            "kind": ob.kind,
            "scope": ob.scope,
            "valid_from": ob.valid_from,
            "valid_until": ob.valid_until,
            "definition": definition,
            "definition_hash": digest,
            "loaded_at": stamp,
        }
        # audited by whichever process's statement wrote the row: once, however many sync at once
        if insert_ignore(session, Obligation, {"id": ob_id, **values}, on_key=True):
            added += 1
            audit(
                session=session, actor=actor, action="obligation.added", entity="obligation", entity_id=ob_id
            )
            continue
        redefined = session.connection().execute(
            update(Obligation)
            .where(col(Obligation.id) == ob_id, col(Obligation.definition_hash) != digest)
            .values(**values)
        )
        if redefined.rowcount == 1:
            changed += 1
            audit(
                session=session,
                actor=actor,
                action="obligation.changed",
                entity="obligation",
                entity_id=ob_id,
            )

    specs = expected_occurrences(cat, cal, through_year=horizon)
    existing_rows = {
        (o.obligation_id, o.scope, o.period): o for o in session.execute(select(Occurrence)).scalars()
    }
    new_rows: list[dict[str, Any]] = []
    occ_updated = 0
    for spec in specs:
        requirement = spec.requirement.to_json()
        stored = existing_rows.get(spec.key)
        if stored is None:
            new_rows.append(
                {
                    "obligation_id": spec.obligation_id,
                    "scope": spec.scope,
                    "period": spec.period,
                    "period_start": spec.period_start,
                    "due": spec.due,
                    "requirement": requirement,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        elif _follows_catalogue(stored, spec, today) and (
            stored.due != spec.due or stored.requirement != requirement
        ):
            # conditional, so that of racing syncs only the one that changes the row counts it
            occ_updated += session.connection().execute(
                update(Occurrence)
                .where(
                    col(Occurrence.id) == stored.id,
                    col(Occurrence.due) == stored.due,
                    or_(col(Occurrence.due) != spec.due, col(Occurrence.requirement) != requirement),
                )
                .values(due=spec.due, requirement=requirement, updated_at=stamp)
            ).rowcount
            session.expire(stored)  # the row changed under the loaded object
    # concurrent first syncs (29 checks at 09:05 on Jan 1) may insert the same keys: the first wins
    occ_added = insert_ignore(session, Occurrence, new_rows)
    occ_removed = _remove_unimplied(session, existing_rows, {spec.key for spec in specs})
    if occ_added or occ_updated or occ_removed:
        audit(
            session=session,
            actor=actor,
            action="occurrences.synced",
            entity="catalogue",
            entity_id="*",
            added=occ_added,
            updated=occ_updated,
            removed=occ_removed,
            as_of=as_of.isoformat(),
        )
    if state is None:
        insert_ignore(
            session,
            CatalogueState,
            {
                "key": "catalogue",
                "fingerprint": fingerprint,
                "through_year": horizon,
                "high_water": today,
                "synced_at": stamp,
            },
        )
    else:
        state.fingerprint, state.through_year, state.high_water, state.synced_at = (
            fingerprint,
            horizon,
            today,
            stamp,
        )
    session.flush()
    return SyncReport(len(cat.units), added, changed, occ_added, occ_updated, occ_removed)


def _follows_catalogue(stored: Occurrence, spec: OccurrenceSpec, today: date) -> bool:
    """Future occurrences follow the catalogue; past ones are frozen history, except those due before
    their document took effect: they are never scored, so they may learn that they are history."""
    return stored.due > today or spec.requirement.before_document(spec.due)


@dataclass(frozen=True)
class OccurrenceFilter:
    obligation: str | None = None
    scope: str | None = None
    year: int | None = None  # None: the as_of year plus anything still open from before
    everything: bool = False
    occurrence_id: int | None = None  # just this one, started or not (all other fields are ignored)


def _remove_unimplied(session: Session, existing: dict[tuple, Occurrence], implied: set[tuple]) -> int:
    """Occurrences the catalogue no longer implies (a pairing ended, a duty cut short) go, unless
    something already refers to them: a record, a waiver, a message or an acknowledgement is history and
    stays (deleting the occurrence under it would also break its foreign key)."""
    candidates = [o.id for key, o in existing.items() if key not in implied]
    if not candidates:
        return 0
    referenced: set[int] = set()
    for column in (CompletionRecord.occurrence_id, Waiver.occurrence_id, OutboxItem.occurrence_id,
                   Acknowledgement.occurrence_id):
        referenced |= set(session.execute(select(col(column)).where(col(column).in_(candidates))).scalars())
    doomed = [i for i in candidates if i not in referenced]
    if not doomed:
        return 0
    return session.connection().execute(delete(Occurrence).where(col(Occurrence.id).in_(doomed))).rowcount


def _occurrence_filter(f: OccurrenceFilter, today: date) -> list[ColumnElement[bool]]:
    if f.occurrence_id is not None:
        return [col(Occurrence.id) == f.occurrence_id]
    where = [col(Occurrence.period_start) <= today]
    if f.obligation:
        where.append(col(Occurrence.obligation_id) == f.obligation)
    if f.scope:
        where.append(col(Occurrence.scope) == f.scope)
    if f.year is not None and not f.everything:
        # the same rows the year filter below keeps, chosen in SQL: one year's board evaluates one year
        where.append(
            or_(
                col(Occurrence.period) == str(f.year),
                col(Occurrence.due).between(date(f.year, 1, 1), date(f.year, 12, 31)),
            )
        )
    return where


def load_evaluations(
    *, session: Session, as_of: datetime, cal: WorkingCalendar, flt: OccurrenceFilter | None = None
) -> list[tuple[OccurrenceRow, Evaluation]]:
    """Evaluate every selected occurrence: three set-based queries of plain columns, then pure Python."""
    flt = flt or OccurrenceFilter()
    today = local_date(as_of)
    where = _occurrence_filter(flt, today)
    occ_q = (
        select(
            col(Occurrence.id),
            col(Occurrence.obligation_id),
            col(Occurrence.scope),
            col(Occurrence.period),
            col(Occurrence.period_start),
            col(Occurrence.due),
            col(Occurrence.requirement),
        )
        .where(*where)
        .order_by(col(Occurrence.obligation_id), col(Occurrence.scope), col(Occurrence.period))
    )
    ids = select(col(Occurrence.id)).where(*where).scalar_subquery()
    record_day = (
        col(CompletionRecord.occurrence_id),
        col(CompletionRecord.date),
        col(CompletionRecord.category),
        col(CompletionRecord.state),
    )
    totals_q = (
        select(
            *record_day,
            func.sum(col(CompletionRecord.count)),
            func.coalesce(func.sum(col(CompletionRecord.amount_fen)), 0),
            func.max(col(CompletionRecord.count)),
        )
        .where(
            col(CompletionRecord.occurrence_id).in_(ids),
            col(CompletionRecord.state) != RecordState.REJECTED,
            visible_records(),
        )
        .group_by(*record_day)
    )
    totals = [RecordTotal(o, d, c, s, int(n), int(a), int(m)) for o, d, c, s, n, a, m in session.execute(totals_q)]
    waived = set(
        session.execute(select(col(Waiver.occurrence_id)).where(col(Waiver.occurrence_id).in_(ids))).scalars()
    )
    rows = [
        OccurrenceRow(i, ob, sc, pe, ps, du, parse_requirement(req))
        for i, ob, sc, pe, ps, du, req in session.execute(occ_q)
    ]
    installation = read_installation(session=session)
    tracking_from = installation.tracking_from if installation else None
    evaluations = evaluate(rows, totals, waived, as_of=as_of, cal=cal, tracking_from=tracking_from)
    pairs = list(zip(rows, evaluations, strict=True))
    if flt.everything or flt.occurrence_id is not None:
        return pairs
    year = flt.year or today.year
    return [
        (o, e)
        for o, e in pairs
        if (o.period == str(year) or o.due.year == year) or (flt.year is None and e.status is Status.OVERDUE)
    ]

"""What the annual assessment reads from the database: one year's evaluated occurrences and their records,
in set-based queries (no query per occurrence)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select
from sqlmodel import Session, col

from shanhai.models.assessment import AssessmentInputs, Evidence, assessment_year
from shanhai.models.assessment_method import AssessmentMethod, load_method
from shanhai.models.catalogue import Catalogue
from shanhai.models.catalogue_specs import ASSESSMENT_FILE_NAME
from shanhai.models.import_batches import visible_records
from shanhai.models.store import OccurrenceFilter, load_evaluation_inputs, load_evaluations
from shanhai.models.tables import CompletionRecord, Occurrence
from shanhai.models.working_days import WorkingCalendar


def method_for(cat: Catalogue, catalogue_dir: Path) -> AssessmentMethod:
    """The method file beside the catalogue, checked against it (AssessmentMethodError when broken)."""
    return load_method(Path(catalogue_dir) / ASSESSMENT_FILE_NAME, cat)


def _evidence(*, session: Session, year: int) -> dict[int, tuple[Evidence, ...]]:
    in_year = or_(col(Occurrence.period) == str(year), col(Occurrence.period).like(f"{year}-%"))
    q = (
        select(col(CompletionRecord.id), col(CompletionRecord.occurrence_id), col(CompletionRecord.date),
               col(CompletionRecord.state))
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
        .where(in_year, visible_records())  # a half-written import counts nowhere
        .order_by(col(CompletionRecord.date), col(CompletionRecord.id))
    )
    found: dict[int, list[Evidence]] = defaultdict(list)
    for rid, occ, on, state in session.execute(q):
        found[occ].append(Evidence(rid, on, state))
    return {k: tuple(v) for k, v in found.items()}


def load_assessment_inputs(
    cat: Catalogue, *, session: Session, as_of: datetime, cal: WorkingCalendar, year: int
) -> AssessmentInputs:
    pairs = load_evaluations(session=session, as_of=as_of, cal=cal, flt=OccurrenceFilter(year=year))
    return AssessmentInputs(
        year=year,
        as_of=as_of,
        pairs=[(o, e) for o, e in pairs if assessment_year(o.period) == year],
        evidence=_evidence(session=session, year=year),
        unit_kinds={u.name: u.kind for u in cat.units.values()},
    )


_SEVERITY = {"red": 3, "yellow": 2, "green": 1, "grey": 0}


def monthly_lights(
    cat: Catalogue, *, session: Session, as_of: datetime, cal: WorkingCalendar, year: int, units: list[str]
) -> dict[str, list[str | None]]:
    """Per unit, the worst light of its assessed occurrences at each month's end (None after ``as_of``):
    the year's rows and records are read once and evaluated at each month's end (evaluate() is pure)."""
    from shanhai.models.assessment import HISTORY, outcome_of
    from shanhai.models.localtime import SHANGHAI, local_date
    from shanhai.models.status import evaluate

    loaded = load_evaluation_inputs(session=session, today=local_date(as_of), flt=OccurrenceFilter(year=year))
    rows = [r for r in loaded.rows if assessment_year(r.period) == year]
    out: dict[str, list[str | None]] = {u: [None] * 12 for u in units}
    wanted = set(units)
    for month in range(12):
        if date(year, month + 1, 1) > local_date(as_of):
            break  # the months after the assessment's instant stay blank
        end = datetime(year + (month == 11), (month + 1) % 12 + 1, 1, tzinfo=SHANGHAI) - timedelta(seconds=1)
        instant = min(end, as_of)
        started = [r for r in rows if r.period_start <= local_date(instant)]
        evaluations = evaluate(started, loaded.totals, loaded.waived, as_of=instant, cal=cal,
                               tracking_from=loaded.tracking_from)
        for row, ev in zip(started, evaluations, strict=True):
            if outcome_of(ev) == HISTORY:
                continue
            for unit in wanted.intersection(row.requirement.accountable):
                light = str(ev.light)
                current = out[unit][month]
                if current is None or _SEVERITY[light] > _SEVERITY[current]:
                    out[unit][month] = light
    return out


def quantity_steps(*, session: Session, occurrence_ids: list[int]) -> dict[int, list[tuple[date, int, int]]]:
    """Per occurrence, its counting records as (date, count, amount in fen), for a burn-up."""
    if not occurrence_ids:
        return {}
    q = (
        select(col(CompletionRecord.occurrence_id), col(CompletionRecord.date), col(CompletionRecord.count),
               col(CompletionRecord.amount_fen))
        .where(col(CompletionRecord.occurrence_id).in_(occurrence_ids), col(CompletionRecord.state) != "rejected",
               visible_records())
        .order_by(col(CompletionRecord.date))
    )
    found: dict[int, list[tuple[date, int, int]]] = defaultdict(list)
    for occ, on, count, fen in session.execute(q):
        found[occ].append((on, count or 0, fen or 0))
    return dict(found)

"""What the annual assessment reads from the database: one year's evaluated occurrences and their records,
in set-based queries (no query per occurrence)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlmodel import Session, col

from shanhai.models.assessment import AssessmentInputs, Evidence, assessment_year
from shanhai.models.assessment_method import AssessmentMethod, load_method
from shanhai.models.catalogue import Catalogue
from shanhai.models.catalogue_specs import ASSESSMENT_FILE_NAME
from shanhai.models.installation import read_installation
from shanhai.models.store import OccurrenceFilter, load_evaluations
from shanhai.models.tables import CompletionRecord, Occurrence
from shanhai.models.working_days import WorkingCalendar


def method_for(cat: Catalogue, catalogue_dir: Path) -> AssessmentMethod:
    """The method file beside the catalogue, checked against it (AssessmentMethodError when broken)."""
    return load_method(Path(catalogue_dir) / ASSESSMENT_FILE_NAME, cat)


def history_cutoffs(cat: Catalogue, tracking_from: date | None) -> dict[str, date]:
    """Per obligation: its document's issue date or the tracking start, whichever is later."""
    out = {}
    for ob_id, doc_id in cat.obligation_document.items():
        issued = cat.documents[doc_id].issued
        out[ob_id] = max(issued, tracking_from) if tracking_from else issued
    return out


def _evidence(session: Session, year: int) -> dict[int, tuple[Evidence, ...]]:
    in_year = or_(col(Occurrence.period) == str(year), col(Occurrence.period).like(f"{year}-%"))
    q = (
        select(col(CompletionRecord.id), col(CompletionRecord.occurrence_id), col(CompletionRecord.date),
               col(CompletionRecord.state))
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
        .where(in_year)
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
    installation = read_installation(session=session)
    return AssessmentInputs(
        year=year,
        as_of=as_of,
        pairs=[(o, e) for o, e in pairs if assessment_year(o.period) == year],
        evidence=_evidence(session, year),
        unit_kinds={u.name: u.kind for u in cat.units.values()},
        history_before=history_cutoffs(cat, installation.tracking_from if installation else None),
    )

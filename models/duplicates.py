"""When two completion records are one: the rule the CLI, imports and the portal all apply.

Two records are the same record when they are for the same occurrence, on the same date, with the same
amount, count and category, and neither their notes, their evidence nor the units that reported them
through their links tell them apart (two projects of the same amount on the same day stay distinct when
their notes or files differ; the two sides of a pairing reporting one joint meeting through their own links
are two reports of one event, which progress counts once; the coordinator entering through the CLI or an
import what a unit already reported is a repeat). A rejected record no
longer counts, so a corrected one may repeat its figures. Pressing Back and submitting again, or
importing a ledger that repeats a stored line, is refused with the id of the record already there.

Records of the same occurrence and date that differ only in figures or evidence are *near* duplicates:
stored, but flagged in the coordinator's queue for a second look.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, select
from sqlmodel import Session, col

from shanhai.models.errors import InputError
from shanhai.models.import_batches import visible_records
from shanhai.models.statuses import RecordState
from shanhai.models.tables import CompletionRecord

SAME_FIGURES = "同一期次、日期、金额、数量、类别，说明与证明材料也无区别"
LINK_REPORTER = "（报送链接）"  # the reporter a unit's record carries when it comes through its signed link


def link_reporter(unit_name: str) -> str:
    return f"{unit_name}{LINK_REPORTER}"


def reporting_unit(submitted_by: str | None) -> str | None:
    """The unit behind a record sent through its link; None for the CLI, an import or the demo."""
    return submitted_by if submitted_by and submitted_by.endswith(LINK_REPORTER) else None


@dataclass(frozen=True)
class RecordFacts:
    occurrence_id: int
    on: date
    amount_fen: int | None
    count: int
    category: str | None
    note: str | None
    evidence_sha256: str | None
    reporter: str | None = None  # the unit that reported it through its link (reporting_unit), else None

    @property
    def figures(self) -> tuple:
        return (self.occurrence_id, self.on, self.amount_fen, self.count, self.category)


def distinguishing(text: str | None) -> str | None:
    """A note or evidence hash as it tells records apart: trimmed, and None when blank."""
    return (text or "").strip() or None


def _tells_apart(a: str | None, b: str | None) -> bool:
    """A note or a file tells two records apart only when both have one and they differ."""
    a, b = distinguishing(a), distinguishing(b)
    return a is not None and b is not None and a != b


def same_record_message(record_id: int) -> str:
    return f"已提交过相同记录 #{record_id}（{SAME_FIGURES}）"


def identical(a: RecordFacts, b: RecordFacts) -> bool:
    return (
        a.figures == b.figures
        and not _tells_apart(a.note, b.note)
        and not _tells_apart(a.evidence_sha256, b.evidence_sha256)
        and not _tells_apart(a.reporter, b.reporter)
    )


def refuse_identical(facts: RecordFacts, *, session: Session, exclude_batch: int | None = None) -> None:
    """InputError naming the stored, not rejected record ``facts`` would repeat. ``exclude_batch``: an
    import's own rows, which the import compares line by line (naming the line instead)."""
    rec = CompletionRecord
    amount, category = col(rec.amount_fen), col(rec.category)
    q = select(rec).where(
        col(rec.occurrence_id) == facts.occurrence_id,
        col(rec.date) == facts.on,
        col(rec.count) == facts.count,
        amount.is_(None) if facts.amount_fen is None else amount == facts.amount_fen,
        category.is_(None) if facts.category is None else category == facts.category,
        col(rec.state) != RecordState.REJECTED.value,
        visible_records(),
    )
    if exclude_batch is not None:
        batch = col(rec.import_batch_id)
        q = q.where(batch.is_(None) | (batch != exclude_batch))
    for stored in session.execute(q.order_by(col(rec.id))).scalars():
        if identical(facts, facts_of(stored)):
            raise InputError("record", same_record_message(stored.id))


def facts_of(rec: CompletionRecord) -> RecordFacts:
    assert rec.occurrence_id is not None
    return RecordFacts(rec.occurrence_id, rec.date, rec.amount_fen, rec.count, rec.category, rec.note,
                       rec.evidence_sha256, reporting_unit(rec.submitted_by))


def near_duplicates(record_ids: Iterable[int], *, session: Session) -> dict[int, list[int]]:
    """For each of ``record_ids``: the other stored, not rejected records of the same occurrence and date
    (one query for all of them)."""
    ids = list(record_ids)
    if not ids:
        return {}
    rec = CompletionRecord
    other = rec.__table__.alias("other")  # type: ignore[attr-defined]
    rows = session.execute(
        select(col(rec.id), other.c.id)
        .join(other, and_(other.c.occurrence_id == col(rec.occurrence_id), other.c.date == col(rec.date),
                          other.c.id != col(rec.id)))
        .where(col(rec.id).in_(ids), other.c.state != RecordState.REJECTED.value,
               visible_records(other.c.import_batch_id))
        .order_by(col(rec.id), other.c.id)
    ).all()
    found: dict[int, list[int]] = {}
    for rid, oid in rows:
        found.setdefault(rid, []).append(oid)
    return found

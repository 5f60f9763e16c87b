"""What satisfies one occurrence: derived from the catalogue when the occurrence is stored, kept with it
(JSON in ``Occurrence.requirement``) so that a later catalogue edit never rewrites history."""

from __future__ import annotations

import json
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from shanhai.models.catalogue_specs import DEFAULT_CLOSES, QUANTITY_KINDS, Kind, Share, Target, month_day
from shanhai.models.ladder import ReminderLadder


def closing_day(due: date, closes: str = DEFAULT_CLOSES) -> date:
    """The first ``closes`` (MM-DD) after the effective due date: the assessment that closes a period."""
    candidate = month_day(closes, due.year)
    return candidate if candidate > due else month_day(closes, due.year + 1)


class PaceStep(BaseModel):
    """A milestone for early warning: ``count`` records, or ``share`` of the target, by ``by``."""

    model_config = ConfigDict(frozen=True)

    by: date
    count: int | None = None
    share: float | None = None


class Requirement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Kind
    min_count: int | None = None
    target: Target | None = None
    target_fen: int | None = None  # a money target, exactly, in fen
    target_quantity: float | None = None  # a count target (人次, 个)
    shares: tuple[Share, ...] = ()
    responsible: tuple[str, ...] = ()  # canonical unit names: the lead units, then the co-responsible
    lead: tuple[str, ...] | None = None  # None in rows stored before leads were told apart: all lead
    copied: tuple[str, ...] = ()  # co-responsible units copied at the due date and the first escalation
    ladder: dict[str, Any] | None = None  # the catalogue's reminder override, None for the default
    window_start: date | None = None  # a window: records dated before it do not count (年中 = 05-01..08-31)
    due_nominal: date | None = None  # the date the document states, when the effective due date differs
    closes: date | None = None  # the assessment that closes the period; None in older rows: the default
    unverified: bool = False  # the source's figures are garbled: flagged, never sent to the supervisors
    pace: tuple[PaceStep, ...] = ()
    plan: dict[str, int] | None = None  # 附件1: planned completion per kind (government, attraction), fen
    document_from: date | None = None  # the document's effective date: due before it is history
    joint: bool = False  # both sides of a pairing lead: one event reported by each is still one event

    @cached_property
    def reminder_ladder(self) -> ReminderLadder:
        return ReminderLadder.from_mapping(self.ladder)

    @property
    def leads(self) -> tuple[str, ...]:
        return self.responsible if self.lead is None else self.lead

    @property
    def accountable(self) -> tuple[str, ...]:
        """The units that owe the occurrence (责任单位): the lead side(s) of a pairing, or the lead
        department of a city duty. Every view, export and score charges these units and no others."""
        return self.leads

    def closes_on(self, due: date) -> date:
        """The last day a record may be dated and still count for this period (see :meth:`counts_until`)."""
        return self.closes if self.closes is not None else closing_day(due)

    def before_document(self, due: date) -> bool:
        """Due (as the document states it) before the document took effect: history, never failure."""
        return self.document_from is not None and (self.due_nominal or due) < self.document_from

    @property
    def counts_by_date(self) -> bool:
        """Money, people and projects belong to the period that contains their date: a quantity
        dated after its period never counts for it, however early it is reported."""
        return self.kind in QUANTITY_KINDS

    def counts_until(self, due: date, period: str) -> date:
        """The last record date that counts: the closing day, or for a quantity the end of the
        period's year (``period`` is the year, or a dated-once duty's nominal due date)."""
        closes = self.closes_on(due)
        if not self.counts_by_date:
            return closes
        return min(closes, date(int(period[:4]), 12, 31))

    @property
    def counts_events(self) -> bool:
        """A joint count duty counts distinct dates: both sides reporting one meeting is one meeting."""
        return self.joint and self.target is None and self.plan is None

    def counts_from(self, period_start: date) -> date:
        return self.window_start or period_start

    @property
    def full_measure(self) -> float:
        """The target in the measure records are summed in: fen for money, a count otherwise."""
        return self.target_fen or self.target_quantity or 0

    @property
    def measures_money(self) -> bool:
        return self.target_fen is not None

    def to_json(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=8192)
def parse_requirement(text: str) -> Requirement:
    """Requirements repeat across scopes and years: each distinct text is parsed once per process."""
    return Requirement.model_validate_json(text)

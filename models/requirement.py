"""What satisfies one occurrence: derived from the catalogue when the occurrence is stored, kept with it
(JSON in ``Occurrence.requirement``) so that a later catalogue edit never rewrites history."""

from __future__ import annotations

import json
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from shanhai.models.catalogue_specs import DEFAULT_CLOSES, Kind, Share, Target, month_day
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

    @cached_property
    def reminder_ladder(self) -> ReminderLadder:
        return ReminderLadder.from_mapping(self.ladder)

    @property
    def leads(self) -> tuple[str, ...]:
        return self.responsible if self.lead is None else self.lead

    def closes_on(self, due: date) -> date:
        """The last day a record may be dated and still count for this period."""
        return self.closes if self.closes is not None else closing_day(due)

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

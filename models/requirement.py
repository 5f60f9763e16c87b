"""What satisfies one occurrence: derived from the catalogue when the occurrence is stored, kept with it
(JSON in ``Occurrence.requirement``) so that a later catalogue edit never rewrites history."""

from __future__ import annotations

import json
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from shanhai.models.catalogue import Kind, Share, Target
from shanhai.models.ladder import ReminderLadder


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
    responsible: tuple[str, ...] = ()  # canonical unit names, lead first
    ladder: dict[str, Any] | None = None  # the catalogue's reminder override, None for the default
    window_end: date | None = None  # records after it belong to the next period
    pace: tuple[PaceStep, ...] = ()
    plan: dict[str, int] | None = None  # 附件1: planned completion per kind (government, attraction), fen

    @cached_property
    def reminder_ladder(self) -> ReminderLadder:
        return ReminderLadder.from_mapping(self.ladder)

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

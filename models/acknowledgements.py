"""签收: a unit acknowledges a reminder for an occurrence, once per ladder stage.

The planner may read ``latest_acknowledgements`` to pause the weekly repeats to a unit that has
acknowledged, until the next stage; escalation is never stopped by it (that rule lives in the planner).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import UniqueConstraint, func, select
from sqlmodel import Field, Session, SQLModel, col

from shanhai.db import insert_ignore
from shanhai.models.audit import audit
from shanhai.models.ladder import DEFAULT_LADDER, ReminderLadder, Schedule, WorkingDays, stage_label
from shanhai.models.requirement import parse_requirement
from shanhai.models.tables import Occurrence, utcnow

# Stored when a unit acknowledges before any stage has gone out (a link opened early).
NO_STAGE = ("none", -1)
NO_STAGE_LABEL = "尚未提醒"


class Acknowledgement(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("occurrence_id", "unit_code", "stage", name="uq_acknowledgement_stage"),)

    id: int | None = Field(default=None, primary_key=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    unit_code: str = Field(max_length=64)
    stage: str = Field(max_length=32)  # the occurrence's current ladder stage when acknowledged
    stage_rank: int
    acknowledged_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=128)


@dataclass(frozen=True)
class StageNow:
    name: str
    rank: int
    label: str


def acknowledged_stage_label(name: str, ladder: ReminderLadder = DEFAULT_LADDER) -> str:
    """The label of a stored acknowledgement's stage (NO_STAGE too), from the ladder."""
    return NO_STAGE_LABEL if name == NO_STAGE[0] else stage_label(name, ladder)


def stage_now(occ: Occurrence, cal: WorkingDays, today: date) -> StageNow:
    """The occurrence's ladder stage on ``today`` (the most advanced one gone out), or NO_STAGE."""
    ladder = parse_requirement(occ.requirement).reminder_ladder
    stage = Schedule(occ.due, cal, ladder).current(today)
    if stage is None:
        return StageNow(NO_STAGE[0], NO_STAGE[1], NO_STAGE_LABEL)
    return StageNow(stage.name, stage.rank, stage.label)


def acknowledge(
    *,
    session: Session,
    occurrence_id: int,
    unit_code: str,
    stage: str,
    stage_rank: int,
    actor: str,
    at: datetime,
) -> tuple[Acknowledgement, bool]:
    """Record the acknowledgement (idempotent per stage); True when this call stored it.

    Only a new acknowledgement is audited: a second click at the same stage changes nothing."""
    stored = insert_ignore(
        session,
        Acknowledgement,
        {
            "occurrence_id": occurrence_id,
            "unit_code": unit_code,
            "stage": stage,
            "stage_rank": stage_rank,
            "acknowledged_at": at,
            "actor": actor,
        },
    )
    row = session.execute(
        select(Acknowledgement).where(
            col(Acknowledgement.occurrence_id) == occurrence_id,
            col(Acknowledgement.unit_code) == unit_code,
            col(Acknowledgement.stage) == stage,
        )
    ).scalar_one()
    if stored:
        audit(
            session=session,
            actor=actor,
            action="occurrence.acknowledged",
            entity="occurrence",
            entity_id=str(occurrence_id),
            unit=unit_code,
            stage=stage,
            stage_rank=stage_rank,
        )
    return row, bool(stored)


def latest_acknowledgements(*, session: Session, occurrence_ids: list[int]) -> dict[tuple[int, str], int]:
    """(occurrence id, unit code) -> the highest stage rank acknowledged."""
    if not occurrence_ids:
        return {}
    rows = session.execute(
        select(
            col(Acknowledgement.occurrence_id),
            col(Acknowledgement.unit_code),
            func.max(col(Acknowledgement.stage_rank)),
        )
        .where(col(Acknowledgement.occurrence_id).in_(occurrence_ids))
        .group_by(col(Acknowledgement.occurrence_id), col(Acknowledgement.unit_code))
    )
    return {(o, u): int(r) for o, u, r in rows}


def acknowledgements_of(*, session: Session, occurrence_ids: list[int]) -> list[Acknowledgement]:
    """Every acknowledgement of these occurrences, oldest first (for showing 已签收 于 …)."""
    if not occurrence_ids:
        return []
    return list(
        session.execute(
            select(Acknowledgement)
            .where(col(Acknowledgement.occurrence_id).in_(occurrence_ids))
            .order_by(col(Acknowledgement.acknowledged_at), col(Acknowledgement.id))
        ).scalars()
    )

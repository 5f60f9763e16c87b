"""Immutable versions of a closed year's assessment: the annual flow stores one when the numbers differ
from the latest version (a late 补录 or a waiver changed them), and says what changed.

A version is never updated. Two runs storing the same year at once race on the unique (year, version):
one inserts, the other finds the same numbers stored and stores nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel, col

from shanhai.db import insert_ignore
from shanhai.models.assessment import Assessment, outcome_label_of
from shanhai.models.assessment_report import fmt
from shanhai.models.tables import utcnow


class AssessmentVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("year", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    version: int
    fingerprint: str = Field(max_length=64)  # of the numbers, not of when they were computed
    as_of: datetime
    method_title: str = Field(max_length=255)
    units: str = Field(sa_column=Column(Text, nullable=False))  # the `assessment --json` list
    changes: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of Chinese sentences
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class StoredVersion:
    year: int
    version: int
    created: bool  # False: the numbers equal the latest version's, nothing was stored
    changes: tuple[str, ...]
    as_of: datetime


def fingerprint(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _line_key(line: dict[str, Any]) -> tuple:
    return (line["obligation"], line["occurrence"], line["outcome"] in ("bonus", "penalty", "bound"), line["note"])


def _shown(value: Any) -> str:
    return fmt(value) if isinstance(value, float) else str(value)


def _unit_changes(unit: str, old: dict[str, Any], new: dict[str, Any], titles: Mapping[str, str]) -> list[str]:
    out = []
    moved = [f"{label} {_shown(old[k])} → {_shown(new[k])}" for k, label in (("score", "得分"), ("band", "档次"), ("rank", "类内名次"))
             if old[k] != new[k]]
    if moved:
        out.append(f"{unit}：" + "，".join(moved))
    before = {_line_key(x): x for x in old["lines"]}
    for line in new["lines"]:
        was = before.pop(_line_key(line), None)
        if was is None:
            out.append(f"{unit}：新增 {titles.get(line['obligation'], line['obligation'])}（{line['scope']}）"
                       f"{outcome_label_of(line['outcome'])} {line['points']:g} 分")
        elif (was["outcome"], was["points"], was["records"]) != (line["outcome"], line["points"], line["records"]):
            out.append(f"{unit}：{titles.get(line['obligation'], line['obligation'])}（{line['scope']}）"
                       f"{outcome_label_of(was['outcome'])} "
                       f"{was['points']:g} 分 → {outcome_label_of(line['outcome'])} {line['points']:g} 分")
    out += [f"{unit}：删除 {titles.get(x['obligation'], x['obligation'])}（{x['scope']}）" for x in before.values()]
    return out


def what_changed(old: list[dict[str, Any]], new: list[dict[str, Any]], titles: Mapping[str, str]) -> list[str]:
    """In Chinese, per unit: its score, band and rank, and each line whose outcome, points or records changed
    (duties by their titles)."""
    before = {u["unit"]: u for u in old}
    out: list[str] = []
    for unit in new:
        was = before.pop(unit["unit"], None)
        out += ([f"{unit['unit']}：新参评，得分 {_shown(unit['score'])}"] if was is None
                else _unit_changes(unit["unit"], was, unit, titles))
    out += [f"{name}：不再参评" for name in before]
    return out


def latest_version(*, session: Session, year: int) -> AssessmentVersion | None:
    q = (select(AssessmentVersion).where(col(AssessmentVersion.year) == year)
         .order_by(col(AssessmentVersion.version).desc()).limit(1))
    return session.execute(q).scalars().first()


def store_version(*, session: Session, report: Assessment, titles: Mapping[str, str]) -> StoredVersion:
    """Store the report as the year's next version unless its numbers equal the latest version's."""
    items = [u.as_item() for u in report.units]
    digest = fingerprint(items)
    latest = latest_version(session=session, year=report.year)
    if latest is not None and latest.fingerprint == digest:
        return StoredVersion(report.year, latest.version, False, tuple(json.loads(latest.changes)), latest.as_of)
    changes = ["首次生成"] if latest is None else what_changed(json.loads(latest.units), items, titles)
    number = 1 if latest is None else latest.version + 1
    wrote = insert_ignore(session, AssessmentVersion, {
        "year": report.year, "version": number, "fingerprint": digest, "as_of": report.as_of,
        "method_title": report.method_title, "units": json.dumps(items, ensure_ascii=False),
        "changes": json.dumps(changes, ensure_ascii=False), "created_at": utcnow(),
    })
    if not wrote:  # a concurrent run stored this version first: report what it stored
        stored = latest_version(session=session, year=report.year)
        assert stored is not None
        return StoredVersion(report.year, stored.version, False, tuple(json.loads(stored.changes)), stored.as_of)
    return StoredVersion(report.year, number, True, tuple(changes), report.as_of)

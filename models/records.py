"""Completion records, waivers and reviews: validated input, stored all-or-nothing, audited."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from shanhai.models.catalogue import CITY_SCOPE, Catalogue
from shanhai.models.occurrences import scopes_for
from shanhai.models.status import local_date
from shanhai.models.store import audit
from shanhai.models.tables import CompletionRecord, EvidenceFile, Occurrence, Waiver, utcnow
from sqlalchemy import select
from sqlmodel import Session


class InputError(ValueError):
    """Bad input: names the field and says what is wrong; nothing was stored."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


_AMOUNT = re.compile(r"^\s*(?P<num>[+-]?[\d,]*\.?\d+)\s*(?P<unit>亿元|亿|万元|万|元)?\s*$")
_UNIT_YUAN = {"亿元": 100_000_000, "亿": 100_000_000, "万元": 10_000, "万": 10_000, "元": 1, None: 1}


def parse_amount(text: str, *, field: str = "amount") -> int:
    """An amount in 元 unless it carries a unit ('500万', '2.5亿'); returns fen."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise InputError(field, f"无法识别的金额 '{text}'（例：1200000、500万、2.5亿）")
    try:
        value = Decimal(m["num"].replace(",", "")) * _UNIT_YUAN[m["unit"]] * 100
    except InvalidOperation as exc:
        raise InputError(field, f"无法识别的金额 '{text}'") from exc
    if value < 0:
        raise InputError(field, f"金额不能为负数：{text}")
    if value != value.to_integral_value():
        raise InputError(field, f"金额精确到分：{text}")
    return int(value)


def resolve_scope(cat: Catalogue, scope_kind: str, name: str, year: int) -> str:
    """A pairing as 附件1 writes it, a unit's name, a park's name or short name, or 全市."""
    name = name.strip()
    if scope_kind == "city":
        if name not in (CITY_SCOPE, "city"):
            raise InputError("scope", f"该事项为全市事项，范围应为“{CITY_SCOPE}”，而不是“{name}”")
        return CITY_SCOPE
    if scope_kind == "pairing":
        if name in cat.pairings:
            return name
        unit = cat.unit(name)
        if unit:
            mine = [p.name for p in cat.pairings_in(year) if unit.name in (p.county, p.partner)]
            if len(mine) == 1:
                return mine[0]
            if mine:
                raise InputError(
                    "scope", f"{unit.name}在{year}年有多个结对关系（{'、'.join(mine)}），请写明结对名称"
                )
        raise InputError("scope", f"未知的结对“{name}”（可选：{'、'.join(cat.pairings)}）")
    if scope_kind == "park":
        for park in cat.parks.values():
            if name in (park.name, park.short):
                return park.name
        raise InputError("scope", f"未知的产业园“{name}”（可选：{'、'.join(cat.parks)}）")
    unit = cat.unit(name)
    if unit is None:
        raise InputError("scope", f"未知的县（市、区）“{name}”")
    return unit.name


@dataclass(frozen=True)
class Evidence:
    sha256: str
    name: str
    size: int


def store_evidence(path: Path, *, session: Session, evidence_dir: Path, max_bytes: int) -> Evidence:
    """Keep the file once under its content hash (atomic rename); the row joins the caller's transaction."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError("evidence", f"不是文件：{path}")
        if size > max_bytes:
            raise InputError("evidence", f"文件过大：{size} 字节，上限 {max_bytes} 字节（{path}）")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # a file that grew since stat() still cannot pass the limit
        if len(data) > max_bytes:
            raise InputError("evidence", f"文件过大：超过上限 {max_bytes} 字节（{path}）")
        size = len(data)
    except OSError as exc:
        raise InputError("evidence", f"无法读取证明材料 {path}：{exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    target = evidence_dir / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
    if session.get(EvidenceFile, digest) is None:
        session.add(EvidenceFile(sha256=digest, size=size))
        session.flush()  # before the record that refers to it: the unit of work does not order by FK
    return Evidence(digest, path.name, size)


def find_occurrence(
    cat: Catalogue, *, session: Session, obligation_id: str, scope: str, on: date, period: str | None = None
) -> Occurrence:
    ob = cat.obligations.get(obligation_id)
    if ob is None:
        raise InputError("obligation", f"未知的事项编号“{obligation_id}”（用 shanhai obligations 查看）")
    if period is not None and not re.fullmatch(r"\d{4}", period.strip()):
        raise InputError("period", f"归属年度应为四位年份（如 2025），而不是“{period}”")
    period = period.strip() if period else None
    year = int(period) if period else on.year
    scope_name = resolve_scope(cat, ob.scope, scope, year)
    if ob.kind in ("one_off", "cumulative_quantity"):
        wanted = ob.due_date().isoformat()
        # late completion counts (done_late) while the duty is in force; after it, nothing does
        if ob.valid_until is not None and on.year > ob.valid_until:
            raise InputError(
                "date", f"{on} 不在事项“{ob.title}”的有效期内（{ob.valid_from}—{ob.valid_until}）"
            )
    else:
        wanted = period or str(on.year)
        if not (ob.valid_from <= int(wanted) <= (ob.valid_until or 9999)):
            until = ob.valid_until or "长期"
            raise InputError("date", f"{on} 不在事项“{ob.title}”的有效期内（{ob.valid_from}—{until}）")
    if scope_name not in scopes_for(cat, ob, int(wanted[:4])):
        raise InputError("scope", f"“{scope_name}”在 {wanted[:4]} 年不承担事项“{ob.title}”")
    occ = session.execute(
        select(Occurrence).where(
            Occurrence.obligation_id == ob.id, Occurrence.scope == scope_name, Occurrence.period == wanted
        )
    ).scalar_one_or_none()
    if occ is None:
        raise InputError(
            "date", f"{on} 没有对应的“{ob.title}”期次（{scope_name}，{wanted}）；请先运行 shanhai init"
        )
    if on < occ.period_start:
        raise InputError("date", f"{on} 早于该期次的开始日期 {occ.period_start}")
    window_end = json.loads(occ.requirement).get("window_end")
    if window_end and on.isoformat() > window_end:
        raise InputError(
            "date", f"{on} 超出 {wanted} 年度期次（{occ.period_start}—{window_end}），不计入该年度"
        )
    return occ


def record_completion(
    cat: Catalogue,
    *,
    session: Session,
    obligation_id: str,
    scope: str,
    on: date,
    as_of: datetime,
    count: int = 1,
    amount_fen: int | None = None,
    category: str | None = None,
    note: str | None = None,
    evidence: Path | None = None,
    evidence_dir: Path | None = None,
    max_evidence_bytes: int = 20 * 1024 * 1024,
    period: str | None = None,
    actor: str = "cli",
    state: str = "submitted",
) -> CompletionRecord:
    if on > local_date(as_of):
        raise InputError("date", f"完成日期 {on} 在未来（今天是 {local_date(as_of)}）")
    if count < 1:
        raise InputError("count", f"数量必须至少为 1，而不是 {count}")
    if amount_fen is not None and amount_fen < 0:
        raise InputError("amount", "金额不能为负数")
    occ = find_occurrence(
        cat, session=session, obligation_id=obligation_id, scope=scope, on=on, period=period
    )
    ob = cat.obligations[obligation_id]
    allowed = set(ob.categories or []) | {s.category for s in ob.shares or []}
    if ob.kind == "plan_vs_actual":
        allowed = {"government", "attraction"}
        if category not in allowed:
            raise InputError("category", "计划对比事项须注明类别：government（政府性）或 attraction（招商）")
        if amount_fen is None:
            raise InputError("amount", "计划对比事项须填写实际完成金额")
    if category is not None and allowed and category not in allowed:
        raise InputError("category", f"未知类别“{category}”（可选：{'、'.join(sorted(allowed))}）")
    stored = None
    if evidence is not None:
        if evidence_dir is None:
            raise InputError("evidence", "no evidence directory configured")
        stored = store_evidence(
            evidence, session=session, evidence_dir=evidence_dir, max_bytes=max_evidence_bytes
        )
    rec = CompletionRecord(
        occurrence_id=occ.id,
        date=on,
        count=count,
        amount_fen=amount_fen,
        category=category,
        note=note,
        evidence_sha256=stored.sha256 if stored else None,
        evidence_name=stored.name if stored else None,
        state=state,
        submitted_by=actor,
    )
    session.add(rec)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="record.submitted",
        entity="record",
        entity_id=str(rec.id),
        occurrence=occ.id,
        date=on,
        count=count,
        amount_fen=amount_fen,
        category=category,
    )
    return rec


def review_record(
    *, session: Session, record_id: int, verdict: str, actor: str, note: str | None = None
) -> CompletionRecord:
    if verdict not in ("verified", "rejected"):
        raise InputError("verdict", f"unknown verdict {verdict}")
    rec = session.get(CompletionRecord, record_id)
    if rec is None:
        raise InputError("record", f"没有编号为 {record_id} 的完成记录")
    if verdict == "rejected" and not note:
        raise InputError("note", "退回记录须说明理由")
    rec.state, rec.reviewed_by, rec.reviewed_at, rec.review_note = verdict, actor, utcnow(), note
    audit(
        session=session,
        actor=actor,
        action=f"record.{verdict}",
        entity="record",
        entity_id=str(record_id),
        note=note,
    )
    return rec


def waive_occurrence(*, session: Session, occurrence_id: int, reason: str, actor: str) -> Waiver:
    if not reason or not reason.strip():
        raise InputError("reason", "豁免须说明理由")
    occ = session.get(Occurrence, occurrence_id)
    if occ is None:
        raise InputError("occurrence", f"没有编号为 {occurrence_id} 的期次")
    existing = session.execute(
        select(Waiver).where(Waiver.occurrence_id == occurrence_id)
    ).scalar_one_or_none()
    if existing is not None:
        raise InputError(
            "occurrence", f"期次 {occurrence_id} 已于 {existing.created_at:%Y-%m-%d} 豁免：{existing.reason}"
        )
    w = Waiver(occurrence_id=occurrence_id, reason=reason.strip(), waived_by=actor)
    session.add(w)
    audit(
        session=session,
        actor=actor,
        action="occurrence.waived",
        entity="occurrence",
        entity_id=str(occurrence_id),
        reason=reason,
    )
    return w

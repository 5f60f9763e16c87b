"""Completion records, waivers and reviews: validated input, stored all-or-nothing, audited."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlmodel import Session, col

from shanhai.db import insert_ignore
from shanhai.models.amounts import amount_unit, check_amount, check_count, format_amount, takes_amount
from shanhai.models.audit import audit
from shanhai.models.catalogue import Catalogue
from shanhai.models.duplicates import RecordFacts, refuse_identical, reporting_unit
from shanhai.models.errors import InputError
from shanhai.models.evidence import store_evidence
from shanhai.models.import_batches import visible_record
from shanhai.models.localtime import format_local, local_date
from shanhai.models.occurrences import scopes_for
from shanhai.models.requirement import parse_requirement
from shanhai.models.scopes import resolve_scope
from shanhai.models.statuses import RecordState
from shanhai.models.tables import CompletionRecord, Occurrence, Waiver, by_id, utcnow

OccurrenceKey = tuple[str, str, str]  # (obligation id, scope, period): how an occurrence is stored


def occurrence_key(cat: Catalogue, *, obligation_id: str, scope: str, on: date, period: str | None) -> OccurrenceKey:
    """The stored occurrence a record of ``on`` counts for, by the catalogue alone (no database)."""
    ob = cat.obligations.get(obligation_id)
    if ob is None:
        raise InputError("obligation", f"未知的事项编号“{obligation_id}”（用 shanhai obligations 查看）")
    if period is not None and not re.fullmatch(r"\d{4}", period.strip()):
        raise InputError("period", f"归属年度应为四位年份（如 2025），而不是“{period}”")
    period = period.strip() if period else None
    year = int(period) if period else on.year
    scope_name = resolve_scope(cat, ob.scope, scope, year)
    if ob.dated_once:
        wanted = cat.spec_in(ob.id, 9999).due_date().isoformat()  # an override may have moved the date
    else:
        wanted = period or str(on.year)
        if not cat.in_force(ob.id, int(wanted)):  # the document's years as overrides.yaml changed them
            until = cat.override_fields(ob.id)["in_force_until"] or "长期"
            raise InputError("date", f"{on} 不在事项“{ob.title}”的有效期内（{ob.valid_from}—{until}）")
    if scope_name not in scopes_for(cat, ob, int(wanted[:4])):
        raise InputError("scope", f"“{scope_name}”在 {wanted[:4]} 年不承担事项“{ob.title}”")
    return ob.id, scope_name, wanted


def check_in_window(cat: Catalogue, occ: Occurrence | None, key: OccurrenceKey, *, on: date,
                    period: str | None, window: tuple[date, date, bool] | None = None) -> Occurrence:
    """The occurrence, if it exists and ``on`` falls in its counting window. ``window`` is
    (start, closes, window_start?) when the caller has it already (an import reads each occurrence once)."""
    ob_id, scope_name, wanted = key
    title = cat.obligations[ob_id].title
    if occ is None:
        raise InputError("date", f"{on} 没有对应的“{title}”期次（{scope_name}，{wanted}）；请先运行 shanhai init")
    start, closes, window_start = window or occurrence_window(occ)
    if on < start:
        what = "计数窗口" if window_start else "期次"
        raise InputError("date", f"{on} 早于该{what}的开始日期 {start}，不计入 {wanted} 期次")
    req = parse_requirement(occ.requirement)  # cached per distinct requirement
    counted_until = req.counts_until(occ.due, occ.period)
    if req.counts_by_date and on > counted_until:
        raise InputError(
            "date",
            f"{on} 不在 {wanted[:4]} 年度内：资金、人次、项目按发生日期计入所在年度，"
            f"{wanted} 期次只计 {start} 至 {counted_until} 发生的数量（同一笔不能计入两个年度）；"
            f"请按实际发生日期计入 {on.year} 年度（不写 --period）",
        )
    if on > closes:
        hint = "；如属下一年度，请不写 --period" if period else "；补录上一年度须写 --period 年份"
        raise InputError(
            "date",
            f"{on} 晚于 {wanted} 期次的关闭日 {closes}（年度考核后该期次已定，不再计入）{hint}",
        )
    return occ


def occurrence_window(occ: Occurrence) -> tuple[date, date, bool]:
    """(first day a record counts, the day it closes, whether a window narrower than the period applies)."""
    req = parse_requirement(occ.requirement)
    return req.counts_from(occ.period_start), req.closes_on(occ.due), bool(req.window_start)


def find_occurrence(
    cat: Catalogue, *, session: Session, obligation_id: str, scope: str, on: date, period: str | None = None
) -> Occurrence:
    key = occurrence_key(cat, obligation_id=obligation_id, scope=scope, on=on, period=period)
    occ = session.execute(
        select(Occurrence).where(
            col(Occurrence.obligation_id) == key[0],
            col(Occurrence.scope) == key[1],
            col(Occurrence.period) == key[2],
        )
    ).scalar_one_or_none()
    return check_in_window(cat, occ, key, on=on, period=period)


def check_figures(*, on: date, today: date, count: int, amount_fen: int | None) -> None:
    """What a record's own figures must be, before its occurrence is looked up."""
    if on > today:
        raise InputError("date", f"完成日期 {on} 在未来（今天是 {today}）")
    check_count(count)
    if amount_fen is not None:
        check_amount(amount_fen)


def check_kind(cat: Catalogue, obligation_id: str, *, amount_fen: int | None, category: str | None) -> None:
    """Whether the obligation takes an amount, and which categories it knows."""
    ob = cat.obligations[obligation_id]
    if amount_fen is not None and not takes_amount(ob):
        unit = f"（{ob.target.unit}）" if ob.target else ""
        raise InputError("amount", f"事项“{ob.title}”按次数/数量计{unit}，不填金额，只填数量")
    allowed = set(ob.categories or []) | {s.category for s in ob.shares or []}
    if ob.kind == "plan_vs_actual":
        allowed = {"government", "attraction"}
        if category not in allowed:
            raise InputError("category", "计划对比事项须注明类别：government（政府性）或 attraction（招商）")
        if amount_fen is None:
            raise InputError("amount", "计划对比事项须填写实际完成金额")
    if category is not None and allowed and category not in allowed:
        raise InputError("category", f"未知类别“{category}”（可选：{'、'.join(sorted(allowed))}）")


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
    import_batch_id: int | None = None,
    now: datetime | None = None,
) -> CompletionRecord:
    """``now`` is the real clock: a record is never dated after it, whatever a preview's ``as_of`` says."""
    today = local_date(as_of if now is None else min(as_of, now))
    check_figures(on=on, today=today, count=count, amount_fen=amount_fen)
    occ = find_occurrence(
        cat, session=session, obligation_id=obligation_id, scope=scope, on=on, period=period
    )
    check_kind(cat, obligation_id, amount_fen=amount_fen, category=category)
    stored = None
    if evidence is not None:
        if evidence_dir is None:
            raise InputError("evidence", "no evidence directory configured")
        stored = store_evidence(
            evidence, session=session, evidence_dir=evidence_dir, max_bytes=max_evidence_bytes
        )
    assert occ.id is not None
    facts = RecordFacts(occ.id, on, amount_fen, count, category, note, stored.sha256 if stored else None,
                        reporting_unit(actor))
    refuse_identical(facts, session=session, exclude_batch=import_batch_id)
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
        import_batch_id=import_batch_id,
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


def amount_text(cat: Catalogue, obligation_id: str, amount_fen: int | None) -> str | None:
    """An amount in its obligation's unit ("1.19 亿元", "11900 万元"): confirmations repeat it so that a
    unit mistake shows at once."""
    if amount_fen is None:
        return None
    ob = cat.obligations.get(obligation_id)
    return format_amount(amount_fen, amount_unit(ob) if ob else "元")


ACTOR_MAX = 128  # reviewed_by / waived_by columns


def review_record(
    *, session: Session, record_id: int, verdict: str, actor: str, note: str | None = None
) -> CompletionRecord:
    """Verify or reject a submitted record, once: submitted -> verified | rejected, final. The UPDATE is conditional on the record
    still being submitted, so of two coordinators reviewing at once exactly one wins; the other gets
    the same refusal as a later reviewer, naming who reviewed it and when."""
    try:
        target = RecordState(verdict)
    except ValueError:
        raise InputError("verdict", f"未知的审核结果“{verdict}”（应为 verified 或 rejected）") from None
    actor = _actor(actor)
    rec = _record(session, record_id)
    _check_review(rec, target)
    note = note.strip() if note else None
    if target is RecordState.REJECTED and not note:
        raise InputError("note", "退回记录须说明理由（--note），理由会告知填报单位")
    now = utcnow()
    won = session.connection().execute(
        update(CompletionRecord)
        .where(col(CompletionRecord.id) == record_id, col(CompletionRecord.state) == RecordState.SUBMITTED.value)
        .values(state=target.value, reviewed_by=actor, reviewed_at=now, review_note=note)
    )
    session.refresh(rec)
    if won.rowcount != 1:  # another review committed between our read and our UPDATE
        _check_review(rec, target)
        raise InputError("record", f"记录 #{record_id} 已被他人同时审核，请刷新后查看")
    audit(
        session=session,
        actor=actor,
        action=f"record.{target.value}",
        entity="record",
        entity_id=str(record_id),
        note=note,
    )
    return rec


def _actor(actor: str) -> str:
    """Who reviews or waives is kept on the row and in the audit log: a name that fits the column."""
    name = (actor or "").strip()
    if not name:
        raise InputError("by", "须写明审核人")
    if len(name) > ACTOR_MAX:
        raise InputError("by", f"审核人名称过长（{len(name)} 字，最多 {ACTOR_MAX} 字）")
    return name


def _record(session: Session, record_id: int) -> CompletionRecord:
    rec = visible_record(session=session, record_id=record_id)
    if rec is None:
        raise InputError("record", f"没有编号为 {record_id} 的记录（用 shanhai records --pending 查看待核验记录）")
    return rec


def _check_review(rec: CompletionRecord, target: RecordState) -> None:
    """The refusal, in Chinese, when ``rec`` cannot take ``target``: its state, who reviewed it, when."""
    try:
        current = RecordState(rec.state)
    except ValueError:
        raise InputError("record", f"记录 #{rec.id} 的状态“{rec.state}”无法识别，不能审核") from None
    if current.can_become(target):
        return
    who = rec.reviewed_by or "未知"
    when = format_local(rec.reviewed_at) if rec.reviewed_at else "时间不详"
    act = "核验" if target is RecordState.VERIFIED else "退回"
    if current is RecordState.REJECTED:
        reason = f"，理由：{rec.review_note}" if rec.review_note else ""
        raise InputError(
            "record",
            f"记录 #{rec.id} 已于 {when} 由 {who} 退回{reason}；已退回的记录不能再次{act}，更正请登记一条新记录",
        )
    if current is RecordState.VERIFIED and target is RecordState.VERIFIED:
        raise InputError("record", f"记录 #{rec.id} 已于 {when} 由 {who} 核验通过，无需再次核验")
    raise InputError(
        "record",
        f"记录 #{rec.id} 已于 {when} 由 {who} 核验通过，不能再{act}；如有错误，请登记一条更正记录",
    )


def waive_occurrence(*, session: Session, occurrence_id: int, reason: str, actor: str) -> Waiver:
    """Waive an occurrence, once. Of two coordinators waiving it at once, one wins; the other's insert
    waits for that commit, writes nothing, and gets the same refusal as a later attempt."""
    if not reason or not reason.strip():
        raise InputError("reason", "豁免须说明理由")
    actor = _actor(actor)
    occ = by_id(session, Occurrence, occurrence_id)
    if occ is None:
        raise InputError("occurrence", f"没有编号为 {occurrence_id} 的期次")
    _refuse_if_waived(session, occurrence_id)
    row = {"occurrence_id": occurrence_id, "reason": reason.strip(), "waived_by": actor, "created_at": utcnow()}
    if not insert_ignore(session, Waiver, row):
        _refuse_if_waived(session, occurrence_id)  # the one that won, committed meanwhile
        raise InputError("occurrence", f"期次 {occurrence_id} 已被他人同时豁免，请刷新后查看")
    audit(
        session=session,
        actor=actor,
        action="occurrence.waived",
        entity="occurrence",
        entity_id=str(occurrence_id),
        reason=reason,
    )
    return session.execute(select(Waiver).where(col(Waiver.occurrence_id) == occurrence_id)).scalar_one()


def _refuse_if_waived(session: Session, occurrence_id: int) -> None:
    existing = session.execute(
        select(Waiver).where(col(Waiver.occurrence_id) == occurrence_id)
    ).scalar_one_or_none()
    if existing is not None:
        when = format_local(existing.created_at, "%Y-%m-%d")  # Shanghai's date, not UTC's
        raise InputError("occurrence", f"期次 {occurrence_id} 已于 {when} 豁免：{existing.reason}")

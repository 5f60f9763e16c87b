"""An occurrence's page, and the coordinator's actions on it: verify or reject a record, waive.

Review is a state machine: only a submitted record can be verified or rejected, once. The model's
conditional UPDATE decides a race: of two coordinators clicking at once one wins, the other gets 409.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import select
from sqlmodel import col

import shanhai.portal.ids  # noqa: F401  (registers the {name:id} path convertor)
from shanhai.models.accounts import Role
from shanhai.models.acknowledgements import acknowledged_stage_label, acknowledgements_of, stage_now
from shanhai.models.errors import InputError
from shanhai.models.import_batches import visible_record
from shanhai.models.joint_events import load_same_event_partners, same_event_text
from shanhai.models.ladder import ReminderLadder
from shanhai.models.localtime import local_date
from shanhai.models.pages import (
    messages_about,
    occurrence_evaluation,
    occurrence_history,
    occurrence_records,
)
from shanhai.models.records import review_record, waive_occurrence
from shanhai.models.statuses import RecordState
from shanhai.models.tables import CompletionRecord, Occurrence, Waiver, by_id
from shanhai.portal.auth import ANY_ACCOUNT, SessionUser, require, safe_next
from shanhai.portal.board import as_of_param
from shanhai.portal.prefect_link import deployment_link
from shanhai.portal.uploads import media_type
from shanhai.portal.web import PageError, Portal, check_csrf, portal_of, render

router = APIRouter()
COORDINATOR = (Role.COORDINATOR,)
MAX_REASON = 1000

ACTIONS = {
    "record.submitted": "提交记录",
    "record.verified": "核验通过",
    "record.rejected": "退回",
    "occurrence.waived": "豁免",
    "occurrence.acknowledged": "签收",
}


def amount_unit(portal: Portal, obligation_id: str) -> str:
    ob = portal.app.catalogue.obligations.get(obligation_id)
    if ob is not None and ob.target is not None and ob.target.unit in ("亿元", "万元"):
        return ob.target.unit
    return "万元"


def unit_codes(portal: Portal) -> dict[str, str]:
    return {u.name: u.code for u in portal.app.catalogue.units.values()}


def history_rows(entries, ladder: ReminderLadder) -> list[dict]:
    rows = []
    for e in entries:
        detail = json.loads(e.detail or "{}")
        rows.append(
            {
                "at": e.at,
                "actor": e.actor,
                "action": ACTIONS.get(e.action, e.action),
                "what": f"记录 #{e.entity_id}" if e.entity == "record" else "本期次",
                "note": detail.get("note") or detail.get("reason") or (acknowledged_stage_label(detail["stage"], ladder) if "stage" in detail else ""),
            }
        )
    return rows


@router.get("/occurrences/{occurrence_id:id}")
def occurrence_page(
    request: Request, occurrence_id: int, as_of: str | None = None, user: SessionUser = require(*ANY_ACCOUNT)
):
    portal = portal_of(request)
    when, previewing = as_of_param(portal, as_of)
    found = occurrence_evaluation(portal.app, occurrence_id=occurrence_id, as_of=when)
    if found is None:
        raise PageError(404, "期次不存在", f"没有编号为 {occurrence_id} 的期次。")
    occ_row, ev = found
    cat = portal.app.catalogue
    with portal.app.read_session() as session:
        occ = session.get(Occurrence, occurrence_id)
        assert occ is not None
        records = [rec for rec, _ in occurrence_records(session, occurrence_ids=[occurrence_id])]
        partners = load_same_event_partners(session=session, occurrence_ids=[occurrence_id])
        history = history_rows(
            occurrence_history(session, occurrence_id=occurrence_id, record_ids=[r.id for r in records if r.id]),
            occ_row.requirement.reminder_ladder,
        )
        messages = messages_about(session, occurrence_id=occurrence_id)
        acks = acknowledgements_of(session=session, occurrence_ids=[occurrence_id])
        waiver = session.execute(select(Waiver).where(col(Waiver.occurrence_id) == occurrence_id)).scalar_one_or_none()
    year = int(occ.period[:4])  # the period's year, or a one-off's due year
    ob = cat.spec_in(occ.obligation_id, year) if occ.obligation_id in cat.obligations else None
    document = cat.documents.get(cat.obligation_document.get(occ.obligation_id, "")) if ob else None
    burn_up = burn_up_chart(occ_row, ob.title if ob else occ.obligation_id, records)
    return render(
        request,
        "occurrence.html",
        {
            "occ": occ,
            "ev": ev,
            "ob": ob,
            "document": document,
            "citation": cat.citation(occ.obligation_id, year) if ob else "",
            "overrides": [o for o in cat.overrides_of(occ.obligation_id) if o.from_ <= year] if ob else [],
            "title": ob.title if ob else occ.obligation_id,
            "nominal_due": ev.due_nominal,
            "stage": stage_now(occ, portal.app.calendar, local_date(when)),
            "responsible": [(name, unit_codes(portal).get(name)) for name in occ_row.requirement.responsible],
            "records": records,
            "same_event": {rid: same_event_text(p) for rid, p in partners.items()},
            "history": history,
            "messages": messages,
            "acks": acks,
            "ladder": occ_row.requirement.reminder_ladder,
            "unit_names": {u.code: u.name for u in cat.units.values()},
            "waiver": waiver,
            "burn_up": burn_up,
            "unit": amount_unit(portal, occ.obligation_id),
            "prefect": deployment_link(portal.app.settings.prefect_ui_url, ob.title if ob else occ.obligation_id),
            "as_of": when,
            "previewing": previewing,
        },
    )


def burn_up_chart(occ_row, title: str, records: list[CompletionRecord]) -> str | None:
    """A quantity duty's burn-up against 序时进度, as a data URI (drawn on the server, no script)."""
    from shanhai.models.assessment import QUANTITY_KINDS
    from shanhai.models.assessment_charts import burn_up_for, data_uri

    if occ_row.requirement.kind not in QUANTITY_KINDS:
        return None
    steps = [(r.date, r.count or 0, r.amount_fen or 0) for r in records if r.state != RecordState.REJECTED]
    png = burn_up_for(occ_row, title, steps)
    return data_uri(png) if png else None


@router.get("/records/{record_id:id}/evidence")
def record_evidence(request: Request, record_id: int, user: SessionUser = require(*ANY_ACCOUNT)):
    portal = portal_of(request)
    with portal.app.read_session() as session:
        rec = visible_record(session=session, record_id=record_id)
    return evidence_response(portal, rec)


def evidence_response(portal: Portal, rec: CompletionRecord | None):
    if rec is None or not rec.evidence_sha256:
        raise PageError(404, "没有证明材料", "该记录没有上传证明材料。")
    path = portal.app.settings.evidence_dir / rec.evidence_sha256[:2] / rec.evidence_sha256
    if not path.is_file():
        raise PageError(404, "证明材料缺失", f"证明材料文件不在存储目录中（{rec.evidence_sha256[:12]}…）。")
    kind, inline = media_type(rec.evidence_name)
    return FileResponse(
        path,
        media_type=kind,
        filename=rec.evidence_name or f"evidence-{rec.id}",
        content_disposition_type="inline" if inline else "attachment",
        headers={"Content-Security-Policy": "default-src 'none'; img-src 'self'; object-src 'self'; sandbox"},
    )


def _reason(text: str, what: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise PageError(422, "请说明理由", f"{what}须说明理由，理由会告知承办单位。未做任何更改。")
    if len(reason) > MAX_REASON:
        raise PageError(422, "理由过长", f"理由不超过 {MAX_REASON} 字（现为 {len(reason)} 字）。未做任何更改。")
    return reason


#: InputError fields naming the record or occurrence acted on: it is in a state that refuses the action
#: (already reviewed or waived, possibly a moment ago by someone else). Any other field is bad input.
_STATE_FIELDS = ("record", "occurrence")


def refusal(exc: InputError, title: str) -> PageError:
    """The model's refusal as a page: 409 when the record or occurrence refuses the action, else 422."""
    return PageError(409 if exc.field in _STATE_FIELDS else 422, title, exc.message)


def _review(request: Request, record_id: int, verdict: str, note: str | None, user: SessionUser, back: str):
    # No pre-check of the state here: review_record's UPDATE is conditional on the record still being
    # submitted, so of two reviewers at once the loser gets its InputError and, here, a 409.
    portal = portal_of(request)
    with portal.app.session() as session:
        if visible_record(session=session, record_id=record_id) is None:
            raise PageError(404, "记录不存在", f"没有编号为 {record_id} 的记录。")
        try:
            review_record(session=session, record_id=record_id, verdict=verdict, actor=user.name, note=note)
        except InputError as exc:
            raise refusal(exc, "无法审核") from None
    return RedirectResponse(with_reviewed(safe_next(back), record_id), status_code=303)


def with_reviewed(target: str, record_id: int) -> str:
    """The page the reviewer came from, told which record was just reviewed (it shows a confirmation)."""
    path, _, query = target.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith("reviewed="))
    return f"{path}?{kept + '&' if kept else ''}reviewed={record_id}"


@router.post("/records/{record_id:id}/verify")
def verify(
    request: Request,
    record_id: int,
    csrf: str = Form(""),
    next: str = Form("/queue"),  # noqa: A002
    user: SessionUser = require(*COORDINATOR),
):
    check_csrf(request, csrf)
    return _review(request, record_id, RecordState.VERIFIED, None, user, next)


@router.post("/records/{record_id:id}/reject")
def reject(
    request: Request,
    record_id: int,
    reason: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/queue"),  # noqa: A002
    user: SessionUser = require(*COORDINATOR),
):
    check_csrf(request, csrf)
    return _review(request, record_id, RecordState.REJECTED, _reason(reason, "退回"), user, next)


@router.post("/occurrences/{occurrence_id:id}/waive")
def waive(
    request: Request,
    occurrence_id: int,
    reason: str = Form(""),
    csrf: str = Form(""),
    next: str = Form(""),  # noqa: A002
    user: SessionUser = require(*COORDINATOR),
):
    check_csrf(request, csrf)
    return waive_now(request, occurrence_id, reason, user, next or f"/occurrences/{occurrence_id}")


def waive_now(request: Request, occurrence_id: int, reason: str, user: SessionUser, back: str):
    text = _reason(reason, "豁免")
    portal = portal_of(request)
    with portal.app.session() as session:
        if by_id(session, Occurrence, occurrence_id) is None:
            raise PageError(404, "期次不存在", f"没有编号为 {occurrence_id} 的期次。未做任何更改。")
        try:
            waive_occurrence(session=session, occurrence_id=occurrence_id, reason=text, actor=user.name)
        except InputError as exc:
            raise refusal(exc, "无法豁免") from None
    return RedirectResponse(safe_next(back), status_code=303)

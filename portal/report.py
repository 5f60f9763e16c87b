"""The page a reminder links to: ``/report/{token}``, without an account, scoped to ONE unit and ONE
occurrence (the token's). 签收 and the record form; a confirmation the clerk can screenshot.

Every id a form or URL carries is checked against the token: a link for one unit cannot read or act
on another occurrence. Forged links get 403, expired ones 410. Each POST spends a one-time nonce in the
same transaction as what it stores: a double submit or a replayed POST stores nothing the second time.

The page also links the unit's calendar feed and the unit's own page, the latter with a page key
signed when this page is shown and valid 60 days like a report link; it opens that page read-only
(no message bodies, so no other occurrence's signed link).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

import shanhai.portal.ids  # noqa: F401  (registers the {name:id} path convertor)
from shanhai.models.acknowledgements import acknowledge, acknowledgements_of, stage_now
from shanhai.models.catalogue_specs import UnitSpec
from shanhai.models.duplicates import link_reporter
from shanhai.models.errors import InputError
from shanhai.models.form_nonces import Spent, issue_nonce, nonce_used, spend_nonce
from shanhai.models.import_batches import visible_record
from shanhai.models.localtime import local_date
from shanhai.models.pages import occurrence_evaluation, occurrence_records
from shanhai.models.records import record_completion
from shanhai.models.requirement import parse_requirement
from shanhai.models.tables import CompletionRecord, Occurrence, by_id
from shanhai.notifications.links import LinkError, verify_report_token
from shanhai.portal.occurrences import amount_unit, evidence_response
from shanhai.portal.record_form import FormSpec, RecordInput, form_spec, parse_record_form
from shanhai.portal.units import unit_links
from shanhai.portal.uploads import ACCEPT, spooled_upload
from shanhai.portal.web import PageError, Portal, check_csrf, portal_of, render

router = APIRouter(prefix="/report")


@dataclass(frozen=True)
class LinkScope:
    token: str
    occurrence: Occurrence
    unit: UnitSpec
    title: str
    issued_at: datetime  # the report link's: the unit-page key it hands out expires with it

    @property
    def purpose(self) -> str:
        return f"{self.occurrence.id}:{self.unit.code}"


def open_link(portal: Portal, token: str) -> LinkScope:
    try:
        occurrence_id, code, issued_at = verify_report_token(
            token, secret=portal.app.signing_keys(), now=portal.now()
        )
    except LinkError as exc:
        if exc.reason == "expired":
            raise PageError(410, "链接已过期", f"{exc}。") from None
        raise PageError(403, "链接无效", f"{exc}。请使用提醒消息中的原始链接；如有疑问请联系市山海协作办公室。") from None
    unit = portal.app.catalogue.unit_by_code(code)
    if unit is None:
        raise PageError(403, "链接无效", f"链接所属单位（{code}）已不在事项目录中。")
    with portal.app.read_session() as session:
        occ = by_id(session, Occurrence, occurrence_id)
    if occ is None:
        raise PageError(404, "期次不存在", "链接所指的期次已不存在（事项目录已调整）。请联系市山海协作办公室。")
    ob = portal.app.catalogue.obligations.get(occ.obligation_id)
    return LinkScope(token, occ, unit, ob.title if ob else occ.obligation_id, issued_at)


def same_occurrence(scope: LinkScope, submitted: str) -> None:
    if submitted.strip() != str(scope.occurrence.id):
        raise PageError(
            403,
            "无权操作",
            f"此链接只能用于“{scope.title}”（{scope.occurrence.scope}，{scope.occurrence.period}）："
            "不能查看或填报其他单位、其他期次的事项。未保存任何内容。",
        )


def owes(scope: LinkScope) -> bool:
    """Only a lead unit reports (its reminders say 填报); a co-responsible unit is copied and views."""
    return scope.unit.name in parse_requirement(scope.occurrence.requirement).leads


def actor_of(scope: LinkScope) -> str:
    return link_reporter(scope.unit.name)


def _page(
    request: Request,
    portal: Portal,
    scope: LinkScope,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: RecordInput | None = None,
    record_nonce: str | None = None,
):
    occ = scope.occurrence
    now = portal.now()
    today = local_date(now)
    found = occurrence_evaluation(portal.app, occurrence_id=occ.id or 0, as_of=now)
    assert found is not None
    _, ev = found
    cat = portal.app.catalogue
    ob = cat.obligations.get(occ.obligation_id)
    stage = stage_now(occ, portal.app.calendar, today)
    can_report = owes(scope)
    with portal.app.read_session() as session:  # showing the page writes nothing (nonces are signed)
        records = [rec for rec, _ in occurrence_records(session, occurrence_ids=[occ.id or 0])]
        acks = [a for a in acknowledgements_of(session=session, occurrence_ids=[occ.id or 0]) if a.unit_code == scope.unit.code]
        keys = portal.app.signing_keys(session=session)
    ack_nonce = issue_nonce(keys=keys, purpose=f"ack:{scope.purpose}", now=now)
    if record_nonce is None and can_report:
        record_nonce = issue_nonce(keys=keys, purpose=f"record:{scope.purpose}", now=now)
    spec: FormSpec | None = form_spec(ob, occ) if can_report and ob is not None else None
    return render(
        request,
        "report.html",
        {
            "scope": scope,
            "occ": occ,
            "ob": ob,
            "ev": ev,
            "nominal_due": ev.due_nominal,
            "days_left": portal.app.calendar.working_days_between(today, occ.due),
            "stage": stage,
            "acks": acks,
            "ladder": parse_requirement(occ.requirement).reminder_ladder,
            "acked_now": any(a.stage == stage.name for a in acks),
            "records": records,
            "can_report": can_report,
            "spec": spec,
            "values": values or RecordInput.defaults(today, spec),
            "today": today,
            "ack_nonce": ack_nonce,
            "record_nonce": record_nonce,
            "error": error,
            "accept": ACCEPT,
            "max_mb": portal.app.settings.max_evidence_bytes // (1 << 20),
            "unit_amount": amount_unit(portal, occ.obligation_id),
            "links": unit_links(portal, scope.unit.code, issued_at=scope.issued_at),
        },
        status_code=status_code,
    )


@router.get("/{token}")
def report_page(request: Request, token: str):
    portal = portal_of(request)
    portal.ensure_synced()
    return _page(request, portal, open_link(portal, token))


def _already_submitted() -> PageError:
    return PageError(409, "已提交，请勿重复提交", "这份表单已经提交过，本次提交未保存。刷新链接页面可查看已提交的内容。")


def _refuse_if_spent(portal: Portal, nonce: str, purpose: str) -> None:
    """A double submit is refused before any work (an upload, say); the spend in the storing
    transaction still decides a race."""
    with portal.app.read_session() as session:
        if nonce_used(session=session, nonce=nonce, purpose=purpose):
            raise _already_submitted()


def _spend(portal: Portal, session, nonce: str, purpose: str, now) -> None:
    keys = portal.app.signing_keys(session=session)
    spent = spend_nonce(session=session, keys=keys, nonce=nonce, purpose=purpose, now=now)
    if spent is Spent.USED:
        raise _already_submitted()
    if spent is Spent.UNKNOWN:
        raise PageError(400, "表单已失效", "表单已失效（超过一天或不是从本链接打开的）。请重新打开提醒中的链接后再提交。")


@router.post("/{token}/ack")
def acknowledge_submit(
    request: Request,
    token: str,
    occurrence_id: str = Form(""),
    nonce: str = Form(""),
    csrf: str = Form(""),
):
    check_csrf(request, csrf)
    portal = portal_of(request)
    scope = open_link(portal, token)
    same_occurrence(scope, occurrence_id)
    purpose = f"ack:{scope.purpose}"
    _refuse_if_spent(portal, nonce, purpose)
    now = portal.now()
    found = occurrence_evaluation(portal.app, occurrence_id=scope.occurrence.id or 0, as_of=now)
    assert found is not None
    if found[1].status.is_final:
        raise PageError(409, "无需签收", f"该事项当前状态为“{found[1].label}”，无需签收。")
    stage = stage_now(scope.occurrence, portal.app.calendar, local_date(now))
    with portal.app.session() as session:
        _spend(portal, session, nonce, purpose, now)
        acknowledge(
            session=session,
            occurrence_id=scope.occurrence.id or 0,
            unit_code=scope.unit.code,
            stage=stage.name,
            stage_rank=stage.rank,
            actor=actor_of(scope),
            at=now,
        )
    return RedirectResponse(f"/report/{token}#ack", status_code=303)


@router.post("/{token}/record")
def record_submit(
    request: Request,
    token: str,
    occurrence_id: str = Form(""),
    nonce: str = Form(""),
    csrf: str = Form(""),
    date: str = Form(""),
    amount_number: str = Form(""),
    amount_unit: str = Form(""),
    count: str = Form(""),
    category: str = Form(""),
    note: str = Form(""),
    evidence: UploadFile | None = File(None),
):
    check_csrf(request, csrf)
    portal = portal_of(request)
    scope = open_link(portal, token)
    same_occurrence(scope, occurrence_id)
    if not owes(scope):
        raise PageError(403, "无权填报", f"{scope.unit.name}不是该事项的牵头单位，只能查看，由牵头单位填报。未保存任何内容。")
    purpose = f"record:{scope.purpose}"
    _refuse_if_spent(portal, nonce, purpose)
    ob = portal.app.catalogue.obligations.get(scope.occurrence.obligation_id)
    if ob is None:
        raise PageError(410, "事项已撤销", "该事项已不在事项目录中，不能再填报。")
    spec = form_spec(ob, scope.occurrence)
    values = RecordInput(date, amount_number, amount_unit, count, category, note)
    now = portal.now()
    try:
        parsed = parse_record_form(values, spec)
        upload = evidence if evidence is not None and evidence.filename else None
        with spooled_upload(
            upload.file if upload else None,  # type: ignore[arg-type]
            upload.filename if upload else "",  # type: ignore[arg-type]
            max_bytes=portal.app.settings.max_evidence_bytes,
        ) as evidence_path:
            record_id = _store(portal, scope, parsed, evidence_path, nonce, purpose, now)
    except InputError as exc:
        return _page(request, portal, scope, error=exc.message, status_code=422, values=values, record_nonce=nonce)
    except PageError as exc:
        if exc.status_code in (409, 400):
            raise
        return _page(request, portal, scope, error=exc.message, status_code=exc.status_code, values=values,
                     record_nonce=nonce)
    return RedirectResponse(f"/report/{token}/records/{record_id}", status_code=303)


def _store(portal: Portal, scope: LinkScope, parsed, evidence_path, nonce: str, purpose: str, now) -> int:
    occ = scope.occurrence
    with portal.app.session() as session:
        _spend(portal, session, nonce, purpose, now)
        rec = record_completion(
            portal.app.catalogue,
            session=session,
            obligation_id=occ.obligation_id,
            scope=occ.scope,
            on=parsed.on,
            as_of=now,
            count=parsed.count,
            amount_fen=parsed.amount_fen,
            category=parsed.category,
            note=parsed.note,
            evidence=evidence_path,
            evidence_dir=portal.app.settings.evidence_dir,
            max_evidence_bytes=portal.app.settings.max_evidence_bytes,
            period=occ.period if occ.period.isdigit() else None,
            actor=actor_of(scope),
        )
        if rec.occurrence_id != occ.id:  # the date chose another period: not what the link is for
            raise InputError("date", f"完成日期 {parsed.on} 不属于本期次（{occ.period}），请核对日期。")
        assert rec.id is not None
        return rec.id


def _scoped_record(portal: Portal, scope: LinkScope, record_id: int) -> CompletionRecord:
    with portal.app.read_session() as session:
        rec = visible_record(session=session, record_id=record_id)
    if rec is None:
        raise PageError(404, "记录不存在", f"没有编号为 {record_id} 的记录。")
    if rec.occurrence_id != scope.occurrence.id:
        raise PageError(403, "无权查看", "此链接只能查看本事项本期次的记录，不能查看其他单位或其他期次的记录。")
    return rec


@router.get("/{token}/records/{record_id:id}")
def record_receipt(request: Request, token: str, record_id: int):
    portal = portal_of(request)
    scope = open_link(portal, token)
    rec = _scoped_record(portal, scope, record_id)
    ob = portal.app.catalogue.obligations.get(scope.occurrence.obligation_id)
    return render(
        request,
        "receipt.html",
        {
            "scope": scope,
            "occ": scope.occurrence,
            "ob": ob,
            "rec": rec,
            "unit_amount": amount_unit(portal, scope.occurrence.obligation_id),
        },
    )


@router.get("/{token}/records/{record_id:id}/evidence")
def record_evidence(request: Request, token: str, record_id: int):
    portal = portal_of(request)
    scope = open_link(portal, token)
    return evidence_response(portal, _scoped_record(portal, scope, record_id))

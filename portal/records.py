"""The coordinator's and supervisors' records page: every completion record, searched, filtered and paged,
with the same list as CSV beside the board's Excel."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from shanhai.models.queries import record_items
from shanhai.models.statuses import RecordState
from shanhai.portal.auth import ANY_ACCOUNT, SessionUser, require
from shanhai.portal.web import Listing, PageError, portal_of, render

router = APIRouter()
PAGE_SIZE = 50
STATE_LABELS = {RecordState.SUBMITTED.value: "待核验", RecordState.VERIFIED.value: "已核验",
                RecordState.REJECTED.value: "已退回"}
CSV_COLUMNS = [
    ("id", "记录#"), ("occurrence", "期次#"), ("title", "事项"), ("obligation", "事项编号"), ("scope", "范围"),
    ("period", "期次"), ("date", "完成日期"), ("amount", "金额"), ("amount_yuan", "金额（元，精确）"), ("count", "数量"),
    ("category", "类别"),
    ("state_label", "审核状态"), ("note", "说明"), ("evidence", "证明材料"), ("submitted_by", "提交人"),
    ("submitted_at", "提交时间"), ("reviewed_by", "审核人"), ("reviewed_at", "审核时间"), ("review_note", "审核意见"),
]


def matching(items: list[dict[str, Any]], *, state: str = "", year: str = "", q: str = "") -> list[dict[str, Any]]:
    """The records a filter keeps: a review state, a period's year, and words found in the record's text
    (its #id, duty, scope, note, evidence, reporter or review note)."""
    words = q.split()

    def text(item: dict[str, Any]) -> str:
        keys = ("title", "obligation", "scope", "note", "evidence", "submitted_by", "review_note", "category")
        return " ".join([f"#{item['id']}", *(str(item[k] or "") for k in keys)])

    return [
        i for i in items
        if (not state or i["state"] == state)
        and (not year or str(i["period"]).startswith(year))
        and all(w in text(i) for w in words)
    ]


def _filtered(request: Request, flt: RecordFilter) -> list[dict[str, Any]]:
    scope, obligation, state, year, q = flt.scope, flt.obligation, flt.state, flt.year, flt.q
    portal = portal_of(request)
    portal.ensure_synced()
    if state and state not in STATE_LABELS:
        raise PageError(422, "筛选条件有误", f"审核状态应为 待核验、已核验 或 已退回，而不是“{state}”。")
    if year and not (year.isdigit() and len(year) == 4):
        raise PageError(422, "筛选条件有误", f"年度应为四位数字，如 2026，而不是“{year}”。")
    try:
        items = record_items(portal.app, scope=scope or None, obligation=obligation or None)
    except ValueError as exc:  # an unknown scope or obligation, named in Chinese by the query
        raise PageError(422, "筛选条件有误", str(exc).removeprefix("--scope：")) from None
    items = matching(items, state=state, year=year, q=q.strip())
    return [{**i, "state_label": STATE_LABELS.get(i["state"], i["state"])} for i in items]


@dataclass
class RecordFilter:
    """The records page's and its CSV's filters, as query parameters."""

    scope: str = ""
    obligation: str = ""
    state: str = ""
    year: str = ""
    q: str = ""


@router.get("/records")
def records_page(
    request: Request, flt: RecordFilter = Depends(), page: int = 1, user: SessionUser = require(*ANY_ACCOUNT)
):
    items = _filtered(request, flt)
    listing = Listing(form=asdict(flt), total=len(items), page=page, size=PAGE_SIZE)
    cat = portal_of(request).app.catalogue
    return render(
        request,
        "records.html",
        {
            **listing.context(),
            "items": items[listing.offset: listing.offset + PAGE_SIZE],
            "states": STATE_LABELS,
            "obligations": [(ob_id, ob.title) for ob_id, ob in cat.obligations.items()],
        },
    )


@router.get("/records.csv")
def records_csv(request: Request, flt: RecordFilter = Depends(), user: SessionUser = require(*ANY_ACCOUNT)):
    items = _filtered(request, flt)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for item in items:
        writer.writerow(["" if item[k] is None else item[k] for k, _ in CSV_COLUMNS])
    # with a BOM: Excel and WPS open UTF-8 CSV as such only then
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%AE%8C%E6%88%90%E8%AE%B0%E5%BD%95.csv"},
    )

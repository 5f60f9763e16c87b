"""The annual assessment in the portal: `/assessment?year=` for coordinators and supervisors (class tables,
bands, charts, and each unit's lines down to the records), its xlsx/PDF download, and the unit's own
line for the unit page. The numbers are the command's: one computation (shanhai.models.assessment_service).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shanhai.models.assessment import UnitAssessment, latest_closed_year
from shanhai.models.assessment_method import AssessmentMethodError
from shanhai.models.assessment_report import (
    PROVISIONAL_TEXT,
    STATE_LABELS,
    assessment_html,
    assessment_pdf,
    assessment_workbook,
    outcome_label,
)
from shanhai.models.assessment_service import AssessmentRun, assessment_charts, run_assessment
from shanhai.models.localtime import local_date
from shanhai.portal.auth import ANY_ACCOUNT, SessionUser, require
from shanhai.portal.board import as_of_param, year_param
from shanhai.portal.web import PageError, Portal, portal_of, render

router = APIRouter()


def compute(portal: Portal, *, as_of: datetime, year: int, unit: str | None = None, charts: bool = False):
    app = portal.app
    with app.read_session() as session:
        try:
            run = run_assessment(app.catalogue, app.settings.catalogue_dir, session=session, as_of=as_of,
                                 cal=app.calendar, year=year, unit=unit)
        except AssessmentMethodError as exc:
            raise PageError(500, "考核办法文件有误", str(exc)) from None
        drawn = assessment_charts(app.catalogue, run, session=session, cal=app.calendar) if charts else []
    return run, drawn


def unit_line(portal: Portal, unit_name: str, *, as_of: datetime) -> tuple[int, UnitAssessment | None]:
    """The unit's own line in the latest closed year's assessment (its rank is within its whole class);
    None when the unit has none, or when the method file is missing or broken (the assessment page
    says what is wrong with it; a unit page is not the place)."""
    year = latest_closed_year(as_of)
    try:
        run, _ = compute(portal, as_of=as_of, year=year, unit=unit_name)
    except PageError:
        return year, None
    return year, (run.report.units[0] if run.report.units else None)


@router.get("/assessment")
def assessment_page(request: Request, year: str | None = None, as_of: str | None = None,
                    user: SessionUser = require(*ANY_ACCOUNT)):
    portal = portal_of(request)
    when, previewing = as_of_param(portal, as_of)
    chosen = year_param(year, latest_closed_year(when))
    run, charts = compute(portal, as_of=when, year=chosen, charts=True)
    return render(request, "assessment.html", {
        "report": run.report, "classes": run.report.classes(), "charts": charts,
        "titles": run.titles(portal.app.catalogue), "provisional_text": PROVISIONAL_TEXT,
        "codes": {u.name: u.code for u in portal.app.catalogue.units.values()},
        "outcome_label": outcome_label, "state_label": lambda s: STATE_LABELS.get(s, s),
        "year": chosen, "years": list(range(local_date(when).year, 2018, -1)),
        "as_of": when, "previewing": previewing,
    })


@router.get("/assessment/{year}.{fmt}")
def assessment_download(request: Request, year: str, fmt: str, as_of: str | None = None,
                        user: SessionUser = require(*ANY_ACCOUNT)):
    portal = portal_of(request)
    when, _ = as_of_param(portal, as_of)
    if fmt not in ("xlsx", "pdf"):
        raise PageError(404, "格式不支持", f"“{fmt}”不是可下载的格式（xlsx 或 pdf）。")
    chosen = year_param(year, latest_closed_year(when))
    run, charts = compute(portal, as_of=when, year=chosen, charts=fmt == "pdf")
    return _download(run, portal, fmt, charts)


def _download(run: AssessmentRun, portal: Portal, fmt: str, charts) -> Response:
    titles = run.titles(portal.app.catalogue)
    if fmt == "xlsx":
        data = assessment_workbook(run.report, titles)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        data, media = assessment_pdf(assessment_html(run.report, titles, charts)), "application/pdf"
    name = f"shanhai-assessment-{run.report.year}{'-provisional' if run.report.provisional else ''}.{fmt}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


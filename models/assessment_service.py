"""One annual assessment, computed once for every interface (the command, the portal, the annual flow):
the method file, the year's inputs, the scores, and the charts drawn from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from shanhai.models.assessment import QUANTITY_KINDS, Assessment, AssessmentInputs, assess, year_closed
from shanhai.models.assessment_inputs import (
    load_assessment_inputs,
    method_for,
    monthly_lights,
    quantity_steps,
)
from shanhai.models.assessment_report import Chart
from shanhai.models.catalogue import Catalogue
from shanhai.models.working_days import WorkingCalendar


@dataclass(frozen=True)
class AssessmentRun:
    report: Assessment
    inputs: AssessmentInputs

    def titles(self, cat: Catalogue) -> Mapping[str, str]:
        return {ob_id: ob.title for ob_id, ob in cat.obligations.items()}


def run_assessment(
    cat: Catalogue, catalogue_dir: Path, *, session: Session, as_of: datetime, cal: WorkingCalendar,
    year: int, unit: str | None = None,
) -> AssessmentRun:
    """The year scored at ``as_of`` (provisional when the year has not closed by then); ``unit`` keeps one
    unit's line (ranked within its whole class). Raises AssessmentMethodError for a broken method file."""
    method = method_for(cat, catalogue_dir)
    inputs = load_assessment_inputs(cat, session=session, as_of=as_of, cal=cal, year=year)
    report = assess(inputs, method, provisional=not year_closed(year, as_of))
    return AssessmentRun(report.only(unit) if unit else report, inputs)


def assessment_charts(cat: Catalogue, run: AssessmentRun, *, session: Session, cal: WorkingCalendar) -> list[Chart]:
    """The score breakdown, the lights by unit x month and a burn-up per quantity duty in the report."""
    from shanhai.models.assessment_charts import burn_up_for, data_uri, lights_png, score_breakdown_png

    report = run.report
    charts = [Chart(f"{report.year} 年度考核得分构成", data_uri(score_breakdown_png(report)))]
    units = [u.unit for u in report.units]
    lights = monthly_lights(cat, session=session, as_of=report.as_of, cal=cal, year=report.year, units=units)
    charts.append(Chart(f"{report.year} 年各单位月末红黄绿灯", data_uri(lights_png(report.year, lights))))
    in_report = {line.occurrence for u in report.units for line in u.lines if line.max_cents}
    rows = [row for row, _ in run.inputs.pairs
            if row.id in in_report and row.requirement.kind in QUANTITY_KINDS]
    steps = quantity_steps(session=session, occurrence_ids=[r.id for r in rows])
    titles = run.titles(cat)
    for row in rows:
        png = burn_up_for(row, titles.get(row.obligation_id, row.obligation_id), steps.get(row.id, []))
        if png is not None:
            charts.append(Chart(f"{titles.get(row.obligation_id)}（{row.scope}）序时进度", data_uri(png)))
    return charts

"""The annual assessment of a province-scale year (90 pairings): scoring, charts, xlsx and PDF."""

from __future__ import annotations

import time
from datetime import date, datetime

from benchmarks.sweep import best_of


def run_assessment_bench(app, as_of: datetime, *, label: str) -> dict:
    """Scores the latest closed year at ``as_of`` with the shipped method, tracking from 2018 (so that every
    line counts, as on an installation that imported its history)."""
    from shanhai.models.assessment import latest_closed_year
    from shanhai.models.assessment_report import assessment_html, assessment_pdf, assessment_workbook
    from shanhai.models.assessment_service import assessment_charts, run_assessment
    from shanhai.models.installation import set_tracking_from

    with app.session() as session:
        set_tracking_from(session=session, tracking_from=date(2018, 1, 1), actor="bench")
    year = latest_closed_year(as_of)

    def score():
        with app.read_session() as session:
            return run_assessment(app.catalogue, app.settings.catalogue_dir, session=session, as_of=as_of,
                                  cal=app.calendar, year=year)

    score_ms, run = best_of(score, repeat=3)
    titles = run.titles(app.catalogue)
    t = time.perf_counter()
    with app.read_session() as session:
        charts = assessment_charts(app.catalogue, run, session=session, cal=app.calendar)
    charts_ms = (time.perf_counter() - t) * 1000
    xlsx_ms, xlsx = best_of(lambda: assessment_workbook(run.report, titles), repeat=1)
    t = time.perf_counter()
    pdf = assessment_pdf(assessment_html(run.report, titles, charts))
    pdf_ms = (time.perf_counter() - t) * 1000
    return {
        "backend": label,
        "year": year,
        "units": len(run.report.units),
        "lines": sum(len(u.lines) for u in run.report.units),
        "occurrences": len(run.inputs.pairs),
        "score_ms": round(score_ms, 1),
        "charts": len(charts),
        "charts_ms": round(charts_ms, 1),
        "xlsx_ms": round(xlsx_ms, 1),
        "xlsx_kb": len(xlsx) // 1024,
        "pdf_ms": round(pdf_ms, 1),
        "pdf_kb": len(pdf) // 1024,
    }


def report_rows(results: list[dict]) -> list[list]:
    return [
        [r["backend"], r["year"], r["units"], r["occurrences"], r["lines"], r["score_ms"], r["charts"],
         r["charts_ms"], r["xlsx_ms"], r["pdf_ms"], r["pdf_kb"]]
        for r in results
    ]


HEADER = ["backend", "year", "units", "occurrences", "lines", "score ms (best of 3)", "charts", "charts ms",
          "xlsx ms", "PDF ms", "PDF KiB"]

"""`shanhai assessment`: the annual assessment (年度考核) of a closed year, or a provisional one."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shanhai.cli.app import AsOf, Json, app, as_of_option, emit_json, fail, ready_app


class ReportFormat(StrEnum):
    xlsx = "xlsx"
    html = "html"
    pdf = "pdf"


class _Bytes:
    """Bytes that the CLI's atomic writer saves like a workbook."""

    def __init__(self, data: bytes):
        self.data = data

    def save(self, fh) -> None:
        fh.write(self.data)


@app.command()
def assessment(
    year: Annotated[int, typer.Option("--year", help="考核年度，如 2025")],
    unit: Annotated[str | None, typer.Option("--unit", help="只看一个单位，如 鹿城区")] = None,
    fmt: Annotated[ReportFormat | None, typer.Option("--format", help="报告格式：xlsx、html 或 pdf")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="报告文件（--format 时必填）")] = None,
    provisional: Annotated[
        bool, typer.Option("--provisional", help="年度尚未关闭时也计算（每页标明“临时结果”）")
    ] = False,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """年度考核：各单位逐项得分、分类小计、总分、档次与类内排名。 The annual assessment."""
    from shanhai.cli.exports import ExportError, _save_atomically
    from shanhai.models.assessment_method import AssessmentMethodError
    from shanhai.models.assessment_service import assessment_charts, run_assessment

    when = as_of_option(as_of)
    _check_options(year, when, provisional=provisional, fmt=fmt, out=out)
    a = ready_app(when)
    canonical = _unit_name(a, unit)
    with a.read_session() as session:
        try:
            run = run_assessment(a.catalogue, a.settings.catalogue_dir, session=session, as_of=when,
                                 cal=a.calendar, year=year, unit=canonical)
        except AssessmentMethodError as exc:
            fail(f"考核办法文件有误 assessment method is invalid:\n{exc}")
        if as_json:
            return emit_json([u.as_item() for u in run.report.units])
        if fmt is None or out is None:
            return _print(run.report)
        drawn = fmt is not ReportFormat.xlsx  # the workbook carries numbers, the pages carry the charts
        charts = assessment_charts(a.catalogue, run, session=session, cal=a.calendar) if drawn else []
    try:
        _save_atomically(_Bytes(_render(run, a.catalogue, fmt, charts)), out)
    except ExportError as exc:
        fail(f"-o：{exc}")
    typer.echo(f"已写入 {out}（{len(run.report.units)} 个单位）")


def _check_options(year: int, when, *, provisional: bool, fmt: ReportFormat | None, out: Path | None) -> None:
    from shanhai.app import AS_OF_YEARS
    from shanhai.cli.exports import ExportError, check_target
    from shanhai.models.assessment import year_closed

    if not AS_OF_YEARS[0] <= year <= AS_OF_YEARS[1]:
        fail(f"--year：{year} 不在 {AS_OF_YEARS[0]}—{AS_OF_YEARS[1]} 年之间")
    if not year_closed(year, when) and not provisional:
        fail(f"--year：{year} 年度尚未关闭（{year + 1}-03-31 年度考核后关闭）；如需临时结果请加 --provisional")
    if fmt is not None and out is None:
        fail("-o：--format 需要 -o 指定输出文件")
    if out is not None and fmt is None:
        fail("--format：-o 需要 --format xlsx、html 或 pdf")
    if out is not None:
        try:
            check_target(out)
        except ExportError as exc:
            fail(f"-o：{exc}")


def _unit_name(a, unit: str | None) -> str | None:
    if unit is None:
        return None
    found = a.catalogue.unit(unit)
    if found is None:
        fail(f"--unit：未知的单位“{unit}”（见 units.yaml）")
    return found.name


def _render(run, cat, fmt: ReportFormat, charts) -> bytes:
    from shanhai.models.assessment_report import assessment_html, assessment_pdf, assessment_workbook

    titles = run.titles(cat)
    if fmt is ReportFormat.xlsx:
        return assessment_workbook(run.report, titles)
    html = assessment_html(run.report, titles, charts)
    return html.encode("utf-8") if fmt is ReportFormat.html else assessment_pdf(html)


def _print(report) -> None:
    from shanhai.models.assessment_report import PROVISIONAL_TEXT, fmt, report_title
    from shanhai.models.text import display_width

    typer.echo(report_title(report))
    typer.echo(report.notice)
    if report.provisional:
        typer.echo(PROVISIONAL_TEXT)
    for klass, members in report.classes().items():
        typer.echo(f"\n{klass}")
        for u in members:
            pad = " " * max(0, 20 - display_width(u.unit))  # a Chinese character takes two columns
            typer.echo(f"  {u.rank or '—':>3}  {u.unit}{pad}{fmt(u.score):>8}  {u.band or '不参评'}")
    typer.echo("\n逐项明细：--json 或 --format xlsx|html|pdf -o 文件")

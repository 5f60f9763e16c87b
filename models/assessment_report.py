"""The annual assessment as a person reads it: xlsx, HTML and PDF, with the same numbers as `--json`.

Every output carries the method's notice (the default until the leading group's own method replaces the
file) and, for a year not closed yet, the provisional mark: on every sheet, and on every PDF page.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from shanhai.models.assessment import Assessment, Line, UnitAssessment
from shanhai.models.assessment import outcome_label_of as outcome_label
from shanhai.models.localtime import format_local

PROVISIONAL_TEXT = "临时结果：该年度尚未关闭（未到年度考核关闭日），结果会随补录变化，不作为正式考核结论"
STATE_LABELS = {"submitted": "待核验", "verified": "已核验", "rejected": "已退回"}
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Chart:
    alt: str
    src: str  # a data: URI, so the HTML and the PDF need no other file and no network


def report_title(report: Assessment) -> str:
    mark = "（临时）" if report.provisional else ""
    return f"山海协作工程 {report.year} 年度考核结果{mark}"


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def ratio_text(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.1%}"


def evidence_text(line: Line) -> str:
    return "、".join(f"#{e.record} {e.on.isoformat()} {STATE_LABELS.get(e.state, e.state)}" for e in line.evidence)


def category_names(report: Assessment) -> list[str]:
    return list(dict.fromkeys(c.name for u in report.units for c in u.categories))


def category_cell(unit: UnitAssessment, name: str) -> str:
    found = next((c for c in unit.categories if c.name == name), None)
    return "" if found is None else f"{fmt(found.cents / 100)}/{fmt(found.max_cents / 100)}"


def line_titles(titles: Mapping[str, str]):
    def title_of(line: Line) -> str:
        base = titles.get(line.obligation, line.obligation)
        return f"{line.note}：{base}" if line.note else base

    return title_of


def assessment_html(report: Assessment, titles: Mapping[str, str], charts: Sequence[Chart] = ()) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    page_mark = (PROVISIONAL_TEXT if report.provisional else report_title(report)).replace('"', "'")
    method_mark = ("系统默认考核办法（待领导小组另行制订的办法替换）" if report.default_method
                   else report.method_title).replace('"', "'")
    return env.get_template("assessment.html.j2").render(
        report=report, title=report_title(report), as_of=format_local(report.as_of),
        provisional_text=PROVISIONAL_TEXT, page_mark=page_mark, method_mark=method_mark,
        classes=report.classes(), category_names=category_names(report), charts=list(charts),
        fmt=fmt, ratio_text=ratio_text, evidence_text=evidence_text, outcome_label=outcome_label,
        category_cell=category_cell, title_of=line_titles(titles),
    )


def assessment_pdf(html: str) -> bytes:
    """The HTML, typeset with Pango from the installed Noto CJK font (no network: images are data URIs)."""
    import logging

    try:
        from weasyprint import HTML
    except OSError as exc:  # WeasyPrint loads the system's Pango when imported
        from shanhai.models.errors import InputError

        raise InputError(
            "format",
            "生成 PDF 需要系统库 Pango（Debian/Ubuntu：apt-get install libpango-1.0-0 libpangoft2-1.0-0；"
            f"make test 会自动安装）：{exc}",
        ) from None

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter
    return HTML(string=html, base_url=None).write_pdf()


_SUMMARY = ["名次", "类别", "单位", "得分", "档次", "临时结果"]
_LINES = ["单位", "类别", "事项编号", "事项", "范围", "期次", "期限", "结果", "结果代码", "完成率", "得分", "满分",
          "期次#", "佐证记录"]


def _head(ws, report: Assessment, columns: list[str]) -> None:
    from openpyxl.styles import Font

    ws.append([report_title(report)])
    ws.append([report.notice])
    ws.append([PROVISIONAL_TEXT if report.provisional else f"正式结果（计算时点 {format_local(report.as_of)}）"])
    if report.provisional:
        ws.cell(row=3, column=1).font = Font(bold=True, color="CC0000")
    ws.append(columns)
    for cell in ws[4]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A5"


def _line_row(u: UnitAssessment, line: Line, titles: Mapping[str, str]) -> list[Any]:
    return [u.unit, line.category, line.obligation, line_titles(titles)(line), line.scope, line.period,
            line.due, outcome_label(line.outcome), line.outcome, line.ratio, line.points, line.max_points,
            line.occurrence, evidence_text(line)]


def assessment_workbook(report: Assessment, titles: Mapping[str, str]) -> bytes:
    """总览 (one row per unit, per class), 分类得分 (category subtotals) and 明细 (every line)."""
    from openpyxl import Workbook

    wb = Workbook()
    summary = wb.active
    summary.title = "总览"
    _head(summary, report, _SUMMARY)
    for u in report.units:
        summary.append([u.rank, u.class_name, u.unit, u.score, u.band or "不参评", "是" if u.provisional else ""])
    cats = wb.create_sheet("分类得分")
    _head(cats, report, ["单位", "类别", "得分", "满分"])
    for u in report.units:
        for c in u.categories:
            cats.append([u.unit, c.name, c.cents / 100, c.max_cents / 100])
    lines = wb.create_sheet("明细")
    _head(lines, report, _LINES)
    for u in report.units:
        for line in u.lines:
            lines.append(_line_row(u, line, titles))
    for ws in (summary, cats, lines):
        ws.auto_filter.ref = f"A4:{ws.cell(row=4, column=ws.max_column).column_letter}{ws.max_row}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

"""The annual assessment (年度考核): a year scored by hand, the same numbers in JSON, xlsx, HTML and PDF, the
method file validated with file:line, the shipped method checked against the document's catalogue.

The year (2025, closed on 2026-03-31, assessed on 2026-04-10) on two pairings, computed by hand:

  weights   加快发展县: joint-meeting 60, next-year-plan 20, transfer-measures 10, early-duty 10
            经济强区:   joint-meeting 40, next-year-plan 20, aid-funds 20, transfer-measures 10, early-duty 10
            市级部门:   industrial-investment 100
  early-duty (due 2025-03-31) is history: the document was issued on 2025-04-01. transfer-measures is
  waived on both pairings. What is left is rescaled to 100: counties x1.25 (joint 75, plan 25),
  partners x1.25 (joint 50, plan 25, aid 25).

  泰顺县  joint done 75 + plan late 25x0.6 = 15                              = 90   优秀 (the edge), rank 1
  永嘉县  joint missed 0 + plan done 25                                       = 25   不合格, rank 2
  鹿城区  joint done 50 + plan late 15 + aid-funds missed 0 - penalty 2       = 63   合格, rank 1
  瓯海区  joint missed 0 + plan done 25 + aid-funds done 25                   = 50   不合格, rank 2
  经合办  40亿 of 40亿 (ratio 1.0) but 八大产业 is 1 of 2 projects (< 65%): x0.8 = 80   良好 (the edge)

鹿城区's missed 帮扶资金 is charged to 鹿城区 (0 points and the penalty); 泰顺县 has no such line.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from shanhai.models.assessment_method import AssessmentMethodError, load_method
from shanhai.models.catalogue import load_catalogue
from shanhai.models.errors import InputError
from tests.conftest import (
    DOCUMENT,
    REAL_CATALOGUE,
    at,
    industrial_investment,
    joint_meeting,
    line_of,
    make_app,
    make_catalogue,
    make_obligation,
    make_record,
    next_year_plan,
    run_cli,
    waive,
    write_yaml,
)

YEAR = 2025
ASSESSED = at(2026, 4, 10)
AS_OF = ["--as-of", "2026-04-10"]
YI = 100_000_000 * 100  # fen per 亿元

METHOD = {
    "method": {"title": "测试考核办法", "status": "default", "notice": "本结果按系统默认考核办法计算（待领导小组另行制订）"},
    "classes": [
        {"name": "加快发展县", "unit_kinds": ["county"]},
        {"name": "经济强区", "unit_kinds": ["partner"]},
        {"name": "市级部门", "unit_kinds": ["department", "coordinator"]},
    ],
    "categories": [
        {"name": "机制建设", "duties": [
            {"obligation": "joint-meeting", "weights": {"加快发展县": 60, "经济强区": 40}},
            {"obligation": "next-year-plan", "weights": {"加快发展县": 20, "经济强区": 20}},
            {"obligation": "early-duty", "weights": {"加快发展县": 10, "经济强区": 10}},
        ]},
        {"name": "资金保障", "duties": [{"obligation": "aid-funds", "weights": {"经济强区": 20}}]},
        {"name": "产业合作", "duties": [
            {"obligation": "transfer-measures", "weights": {"加快发展县": 10, "经济强区": 10}},
            {"obligation": "industrial-investment", "weights": {"市级部门": 100}},
        ]},
    ],
    "outcomes": {"done": 1.0, "done_late": 0.6, "missed": 0, "open": 0, "waived": "exclude",
                 "unverified": "exclude"},
    "quantity": {"cap": 1.0, "share_shortfall": 0.8},
    "adjustments": [
        {"name": "超额完成加分", "kind": "bonus", "points": 1, "limit": 3,
         "when": {"outcomes": ["done"], "ratio_at_least": 1.2}},
        {"name": "帮扶资金未到位扣分", "kind": "penalty", "points": 2, "limit": 2,
         "when": {"outcomes": ["missed"], "obligations": ["aid-funds"]}},
    ],
    "bands": [{"name": "优秀", "min": 90}, {"name": "良好", "min": 80}, {"name": "合格", "min": 60},
              {"name": "不合格", "min": 0}],
}
EXPECTED = {  # unit: (class, score, band, rank)
    "泰顺县": ("加快发展县", 90.0, "优秀", 1),
    "永嘉县": ("加快发展县", 25.0, "不合格", 2),
    "鹿城区": ("经济强区", 63.0, "合格", 1),
    "瓯海区": ("经济强区", 50.0, "不合格", 2),
    "市招商局（经合办）": ("市级部门", 80.0, "良好", 1),
}


def year_catalogue(directory: Path) -> Path:
    obligations = [
        joint_meeting(),
        next_year_plan(),
        make_obligation("transfer-measures", "annual_deadline", title="产业转移举措", due="12-31"),
        make_obligation("aid-funds", "annual_deadline", title="年度帮扶资金到位", due="05-31",
                        responsible={"lead": ["结对强区"], "co": []}),
        make_obligation("early-duty", "one_off", title="文件印发前的事项", due=date(2025, 3, 31)),
        industrial_investment(),
    ]
    make_catalogue(directory, obligations, document={**DOCUMENT, "issued": date(2025, 4, 1)})
    write_yaml(directory / "assessment.yaml", METHOD)
    return directory


@pytest.fixture
def year_app(tmp_path, database_url):
    return build_year(tmp_path, database_url)


def build_year(tmp_path: Path, database_url: str):
    """The hand-computed year's records, on an installation tracking from 2025-01-01."""
    catalogue = year_catalogue(tmp_path / "calendar")
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2025, 1, 2), now=ASSESSED)
    app.sync(as_of=ASSESSED)
    for on in ("2025-03-10", "2025-09-10"):
        make_record(app, "joint-meeting", "泰顺-鹿城", on)
    make_record(app, "joint-meeting", "永嘉-瓯海", "2025-03-10", actor="永嘉县（报送链接）")
    make_record(app, "next-year-plan", "泰顺-鹿城", "2025-11-20", period="2025")  # late, before closing
    make_record(app, "next-year-plan", "永嘉-瓯海", "2025-10-15")
    make_record(app, "aid-funds", "永嘉-瓯海", "2025-05-20")
    make_record(app, "industrial-investment", "全市", "2025-06-01", amount_fen=30 * YI, category="八大产业")
    make_record(app, "industrial-investment", "全市", "2025-08-01", amount_fen=10 * YI, category="其他产业")
    waive(app, "transfer-measures", "泰顺-鹿城", "2025")
    waive(app, "transfer-measures", "永嘉-瓯海", "2025")
    return app


def assess_json(app, *args: str) -> list[dict]:
    result = run_cli(["assessment", "--year", YEAR, *AS_OF, "--json", *args], home=app.settings.home,
                     database_url=app.database_url, catalogue_dir=app.settings.catalogue_dir)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_year_scored_by_hand(year_app):
    units = {u["unit"]: u for u in assess_json(year_app)}
    assert {u: (x["class"], x["score"], x["band"], x["rank"]) for u, x in units.items()} == EXPECTED
    for u in units.values():
        assert u["provisional"] is False
        assert round(sum(line["points"] for line in u["lines"]), 2) == u["score"]  # the total is its lines
        assert round(sum(c["score"] for c in u["categories"]), 2) == u["score"]
    lucheng = {line["obligation"]: line for line in units["鹿城区"]["lines"] if line["outcome"] != "penalty"}
    assert (lucheng["aid-funds"]["outcome"], lucheng["aid-funds"]["points"], lucheng["aid-funds"]["max_points"]) \
        == ("missed", 0.0, 25.0)
    assert [(x["outcome"], x["points"]) for x in units["鹿城区"]["lines"] if x["outcome"] == "penalty"] == \
        [("penalty", -2.0)]
    taishun = {line["obligation"]: line for line in units["泰顺县"]["lines"]}
    assert "aid-funds" not in taishun  # the partner's duty is never charged to its county
    assert (taishun["joint-meeting"]["points"], taishun["joint-meeting"]["max_points"]) == (75.0, 75.0)
    assert (taishun["next-year-plan"]["outcome"], taishun["next-year-plan"]["points"]) == ("done_late", 15.0)
    assert (taishun["transfer-measures"]["outcome"], taishun["transfer-measures"]["max_points"]) == ("waived", 0.0)
    assert (taishun["early-duty"]["outcome"], taishun["early-duty"]["max_points"]) == ("history", 0.0)
    assert len(taishun["joint-meeting"]["records"]) == 2
    coordinator = units["市招商局（经合办）"]["lines"][0]
    assert (coordinator["obligation"], coordinator["ratio"], coordinator["points"]) == ("industrial-investment", 1.0, 80.0)


def test_a_waived_duty_never_lowers_a_score(year_app):
    before = {u["unit"]: u["score"] for u in assess_json(year_app)}
    waive(year_app, "joint-meeting", "永嘉-瓯海", "2025")  # the one 永嘉 missed: out of the denominator
    after = {u["unit"]: u["score"] for u in assess_json(year_app)}
    assert after["永嘉县"] == 100.0 and before["永嘉县"] == 25.0
    assert after["瓯海区"] == 100.0  # plan 50 + aid 50 after the rescale


def test_a_joint_meeting_reported_by_both_sides_counts_once(year_app):
    before = {u["unit"]: u["score"] for u in assess_json(year_app)}
    # 瓯海区 reports, through its own link, the meeting of 2025-03-10 that was reported: one event, still 1 of 2
    make_record(year_app, "joint-meeting", "永嘉-瓯海", "2025-03-10", actor="瓯海区（报送链接）")
    # the coordinator typing the same meeting in again is a repeat, not a third report
    with pytest.raises(InputError, match="已提交过相同记录"):
        make_record(year_app, "joint-meeting", "永嘉-瓯海", "2025-03-10")
    units = {u["unit"]: u for u in assess_json(year_app)}
    assert {u: x["score"] for u, x in units.items()} == before
    yongjia = next(line for line in units["永嘉县"]["lines"] if line["obligation"] == "joint-meeting")
    assert yongjia["outcome"] == "missed" and len(yongjia["records"]) == 2  # two reporters, one event


def test_one_unit_and_an_unknown_unit(year_app):
    only = assess_json(year_app, "--unit", "鹿城区")
    assert [u["unit"] for u in only] == ["鹿城区"] and only[0]["rank"] == 1
    result = run_cli(["assessment", "--year", YEAR, *AS_OF, "--unit", "火星区"], home=year_app.settings.home,
                     database_url=year_app.database_url, catalogue_dir=year_app.settings.catalogue_dir)
    assert result.exit_code == 1 and "--unit" in result.stderr and "火星区" in result.stderr


def test_an_open_year_is_refused_unless_provisional_and_then_marked(year_app, tmp_path):
    def run(*args):
        return run_cli(["assessment", "--year", YEAR, "--as-of", "2026-02-10", *args], home=year_app.settings.home,
                       database_url=year_app.database_url, catalogue_dir=year_app.settings.catalogue_dir)

    refused = run("--json")
    assert refused.exit_code == 1 and "--provisional" in refused.stderr and "尚未关闭" in refused.stderr
    provisional = json.loads(run("--json", "--provisional").stdout)
    assert provisional and all(u["provisional"] for u in provisional)
    html = tmp_path / "p.html"
    assert run("--provisional", "--format", "html", "-o", html).exit_code == 0
    assert "临时结果" in html.read_text(encoding="utf-8")
    pdf = tmp_path / "p.pdf"
    assert run("--provisional", "--format", "pdf", "-o", pdf).exit_code == 0
    pages = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 2 and all("临时结果" in p for p in pages)  # marked on every page


def test_the_same_numbers_in_xlsx_html_and_pdf(year_app, tmp_path):
    def render(fmt: str) -> Path:
        out = tmp_path / f"考核.{fmt}"
        result = run_cli(["assessment", "--year", YEAR, *AS_OF, "--format", fmt, "-o", out],
                         home=year_app.settings.home, database_url=year_app.database_url,
                         catalogue_dir=year_app.settings.catalogue_dir)
        assert result.exit_code == 0, result.output
        return out

    wb = load_workbook(render("xlsx"))
    summary = {row[2]: (row[1], row[3], row[4], row[0]) for row in wb["总览"].iter_rows(min_row=5, values_only=True)}
    assert summary == EXPECTED
    assert "另行制订" in wb["总览"]["A2"].value
    detail = list(wb["明细"].iter_rows(min_row=5, values_only=True))
    for unit, (_, score, _, _) in EXPECTED.items():
        assert round(sum(r[10] for r in detail if r[0] == unit), 2) == score

    html = render("html").read_text(encoding="utf-8")
    assert "另行制订" in html and "临时结果" not in html
    for unit, (_, score, band, _) in EXPECTED.items():
        assert unit in html and band in html and f">{score:g}<" in html

    text = subprocess.run(["pdftotext", "-layout", render("pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "年度考核结果" in text and "系统默认考核办法" in text
    for unit, (_, score, band, _) in EXPECTED.items():
        row = next(line for line in text.splitlines() if unit in line and band in line)
        assert f"{score:g}" in row.split()


def test_a_malformed_method_file_is_refused_with_file_and_line(year_app):
    path = year_app.settings.catalogue_dir / "assessment.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("obligation: aid-funds", "obligation: aid-fund").replace("加快发展县: 60", "加快发展县: 59")
    path.write_text(text, encoding="utf-8")
    result = run_cli(["assessment", "--year", YEAR, *AS_OF, "--json"], home=year_app.settings.home,
                     database_url=year_app.database_url, catalogue_dir=year_app.settings.catalogue_dir)
    assert result.exit_code == 1 and result.stdout == ""
    assert f"assessment.yaml:{line_of(text, 'obligation: aid-fund')}: categories[1].duties[0].obligation: " \
           "未知的事项编号“aid-fund”" in result.stderr
    assert f"assessment.yaml:{line_of(text, '- name: 加快发展县')}: classes[0].name: " \
           "类别“加快发展县”的权重合计为 99，须为 100" in result.stderr


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m["outcomes"].pop("waived"), "outcomes"),
        (lambda m: m["bands"].reverse(), "bands"),
        (lambda m: m["quantity"].update(cap=0), "quantity.cap"),
        (lambda m: m["categories"][0]["duties"][0]["weights"].update({"省级部门": 5}), "categories[0].duties[0].weights.省级部门"),
    ],
)
def test_each_kind_of_method_problem_names_its_field(tmp_path, change, field):
    method = json.loads(json.dumps(METHOD))
    change(method)
    path = write_yaml(tmp_path / "assessment.yaml", method)
    with pytest.raises(AssessmentMethodError) as caught:
        load_method(path)
    assert any(p.field == field and p.line for p in caught.value.problems), str(caught.value)


def test_band_edges_are_inclusive():
    from shanhai.models.assessment_method import AssessmentMethod

    method = AssessmentMethod.model_validate(METHOD)
    assert [method.band_of(s) for s in (100, 90, 89.99, 80, 79.99, 60, 59.99, 0)] == \
        ["优秀", "优秀", "良好", "良好", "合格", "合格", "不合格", "不合格"]


def test_the_shipped_method_fits_the_documents_catalogue_and_says_it_is_the_default():
    method = load_method(REAL_CATALOGUE / "assessment.yaml", load_catalogue(REAL_CATALOGUE))
    assert method.is_default and "另行制订" in method.method.notice
    assert [c.name for c in method.classes] == ["加快发展县", "经济强区", "市级部门"]
    for klass in ("加快发展县", "经济强区", "市级部门"):
        assert sum(d.weights.get(klass, 0) for c in method.categories for d in c.duties) == 100
    assert "aid-funds" in {d.obligation for c in method.categories for d in c.duties
                           if "经济强区" in d.weights and "加快发展县" not in d.weights}
    # every duty of the document is scored for some class: none silently left out of the year
    assert {d.obligation for c in method.categories for d in c.duties} == set(load_catalogue(REAL_CATALOGUE).obligations)


def test_the_charts_draw_chinese_in_the_cjk_font_without_missing_glyphs(year_app, recwarn):
    """matplotlib warns "Glyph … missing from font" for every character it draws as a box (tofu)."""
    from shanhai.models.assessment_charts import burn_up_png, cjk_font_file, lights_png, score_breakdown_png
    from shanhai.models.assessment_service import run_assessment

    with year_app.read_session() as session:
        run = run_assessment(year_app.catalogue, year_app.settings.catalogue_dir, session=session,
                             as_of=ASSESSED, cal=year_app.calendar, year=YEAR)
    pngs = [
        score_breakdown_png(run.report),
        lights_png(YEAR, {"泰顺县": ["green"] * 6 + ["red"] * 6, "市招商局（经合办）": ["yellow"] * 12}),
        burn_up_png("产业项目到位资金", start=date(2025, 1, 1), due=date(2025, 12, 31), target=40, unit="亿元",
                    steps=[(date(2025, 6, 1), 30.0)]),
    ]
    assert "CJK" in cjk_font_file().name
    assert all(p.startswith(b"\x89PNG") and len(p) > 5_000 for p in pngs)
    assert not [w for w in recwarn if "missing from" in str(w.message)]


# --------------------------------------------------------------------------- the portal


@pytest.fixture
def year_portal(year_app):
    from fastapi.testclient import TestClient

    from shanhai.portal.app import create_app
    from tests.portal_support import Clock, PortalEnv

    clock = Clock(ASSESSED)
    return PortalEnv(app=year_app, client=TestClient(create_app(year_app, clock=clock)), clock=clock,
                     database_url=year_app.database_url)


def test_the_portal_assessment_page_shows_the_classes_bands_charts_and_evidence(year_portal):
    anonymous = year_portal.fresh_client().get("/assessment", follow_redirects=False)
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["location"]
    for client in (year_portal.coordinator(), year_portal.supervisor()):
        page = client.get("/assessment")  # the latest closed year at 2026-04-10: 2025
        assert page.status_code == 200, page.text
        text = page.text
        assert "2025 年度考核" in text and "另行制订" in text and "临时结果" not in text
        for unit, (_, score, band, rank) in EXPECTED.items():
            assert unit in text and f"{score:g} 分 · {band} · 类内第 {rank} 名" in text
        assert text.count('src="data:image/png;base64,') >= 3  # breakdown, lights, burn-up
        occurrence = year_portal.occurrence("aid-funds", "泰顺-鹿城", "2025")
        assert f'href="/occurrences/{occurrence}"' in text
    provisional = year_portal.coordinator().get("/assessment?year=2026")
    assert provisional.status_code == 200 and "临时结果" in provisional.text


def test_the_portal_downloads_carry_the_same_numbers(year_portal):
    client = year_portal.coordinator()
    xlsx = client.get("/assessment/2025.xlsx")
    assert xlsx.status_code == 200
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert {row[2]: (row[1], row[3], row[4], row[0])
            for row in wb["总览"].iter_rows(min_row=5, values_only=True)} == EXPECTED
    pdf = client.get("/assessment/2025.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_unit_page_shows_its_own_line_and_a_quantity_occurrence_its_burn_up(year_portal):
    client = year_portal.coordinator()
    lucheng = client.get("/units/lucheng").text
    assert "2025 年度考核（本单位）" in lucheng and "63</b> 分 · 合格 · 经济强区类内第 1 名" in lucheng
    assert "泰顺县" not in lucheng.split("2025 年度考核（本单位）")[1].split("</section>")[0]
    occurrence = year_portal.occurrence("industrial-investment", "全市", "2025")
    page = client.get(f"/occurrences/{occurrence}").text
    assert "序时进度" in page and 'src="data:image/png;base64,' in page
    plan = client.get(f"/occurrences/{year_portal.occurrence('next-year-plan', '泰顺-鹿城', '2025')}").text
    assert "序时进度" not in plan


# --------------------------------------------------------------------------- versions and messages


def assessment_messages(app) -> dict[str, tuple[str, str]]:
    from sqlalchemy import select

    from shanhai.models.tables import OutboxMessage

    with app.session() as session:
        rows = session.execute(select(OutboxMessage).where(OutboxMessage.kind == "assessment")
                               .order_by(OutboxMessage.id)).scalars().all()
        return {m.dedup_key: (m.recipient, m.title, m.body) for m in rows}


def test_publishing_stores_version_1_once_and_a_late_record_makes_version_2_saying_what_changed(year_app):
    import json as _json

    from sqlmodel import select

    from shanhai.models.assessment_versions import AssessmentVersion
    from shanhai.notifications.assessment_messages import publish_assessment

    first = publish_assessment(year_app, as_of=ASSESSED)
    assert (first.stored.year, first.stored.version, first.stored.created, first.queued) == (2025, 1, True, 6)
    messages = assessment_messages(year_app)
    supervisor = messages["assessment:2025:v1:supervisor"]
    assert supervisor[0] == "市山海协作工程工作领导小组" and supervisor[1] == "【山海协作】2025年度考核结果（第1版）"
    assert "1. 泰顺县 90 分 优秀" in supervisor[2] and "另行制订" in supervisor[2]
    assert "/assessment?year=2025" in supervisor[2]
    lucheng = messages["assessment:2025:v1:lucheng"]
    assert lucheng[1].endswith("本单位 63 分") and "经济强区类内第 1 名" in lucheng[2]
    assert "年度帮扶资金到位（泰顺-鹿城）0/25" in lucheng[2] and "/units/lucheng?key=" in lucheng[2]
    assert "年度帮扶资金到位" not in messages["assessment:2025:v1:taishun"][2]
    assert not re.search(r"[a-z]+-[a-z]+（", lucheng[2]), "duties by their titles, never their ids"

    again = publish_assessment(year_app, as_of=at(2026, 4, 20))
    assert (again.stored.version, again.stored.created, again.queued) == (1, False, 0)
    assert len(assessment_messages(year_app)) == 6

    # 补录: 永嘉-瓯海's second joint meeting of 2025-11-01, entered after the year closed
    make_record(year_app, "joint-meeting", "永嘉-瓯海", "2025-11-01", as_of=at(2026, 5, 2), period="2025")
    second = publish_assessment(year_app, as_of=at(2026, 5, 2))
    assert (second.stored.version, second.stored.created, second.queued) == (2, True, 6)
    changes = second.stored.changes
    assert "永嘉县：得分 25 → 100，档次 不合格 → 优秀，类内名次 2 → 1" in changes
    assert "永嘉县：联席会议（永嘉-瓯海）未完成（已关闭） 0 分 → 按期完成 75 分" in changes
    assert "泰顺县：类内名次 1 → 2" in changes  # its own numbers did not change, its rank did
    assert [c for c in changes if c.startswith("鹿城区")] == ["鹿城区：类内名次 1 → 2"]
    v2_summary = assessment_messages(year_app)["assessment:2025:v2:supervisor"][2]
    assert "与上一版相比的变化" in v2_summary and "永嘉县：得分 25 → 100" in v2_summary
    with year_app.session() as session:
        versions = session.exec(select(AssessmentVersion).order_by(AssessmentVersion.version)).all()
        first_units = {u["unit"]: u["score"] for u in _json.loads(versions[0].units)}
    assert [v.version for v in versions] == [1, 2] and first_units["永嘉县"] == 25.0  # v1 never rewritten


def test_an_open_year_is_never_published(year_app):
    from shanhai.notifications.assessment_messages import publish_assessment

    with pytest.raises(ValueError, match="2026 年度尚未关闭"):
        publish_assessment(year_app, as_of=ASSESSED, year=2026)
    assert assessment_messages(year_app) == {}

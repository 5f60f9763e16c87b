"""The document as it lives in 2027: one reading of 每年, the coordinator's overrides (overrides.yaml), the
units after the 2019 institutional reform, and the duties the catalogue used to lack (issue 15)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from shanhai.models.catalogue import CatalogueError, load_catalogue
from shanhai.models.occurrences import expected_occurrences
from shanhai.models.requirement import parse_requirement
from shanhai.models.tables import Occurrence
from shanhai.models.working_days import default_calendar
from tests.conftest import (
    REAL_CATALOGUE,
    UNITS,
    at,
    joint_meeting,
    line_of,
    make_app,
    make_catalogue,
    make_obligation,
    make_record,
    next_year_plan,
    run_cli,
    status_of,
    write_yaml,
)

SOURCE = "市山海协作工程工作领导小组 2027 年工作要点"


def real_copy(tmp_path: Path) -> Path:
    """The document's catalogue, copied so that a test may add an override or a second document."""
    directory = tmp_path / "calendar"
    shutil.copytree(REAL_CATALOGUE, directory, ignore=shutil.ignore_patterns("source"))
    return directory


def occurrences(directory: Path, through_year: int = 2027):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 2027 is provisional: said loudly elsewhere
        cat = load_catalogue(directory)
        return expected_occurrences(cat, default_calendar(directory), through_year=through_year)


def periods(occs, obligation: str, scope: str) -> list[str]:
    return [o.period for o in occs if o.obligation_id == obligation and o.scope == scope]


def with_overrides(directory: Path, text: str) -> Path:
    path = directory / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- one reading, applied in 2027


def test_2027_holds_every_yearly_duty_once_and_the_2020_targets_not_at_all():
    occs = [o for o in occurrences(REAL_CATALOGUE) if o.period == "2027"]
    by_duty: dict[str, int] = {}
    for o in occs:
        by_duty[o.obligation_id] = by_duty.get(o.obligation_id, 0) + 1
    # 二(一): the matchmaking meeting recurs like the 40亿 target in the same sentence (both "每年")
    assert by_duty["matchmaking-meeting"] == 5 and by_duty["industrial-investment"] == 1
    # "2020年前…每年" ended with 2020
    assert "income-projects" not in by_duty and "park-investment-plan" not in by_duty
    # the duties the catalogue lacked: the year's plan (全市), and one 专报 line per 受援县
    assert by_duty["annual-work-plan"] == 1 and by_duty["special-report"] == 5
    assert sum(by_duty.values()) == len(occs) == 60


def test_the_work_conference_is_due_early_in_the_year_after_the_plan():
    occs = {(o.obligation_id, o.period): o for o in occurrences(REAL_CATALOGUE)}
    conference, plan = occs[("work-conference", "2027")], occs[("annual-work-plan", "2027")]
    assert plan.due < conference.due and conference.due.month == 4  # not 12-31, no reminder on 12-01
    assert ("work-conference", "2018") not in occs  # the document came out on 2018-12-07


def test_special_reports_are_counted_but_never_reminded(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, REAL_CATALOGUE, sync_at=at(2027, 3, 2))
    make_record(app, "special-report", "文成县", "2027-03-02")
    make_record(app, "special-report", "文成县", "2027-06-15", as_of=at(2027, 6, 15))
    assert status_of(app, "special-report", "文成县", "2027", as_of=at(2027, 6, 15)).progress["done"] == 2
    # no reminder, before, on or after the (nominal) year end
    for when in ("2027-12-01T10:00", "2027-12-31T10:00", "2028-01-04T10:00", "2028-01-11T10:00"):
        with time_machine.travel(at(2028, 2, 1, 10), tick=False):  # remind writes: its --as-of must be past
            sent = run_cli(["remind", "--as-of", when, "--json"], home=tmp_path / "home", database_url=database_url)
        assert sent.exit_code == 0, sent.output
        items = [i for m in json.loads(sent.stdout) for i in m["items"]]
        assert not [i for i in items if i["obligation"] == "special-report"], when
        assert [i for i in items if i["obligation"] == "joint-meeting"] or when < "2027-12", when


# --------------------------------------------------------------------------- overrides.yaml


def test_the_shipped_override_file_is_documented_and_changes_nothing():
    text = (REAL_CATALOGUE / "overrides.yaml").read_text(encoding="utf-8")
    assert "# Examples" in text and "source:" in text
    assert load_catalogue(REAL_CATALOGUE).amendments == {}


def test_end_extend_and_replace_apply_from_their_year(tmp_path):
    directory = real_copy(tmp_path)
    with_overrides(directory, f"""overrides:
  - obligation: matchmaking-meeting
    action: end
    from: 2027
    source: {SOURCE}
    note: 并入全市专题工作会议
  - obligation: income-projects
    action: extend
    from: 2027
    until: 2028
    source: {SOURCE}
  - obligation: joint-meeting
    action: replace
    from: 2027
    changes: {{min_count: 3, due: "11-30"}}
    source: {SOURCE}
""")
    occs = occurrences(directory, through_year=2028)
    assert periods(occs, "matchmaking-meeting", "泰顺-鹿城")[-1] == "2026"
    # taken up again from 2027, not back-filled for 2021-2026 (those years were not in force)
    assert periods(occs, "income-projects", "全市") == ["2018", "2019", "2020", "2027", "2028"]
    meetings = {o.period: o for o in occs if o.obligation_id == "joint-meeting" and o.scope == "泰顺-鹿城"}
    assert (meetings["2026"].requirement.min_count, meetings["2026"].due.isoformat()) == (2, "2026-12-31")
    assert (meetings["2027"].requirement.min_count, meetings["2027"].due.isoformat()) == (3, "2027-11-30")


def test_an_override_is_shown_with_its_source_in_obligations(tmp_path):
    directory = real_copy(tmp_path)
    with_overrides(directory, f"""overrides:
  - obligation: matchmaking-meeting
    action: end
    from: 2028
    source: {SOURCE}
    issued: 2027-02-20
""")
    result = run_cli(["obligations", "--json"], home=tmp_path / "home", catalogue_dir=directory)
    by_id = {i["id"]: i for i in json.loads(result.stdout)}
    meeting = by_id["matchmaking-meeting"]
    assert meeting["in_force_until"] == 2027 and meeting["valid_until"] is None
    assert meeting["source"] == f"温政发〔2018〕26号、{SOURCE}"
    assert meeting["overrides"] == [{"obligation": "matchmaking-meeting", "action": "end", "from": 2028,
                                     "source": SOURCE, "issued": "2027-02-20", "summary": "自2028年起终止"}]
    assert by_id["joint-meeting"]["overrides"] == [] and by_id["joint-meeting"]["source"] == "温政发〔2018〕26号"
    text = run_cli(["obligations"], home=tmp_path / "home", catalogue_dir=directory).output
    assert f"调整 matchmaking-meeting：自2028年起终止（依据：{SOURCE}）" in text
    validated = run_cli(["catalogue", "validate", directory], home=tmp_path / "home")
    assert validated.exit_code == 0 and "调整（overrides.yaml）1 条" in validated.stdout


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ("  - obligation: no-such-duty\n    action: end\n    from: 2027\n    source: 某文件\n",
         "overrides[1].obligation", "未知的事项编号"),
        ("  - obligation: joint-meeting\n    action: stop\n    from: 2027\n    source: 某文件\n",
         "overrides[1].action", "end"),
        ("  - obligation: joint-meeting\n    action: end\n    from: 2027\n",
         "overrides[1].source", "缺少"),
        ("  - obligation: joint-meeting\n    action: replace\n    from: 2027\n    source: 某文件\n"
         "    changes: {due: 2027-11-30}\n", "overrides[1].changes.due", "MM-DD"),
        ("  - obligation: joint-meeting\n    action: replace\n    from: 2027\n    source: 某文件\n"
         "    changes: {kind: one_off}\n", "overrides[1].changes", "不能调整"),
        ("  - obligation: park-plan\n    action: extend\n    from: 2027\n    source: 某文件\n",
         "overrides[1].action", "不能延续"),
        ("  - obligation: joint-meeting\n    action: end\n    from: 2010\n    source: 某文件\n",
         "overrides[1].from", "早于"),
    ],
)
def test_a_bad_override_is_refused_with_its_file_line_and_field(tmp_path, entry, field, words):
    directory = real_copy(tmp_path)
    text = "# 说明\noverrides:\n  - obligation: aid-funds\n    action: end\n    from: 2030\n    source: 某文件\n" + entry
    path = with_overrides(directory, text)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory)
    [problem] = caught.value.problems
    assert (problem.file, problem.field) == (str(path), field), problem
    assert problem.line is not None and problem.line >= line_of(text, entry.splitlines()[0].strip()), problem
    assert words in problem.message, problem
    result = run_cli(["catalogue", "validate"], home=tmp_path / "home", catalogue_dir=directory)
    assert result.exit_code == 1 and f"{path}:{problem.line}" in result.output


def test_an_override_changes_stored_future_occurrences_and_never_history(tmp_path, database_url):
    directory = make_catalogue(tmp_path / "calendar", [next_year_plan(valid_from=2024)])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 1, 5))
    write_yaml(directory / "overrides.yaml", {"overrides": [
        {"obligation": "next-year-plan", "action": "replace", "from": 2025, "changes": {"due": "09-30"},
         "source": SOURCE},
    ]})
    edited = make_app(tmp_path / "home", database_url, directory, now=at(2026, 1, 5))
    report = edited.sync(as_of=at(2026, 1, 5))
    assert report.obligations_changed == 1  # audited as a change of the duty
    with edited.session() as s:
        rows = s.execute(select(Occurrence.period, Occurrence.due).where(Occurrence.scope == "泰顺-鹿城")).all()
    dues = {p: d.isoformat() for p, d in rows}
    # 2025 fell due before the real clock's day: it keeps the date of its day
    assert dues == {"2024": "2024-10-31", "2025": "2025-10-31", "2026": "2026-09-30", "2027": "2027-09-30"}
    assert app.catalogue.citation("next-year-plan", 2027) == "测试〔2026〕1号"
    assert edited.catalogue.citation("next-year-plan", 2027) == f"测试〔2026〕1号、{SOURCE}"


# --------------------------------------------------------------------------- a second policy document


def test_a_second_policy_document_loads_beside_the_first_and_can_be_overridden(tmp_path):
    directory = real_copy(tmp_path)
    write_yaml(directory / "wzf-2027-follow-up.yaml", {
        "document": {"id": "wzf-2027-1", "number": "温政办〔2027〕1号", "title": "山海协作后续文件",
                     "issued": "2027-01-15"},
        "obligations": [make_obligation("talent-exchange", "annual_count", title="人才交流", min_count=3,
                                        valid_from=2027, clause="二(一)",
                                        responsible={"lead": ["结对双方"], "co": ["市卫生健康委员会"]})],
    })
    with_overrides(directory, f"overrides:\n  - obligation: talent-exchange\n    action: end\n"
                              f"    from: 2028\n    source: {SOURCE}\n")
    cat = load_catalogue(directory)
    assert cat.obligation_document["talent-exchange"] == "wzf-2027-1"
    assert cat.obligation_document["joint-meeting"] == "wzf-2018-26"
    occs = occurrences(directory, through_year=2028)
    assert periods(occs, "talent-exchange", "泰顺-鹿城") == ["2027"]
    assert cat.citation("talent-exchange", 2027) == "温政办〔2027〕1号"
    listed = run_cli(["obligations", "--json"], home=tmp_path / "home", catalogue_dir=directory)
    assert {i["document"] for i in json.loads(listed.stdout)} == {"wzf-2018-26", "wzf-2027-1"}


# --------------------------------------------------------------------------- units after the 2019 reform


def test_merged_units_become_one_successor_and_history_keeps_the_old_names():
    occs = {(o.obligation_id, o.period): o for o in occurrences(REAL_CATALOGUE) if o.scope == "全市"}
    old = occs[("midyear-inspection", "2018")].requirement
    assert {"市国土资源局", "市规划局", "市文广新局", "市旅游局"} <= set(old.copied)
    new = occs[("midyear-inspection", "2027")].requirement
    assert new.copied == ("市发改委", "市自然资源和规划局", "市文化广电旅游局")  # once each, in order
    assert occs[("industrial-investment", "2027")].requirement.responsible.count("市农业农村局") == 1
    assert "市经济和信息化局" in occs[("industrial-investment", "2027")].requirement.responsible


def test_messages_go_to_the_successor_once_and_never_to_a_merged_body(cli):
    # 2026-08-31 (Monday) is the mid-year inspection's due date: the co-responsible units are copied
    result = cli("remind", "--as-of", "2026-08-31T10:00", "--json")
    assert result.exit_code == 0, result.output
    messages = json.loads(result.stdout)
    recipients = [m["recipient"] for m in messages]
    for gone in ("市国土资源局", "市规划局", "市文广新局", "市旅游局", "市农业局", "市卫计委", "市经信委"):
        assert gone not in recipients, gone
    merged = [m for m in messages if m["recipient"] == "市自然资源和规划局"]
    assert len(merged) == 1
    inspection = [i for i in merged[0]["items"] if i["obligation"] == "midyear-inspection"]
    assert len(inspection) == 1 and inspection[0]["due"] == "2026-08-31"


def test_stored_future_occurrences_move_to_the_successor_when_units_change(tmp_path, database_url):
    units = [*UNITS, {"name": "市卫生健康委员会", "code": "shi-weijianwei", "kind": "department", "aliases": []}]
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting(responsible={"lead": ["结对双方"],
                                                                                 "co": ["市教育局"]})],
                               units=units)
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 3, 2))
    merged_units = [
        {**u, "succeeded_by": {"how": "renamed", "unit": "市卫生健康委员会", "from": "2026-06-01",
                               "source": "某机构改革方案"}} if u["name"] == "市教育局" else u
        for u in units
    ]
    make_catalogue(directory, [joint_meeting(responsible={"lead": ["结对双方"], "co": ["市教育局"]})],
                   units=merged_units)
    make_app(tmp_path / "home", database_url, directory, now=at(2026, 3, 2)).sync(as_of=at(2026, 3, 2))
    with app.session() as s:
        rows = s.execute(select(Occurrence.period, Occurrence.requirement)
                         .where(Occurrence.scope == "泰顺-鹿城", Occurrence.obligation_id == "joint-meeting")).all()
    copied = {p: parse_requirement(r).copied for p, r in rows}
    assert copied["2025"] == ("市教育局",)  # history: the name of its day
    assert copied["2026"] == copied["2027"] == ("市卫生健康委员会",)


def test_a_succession_to_an_unknown_unit_is_refused_with_its_line(tmp_path):
    units = [{**u, "succeeded_by": {"how": "merged", "unit": "市不存在局", "from": "2019-03-01", "source": "某方案"}}
             if u["name"] == "市教育局" else u for u in UNITS]
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()], units=units)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory)
    [problem] = caught.value.problems
    assert problem.field.endswith("succeeded_by.unit") and "市不存在局" in problem.message
    text = (directory / "units.yaml").read_text(encoding="utf-8")
    assert problem.line == line_of(text, "unit: 市不存在局")


def test_units_shows_each_units_history_and_channels(tmp_path):
    listed = run_cli(["units", "--as-of", "2027-01-04", "--json"], home=tmp_path / "home")
    assert listed.exit_code == 0, listed.output
    by_name = {i["name"]: i for i in json.loads(listed.stdout)}
    old = by_name["市规划局"]
    assert (old["current"], old["carried_by"]) == (False, "市自然资源和规划局")
    assert old["succeeded_by"]["how"] == "merged" and "机构改革" in old["succeeded_by"]["source"]
    assert {p["name"] for p in by_name["市自然资源和规划局"]["predecessors"]} == {"市国土资源局", "市规划局"}
    assert by_name["市招商局（经合办）"]["current"] and by_name["市招商局（经合办）"]["succeeded_by"] is None
    before = {i["name"]: i for i in json.loads(run_cli(["units", "--as-of", "2018-12-10", "--json"],
                                                        home=tmp_path / "home").stdout)}
    assert before["市规划局"]["current"] and before["市规划局"]["carried_by"] == "市规划局"
    text = run_cli(["units", "--as-of", "2027-01-04"], home=tmp_path / "home").output
    assert "2019-03-01起由市国土资源局、市规划局合并组建" in text and "已由市自然资源和规划局承接" in text


def test_the_occurrence_page_shows_the_duty_as_overridden_with_its_source(tmp_path, database_url):
    from tests.portal_support import make_portal

    write_yaml(tmp_path / "cat" / "overrides.yaml", {"overrides": [
        {"obligation": "next-year-plan", "action": "replace", "from": 2026, "issued": "2026-02-20",
         "changes": {"evidence": "领导小组审定的年度合作计划"}, "source": SOURCE, "note": "须经领导小组审定"},
    ]})
    portal = make_portal(tmp_path, database_url)
    page = portal.coordinator().get(f"/occurrences/{portal.occurrence()}")
    assert page.status_code == 200
    text = page.text
    assert f'<dd class="citation">测试〔2026〕1号、{SOURCE}</dd>' in text
    assert f"自2026年起调整：evidence（依据：{SOURCE}，2026-02-20）：须经领导小组审定" in text
    assert "佐证材料要求：领导小组审定的年度合作计划" in text  # the duty as it reads in its year
    earlier = portal.coordinator().get(f"/occurrences/{portal.occurrence(period='2025')}").text
    assert '<dd class="citation">测试〔2026〕1号</dd>' in earlier and "自2026年起调整" not in earlier


def test_a_record_follows_the_years_an_override_puts_in_force(tmp_path, database_url):
    directory = make_catalogue(tmp_path / "calendar", [next_year_plan(valid_from=2024, valid_until=2024)])
    write_yaml(directory / "overrides.yaml", {"overrides": [
        {"obligation": "next-year-plan", "action": "extend", "from": 2026, "source": SOURCE},
    ]})
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 9, 1))
    assert make_record(app, "next-year-plan", "泰顺-鹿城", "2026-09-01")  # taken up again in 2026
    with pytest.raises(Exception, match="不在事项“下一年度合作计划备案”的有效期内（2024—长期）"):
        make_record(app, "next-year-plan", "泰顺-鹿城", "2025-09-01")  # 2025 was not in force

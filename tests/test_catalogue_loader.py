"""The catalogue loader: every error names its file, line and field; loading is all-or-nothing;
a second policy document loads beside the first; `shanhai catalogue validate` reports them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from shanhai.models.catalogue import CatalogueError, load_catalogue
from tests.conftest import (
    REAL_CATALOGUE,
    joint_meeting,
    line_of,
    make_catalogue,
    make_obligation,
    next_year_plan,
    run_cli,
    write_yaml,
)

HEADER = "document: {id: test-doc, number: 测试〔2026〕1号, title: 测试文件, issued: 2024-01-01}\n"


def obligation_text(**lines: str) -> str:
    """One obligation as literal YAML, so that a test knows the line of each field."""
    fields = {
        "title": "下一年度合作计划备案",
        "clause": "三(二)",
        "kind": "annual_deadline",
        "scope": "pairing",
        "due": '"10-31"',
        "valid_from": "2025",
        "responsible": "{lead: [结对双方], co: [市教育局]}",
    }
    fields.update(lines)
    body = "".join(f"    {k}: {v}\n" for k, v in fields.items() if v is not None)
    return "  - id: next-year-plan\n" + body


def catalogue_with(tmp_path: Path, policy_text: str, name: str = "policy.yaml") -> tuple[Path, Path]:
    """The fixture units and pairings, with ``policy_text`` as the document file."""
    directory = make_catalogue(tmp_path / "calendar")
    (directory / "policy.yaml").unlink()
    path = directory / name
    path.write_text(policy_text, encoding="utf-8")
    return directory, path


def problems_of(directory: Path):
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory)
    return caught.value.problems


def only_problem(directory: Path):
    problems = problems_of(directory)
    assert len(problems) == 1, problems
    return problems[0]


def test_it_loads_a_valid_fixture_catalogue(tmp_path):
    cat = load_catalogue(make_catalogue(tmp_path / "calendar", [joint_meeting(), next_year_plan()]))
    assert set(cat.obligations) == {"joint-meeting", "next-year-plan"}
    assert set(cat.pairings) == {"泰顺-鹿城", "永嘉-瓯海"}
    assert cat.roles.coordinator == "市招商局（经合办）"
    assert cat.unit("市招商局〈经合办〉").name == "市招商局（经合办）"  # an alias resolves


@pytest.mark.parametrize(
    "bad_line",
    [
        "   clause: 三(二)",  # one space short: breaks the block
        "\tclause: 三(二)",  # a tab
    ],
    ids=["indentation", "tab"],
)
def test_it_reports_malformed_yaml_with_file_and_line(tmp_path, bad_line):
    text = HEADER + "obligations:\n  - id: a\n    title: A\n" + bad_line + "\n    kind: one_off\n"
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert problem.file == str(path)
    assert problem.line == line_of(text, "clause: 三(二)")
    assert problem.field == "(syntax)"
    assert str(problem).startswith(f"{path}:{problem.line}: ")


def test_it_says_what_is_wrong_in_malformed_yaml(tmp_path):
    text = HEADER + "obligations:\n  - id: a\n    title: [unclosed\n    clause: x\n"
    directory, _ = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert "expected ',' or ']'" in problem.message
    assert problem.line in (line_of(text, "[unclosed"), line_of(text, "clause: x"))


def test_it_reports_an_impossible_date_instead_of_crashing(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(kind="one_off", due="2026-02-30")
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, "2026-02-30"))
    assert problem.field == "obligations[0].due"
    assert "2026-02-30" in problem.message


def test_it_names_an_unknown_unit_in_responsible(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(responsible=None) + (
        "    responsible:\n"
        "      lead: [结对双方]\n"
        "      co: [市教育局, 市火星局]\n"
    )
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, "市火星局"))
    assert problem.field == "obligations[0].responsible.co[1]"
    assert "市火星局" in problem.message


def test_it_names_a_bad_kind(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(kind="quarterly")
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, "kind: quarterly"))
    assert problem.field == "obligations[0].kind"
    assert "annual_deadline" in problem.message  # says what is allowed


def test_it_names_a_missing_due_date_at_its_obligation(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(due=None)
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, "- id: next-year-plan"))
    assert problem.field == "obligations[0].due"


def test_it_refuses_an_unquoted_iso_date_for_a_recurring_duty(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(due="2026-10-31")
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert problem.field == "obligations[0].due"
    assert "MM-DD" in problem.message


def test_it_names_a_plan_total_that_does_not_add_up(tmp_path):
    park = "泰顺-鹿城生态旅游文化产业园"
    text = HEADER + (
        "plans:\n"
        "  stated_total_yi: 3.5\n"
        "  rows:\n"
        f"    - {{park: {park}, year: 2026, kind: government, projects: 5, planned_total: 29000, planned_completion: 3000}}\n"
        f"    - {{park: {park}, year: 2026, kind: attraction, projects: 1, planned_total: 1000, planned_completion: 500}}\n"
    )
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, "stated_total_yi"))
    assert problem.field == "plans.stated_total_yi"
    assert "3.0000亿元" in problem.message and "3.5" in problem.message


def test_it_names_a_plan_row_for_an_unknown_park(tmp_path):
    text = HEADER + (
        "plans:\n"
        "  stated_total_yi: 0.1\n"
        "  rows:\n"
        "    - {park: 火星园, year: 2026, kind: government, projects: 1, planned_total: 1000, planned_completion: 500}\n"
    )
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert problem.line == line_of(text, "火星园")
    assert problem.field == "plans.rows[0].park"


def test_it_names_a_pairing_with_an_unknown_partner(tmp_path):
    directory = make_catalogue(
        tmp_path / "calendar",
        [joint_meeting()],
        pairings=[
            {"name": "泰顺-鹿城", "county": "泰顺县", "partner": "鹿城区", "valid_from": 2018},
            {"name": "泰顺-火星", "county": "泰顺县", "partner": "火星区", "valid_from": 2022},
        ],
    )
    text = (directory / "pairings.yaml").read_text(encoding="utf-8")
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(directory / "pairings.yaml"), line_of(text, "火星区"))
    assert problem.field == "pairings[1].partner"


def test_it_reports_every_error_of_every_file_at_once(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(kind="quarterly") + obligation_text(scope="province")
    directory, path = catalogue_with(tmp_path, text)
    broken = directory / "second.yaml"
    broken.write_text("document: {id: other\n", encoding="utf-8")
    problems = problems_of(directory)
    where = {(p.file, p.field) for p in problems}
    assert (str(path), "obligations[0].kind") in where
    assert (str(path), "obligations[1].scope") in where
    assert (str(broken), "(syntax)") in where
    assert {p.line for p in problems if p.file == str(path)} == {
        line_of(text, "kind: quarterly"),
        line_of(text, "scope: province"),
    }


def test_a_second_document_file_beside_the_first_loads(tmp_path):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    write_yaml(
        directory / "second-policy.yaml",
        {
            "document": {"id": "second-doc", "number": "测试〔2026〕2号", "title": "第二份文件",
                         "issued": "2026-03-01"},
            "obligations": [make_obligation("talent-exchange", "annual_count", title="人才交流", min_count=3)],
        },
    )
    cat = load_catalogue(directory)
    assert set(cat.obligations) == {"joint-meeting", "talent-exchange"}
    assert cat.obligation_document == {"joint-meeting": "test-doc", "talent-exchange": "second-doc"}
    assert set(cat.documents) == {"test-doc", "second-doc"}


def test_a_second_document_may_not_reuse_an_obligation_id(tmp_path):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    second = directory / "second-policy.yaml"
    text = (
        "document: {id: second-doc, number: 测试〔2026〕2号, title: 第二份文件, issued: 2026-03-01}\n"
        "obligations:\n"
        "  - id: joint-meeting\n"
        "    title: 又一个联席会议\n"
        "    clause: 一\n"
        "    kind: annual_count\n"
        "    min_count: 1\n"
        "    scope: pairing\n"
        '    due: "12-31"\n'
        "    valid_from: 2026\n"
        "    responsible: {lead: [结对双方]}\n"
    )
    second.write_text(text, encoding="utf-8")
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(second), line_of(text, "id: joint-meeting"))
    assert "joint-meeting" in problem.message


# --------------------------------------------------------------------------- shanhai catalogue validate


def test_validate_exits_non_zero_and_prints_every_error(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text(kind="quarterly") + obligation_text(scope="province")
    directory, path = catalogue_with(tmp_path, text)
    result = run_cli(["catalogue", "validate", directory], home=tmp_path / "home")
    assert result.exit_code == 1
    assert f"{path}:{line_of(text, 'kind: quarterly')}: obligations[0].kind" in result.stderr
    assert f"{path}:{line_of(text, 'scope: province')}: obligations[1].scope" in result.stderr
    assert "2 处错误" in result.stderr
    assert "通过" not in result.stdout


def test_validate_reports_a_holiday_file_problem_with_its_line(tmp_path):
    directory = make_catalogue(
        tmp_path / "calendar", [joint_meeting()],
        holidays={2027: {"off": ["2027-01-01"], "workdays": ["2027-01-06"]}},
    )
    text = (directory / "holidays.yaml").read_text(encoding="utf-8")
    result = run_cli(["catalogue", "validate", directory], home=tmp_path / "home")
    assert result.exit_code == 1
    assert "holidays.yaml" in result.stderr
    assert f"holidays.yaml:{line_of(text, '2027-01-06')}: holidays.2027.workdays[0]" in result.stderr
    assert "2027-01-06" in result.stderr


def test_validate_passes_the_documents_catalogue_and_counts_it(tmp_path):
    result = run_cli(["catalogue", "validate", REAL_CATALOGUE], home=tmp_path / "home")
    assert result.exit_code == 0, result.output
    assert "5 对结对" in result.stdout
    assert "附件1 30 行" in result.stdout


def test_validate_of_a_single_document_file_uses_the_units_beside_it(tmp_path):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    result = run_cli(["catalogue", "validate", directory / "policy.yaml"], home=tmp_path / "home")
    assert result.exit_code == 0, result.output
    assert "1 项事项" in result.stdout


def test_validate_names_a_missing_path(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_cli(["catalogue", "validate", missing], home=tmp_path / "home")
    assert result.exit_code == 1
    assert str(missing) in result.stderr


@pytest.mark.parametrize("due", ["02-30", "02-29", "04-31"])
def test_a_due_date_that_does_not_exist_every_year_is_refused_with_its_line(tmp_path, due):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting(due=due)])
    with pytest.raises(CatalogueError) as err:
        load_catalogue(directory)
    text = (directory / "policy.yaml").read_text(encoding="utf-8")
    problem = err.value.problems[0]
    assert problem.field.endswith("due") and problem.line == line_of(text, "due:")


@pytest.mark.parametrize(
    ("reminders", "field"),
    [
        ("      before_working_days: [3, 0]\n", "obligations[0].reminders.before_working_days[1]"),
        ("      repeat_every_days: weekly\n", "obligations[0].reminders.repeat_every_days"),
        ("      before_days: [3]\n", "obligations[0].reminders.before_days"),
    ],
)
def test_a_bad_reminder_override_is_located_at_its_key(tmp_path, reminders, field):
    text = HEADER + "obligations:\n" + obligation_text() + "    reminders:\n" + reminders
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line, problem.field) == (str(path), line_of(text, reminders.strip()), field)


def test_a_key_written_twice_is_an_error_with_its_line(tmp_path):
    text = HEADER + "obligations:\n" + obligation_text() + '    due: "11-30"\n'
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, '"11-30"'))
    assert "twice" in problem.message


def test_a_yaml_bomb_is_refused_before_it_is_expanded(tmp_path):
    """9**9 values once expanded: refused by counting, not by building them (the suite's timeout guards)."""
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    directory, _ = catalogue_with(tmp_path, bomb)
    problem = only_problem(directory)
    assert "aliases" in problem.message


@pytest.mark.parametrize(
    ("tail", "field"),
    [
        ("extra: &x {b: *x}\n", "extra.b"),
        ("units: &a [*a]\n", "units[0]"),
        ("units: &a\n  - 泰顺县\n  - *a\n", "units[1]"),
        ("extra: &x {*x: 1}\n", "extra.?"),
    ],
    ids=["mapping", "flow-sequence", "block-sequence", "key"],
)
def test_validate_names_a_recursive_alias_with_its_file_and_line(tmp_path, tail, field):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    path = directory / "policy.yaml"
    text = path.read_text(encoding="utf-8") + tail
    path.write_text(text, encoding="utf-8")
    result = run_cli(["catalogue", "validate", directory], home=tmp_path / "home")
    assert result.exit_code == 1
    assert "内部错误" not in result.output and "RecursionError" not in result.output
    alias = tail.split("*")[1][0]
    assert f"{path}:{line_of(text, '*' + alias)}: {field}: 递归别名" in result.stderr, result.stderr
    assert f"&{alias}（第 {line_of(text, '&' + alias)} 行）" in result.stderr


def test_a_shared_alias_is_not_mistaken_for_a_recursive_one(tmp_path):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    path = directory / "policy.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "x-shared: &s {a: 1}\nx-uses: [*s, {b: *s}]\n", "utf-8")
    problems = problems_of(directory)
    assert all("递归别名" not in p.message for p in problems)  # only the unknown keys are refused
    assert {p.field.split(".")[0].split("[")[0] for p in problems} == {"x-shared", "x-uses"}


def test_a_nesting_as_deep_as_the_parser_allows_does_not_exhaust_the_stack(tmp_path):
    directory = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    path = directory / "policy.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "deep: " + "[" * 999 + "]" * 999 + "\n", "utf-8")
    result = run_cli(["catalogue", "validate", directory], home=tmp_path / "home")
    assert result.exit_code == 1
    assert "内部错误" not in result.output and "RecursionError" not in result.output
    assert f"{path}:{line_of(path.read_text(encoding='utf-8'), 'deep:')}: deep" in result.stderr


@pytest.mark.parametrize(
    ("lines", "field", "chinese"),
    [
        ({"title": None}, "obligations[0].title", "缺少此项"),
        ({"kind": "quarterly"}, "obligations[0].kind", "应为 "),
        ({"oops": "1"}, "obligations[0].oops", "不认识的字段"),
        ({"valid_until": "2024"}, "obligations[0].valid_until", "早于 valid_from"),
        ({"due": '"13-01"'}, "obligations[0].due", "须写加引号的"),
        ({"reminders": "{before_calendar_days: [7, 7]}"}, "obligations[0].reminders.before_calendar_days", "有重复"),
        ({"responsible": "{lead: [市火星局]}"}, "obligations[0].responsible.lead[0]", "未知的单位"),
    ],
    ids=["missing", "literal", "unknown-key", "model-rule", "due", "ladder", "assembly"],
)
def test_every_problem_is_worded_chinese_first(tmp_path, lines, field, chinese):
    directory, _ = catalogue_with(tmp_path, HEADER + "obligations:\n" + obligation_text(**lines))
    problem = only_problem(directory)
    assert problem.field == field
    assert problem.message.startswith(chinese), problem.message


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("99999999999999999999999", "应不大于 100000"),
        ("yes", "应为整数"),
        ('"2"', "应为整数"),
        ("2.0", "应为整数"),
        ("0", "应不小于 1"),
    ],
)
def test_min_count_is_a_strict_bounded_whole_number_located_at_its_line(tmp_path, value, said):
    text = HEADER + "obligations:\n" + obligation_text(kind="annual_count", min_count=value)
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, f"min_count: {value}"))
    assert problem.field == "obligations[0].min_count"
    assert said in problem.message


def test_a_pace_milestone_above_its_target_is_refused_at_its_line(tmp_path):
    pace = '\n      - {by: "06-30", count: 1}\n      - {by: "09-30", count: 3}'
    text = HEADER + "obligations:\n" + obligation_text(kind="annual_count", min_count="2", pace=pace)
    directory, path = catalogue_with(tmp_path, text)
    problem = only_problem(directory)
    assert (problem.file, problem.line) == (str(path), line_of(text, "count: 3"))
    assert problem.field == "obligations[0].pace[1].count"
    assert "超过全年目标 2" in problem.message


def test_a_pace_milestone_count_is_strict_too(tmp_path):
    pace = '\n      - {by: "06-30", count: yes}'
    text = HEADER + "obligations:\n" + obligation_text(kind="annual_count", min_count="2", pace=pace)
    directory, path = catalogue_with(tmp_path, text)
    problems = problems_of(directory)
    assert any(p.line == line_of(text, "count: yes") and p.field == "obligations[0].pace[0].count"
               and "应为整数" in p.message for p in problems), problems

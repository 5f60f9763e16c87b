"""`shanhai holidays`: a year and its source, parsing a notice, importing it into holidays.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from shanhai.models.holiday_file import load_holiday_file, save_year, with_year
from shanhai.models.holiday_notice import read_notice
from shanhai.models.holiday_year import YearArrangement
from tests.conftest import REAL_CATALOGUE, run_cli

NOTICES = Path(__file__).parent / "notices"

# MADE-UP 2027 arrangement in the notice's wording (weekdays and lunar dates are right for 2027); it
# is not the State Council's 2027 notice, which has not been published. Only for the import path.
FAKE_2027_NOTICE = """\
国务院办公厅关于2027年部分节假日安排的通知
（测试用虚构文本，并非国务院办公厅的通知 / made-up test text, not the State Council's notice）
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月5日（农历除夕、周五）至12日（农历正月初七、周五）放假调休，共8天。2月20日（周六）上班。
三、清明节：4月3日（周六）至5日（周一）放假，共3天。
四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。4月25日（周日）上班。
五、端午节：6月9日（周三）放假1天，不调休。
六、中秋节：9月15日（周三）放假1天，不调休。
七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。
"""

PROVISIONAL_2027_OFF = [
    "2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-04-05", "2027-05-03",
    "2027-05-04", "2027-06-09", "2027-09-15", "2027-10-01", "2027-10-04", "2027-10-05",
]


def official(year: int) -> tuple[list[str], list[str]]:
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(365 + (year % 4 == 0))]
    off = [d.isoformat() for d in days if d.weekday() < 5 and not chinese_calendar.is_workday(d)]
    on = [d.isoformat() for d in days if d.weekday() >= 5 and chinese_calendar.is_workday(d)]
    return off, on


@pytest.fixture
def catalogue(tmp_path) -> Path:
    """A copy of the real catalogue folder, safe to import into."""
    target = tmp_path / "calendar"
    shutil.copytree(REAL_CATALOGUE, target, ignore=shutil.ignore_patterns("source"))
    return target


@pytest.fixture
def holidays(tmp_path):
    home = tmp_path / "home"

    def invoke(*args, catalogue_dir: Path = REAL_CATALOGUE):
        result = run_cli(["holidays", *args], home=home, catalogue_dir=catalogue_dir)
        assert not home.exists(), "holidays commands must not create a home or a database"
        return result

    return invoke


def write_notice(tmp_path: Path, text: str, name: str = "通知.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- holidays YEAR


def test_2026_is_official_and_lists_its_weekdays_off_and_working_weekends(holidays):
    result = holidays("2026", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    off, on = official(2026)
    assert data == {"year": 2026, "source": "official", "off": off, "on": on, "likely_bridges": []}
    assert "2026-02-14" in data["on"] and "2026-10-07" in data["off"]


def test_2027_is_provisional_with_the_laws_holidays_and_their_makeup_days(holidays):
    result = holidays("2027", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"year": 2027, "source": "provisional", "off": PROVISIONAL_2027_OFF, "on": [],
                                     "likely_bridges": ["2027-05-05", "2027-10-06", "2027-10-07"]}


def test_2027_in_words_says_loudly_that_it_is_provisional_and_how_to_fix_it(holidays):
    result = holidays("2027")
    assert result.exit_code == 0, result.output
    assert "来源 source: provisional" in result.stdout
    assert "临时日历 PROVISIONAL" in result.stdout and "不含国务院办公厅通知的调休" in result.stdout
    assert "shanhai holidays import 通知.txt" in result.stdout
    assert "2027-02-09 周二  春节 补假（正月初一）" in result.stdout


def test_2026_in_words_names_each_holiday(holidays):
    result = holidays("2026")
    assert "来源 source: official" in result.stdout
    assert "2026-02-16 周一  春节" in result.stdout
    assert "2026-02-14 周六  春节" in result.stdout  # a working weekend, listed under 调休上班


def test_a_year_in_the_holiday_file_says_file(holidays, catalogue):
    (catalogue / "holidays.yaml").write_text(
        "holidays:\n  2027:\n    source: 测试用虚构安排\n    off: [2027-01-01, 2027-02-08, 2027-02-09]\n"
        "    workdays: [2027-02-20]\n",
        encoding="utf-8",
    )
    result = holidays("2027", "--json", catalogue_dir=catalogue)
    assert json.loads(result.stdout) == {
        "year": 2027, "source": "file", "off": ["2027-01-01", "2027-02-08", "2027-02-09"], "on": ["2027-02-20"],
        "likely_bridges": [],
    }
    words = holidays("2027", catalogue_dir=catalogue)
    assert "来源 source: file" in words.stdout and "测试用虚构安排" in words.stdout


def test_a_bad_holiday_file_is_reported_with_its_line(holidays, catalogue):
    (catalogue / "holidays.yaml").write_text("holidays:\n  2027:\n    off: [2027-02-30]\n", encoding="utf-8")
    result = holidays("2027", catalogue_dir=catalogue)
    assert result.exit_code == 1
    assert f"{catalogue / 'holidays.yaml'}:3: holidays.2027.off[0]" in result.stderr


def test_without_arguments_it_shows_its_chinese_help(holidays):
    result = holidays()
    assert "shanhai holidays import 通知.txt" in result.output and "parse" in result.output


# --------------------------------------------------------------------------- parse


def test_parse_shows_the_notice_as_the_year_would_be_and_writes_nothing(holidays, catalogue):
    before = (catalogue / "holidays.yaml").read_bytes()
    result = holidays("parse", NOTICES / "2026.txt", "--json", catalogue_dir=catalogue)
    assert result.exit_code == 0, result.output
    off, on = official(2026)
    assert json.loads(result.stdout) == {"year": 2026, "source": "file", "off": off, "on": on, "likely_bridges": []}
    words = holidays("parse", NOTICES / "2023.txt", catalogue_dir=catalogue)
    assert "国办发明电〔2022〕16号" in words.stdout and "第9行 元旦：放假 2022年12月31日、1月1日、1月2日" in words.stdout
    assert (catalogue / "holidays.yaml").read_bytes() == before


def test_parse_refuses_a_bad_notice_naming_the_line(holidays, tmp_path):
    text = (NOTICES / "2026.txt").read_text(encoding="utf-8").replace("共9天", "共8天")
    result = holidays("parse", write_notice(tmp_path, text))
    assert result.exit_code == 1
    assert "无法解析通知" in result.stderr and "第6行" in result.stderr


# --------------------------------------------------------------------------- import


def test_importing_a_notice_for_an_unknown_year_writes_it_keeping_the_header(holidays, catalogue, tmp_path):
    path = catalogue / "holidays.yaml"
    header = path.read_text(encoding="utf-8").split("\nholidays:")[0]
    result = holidays("import", write_notice(tmp_path, FAKE_2027_NOTICE), catalogue_dir=catalogue)
    assert result.exit_code == 0, result.output
    assert "已写入" in result.stdout and "来源现为 file" in result.stdout
    text = path.read_text(encoding="utf-8")
    assert text.startswith(header + "\nholidays:\n  2027:\n")
    assert load_holiday_file(path) == {2027: read_notice(FAKE_2027_NOTICE).arrangement}
    shown = json.loads(holidays("2027", "--json", catalogue_dir=catalogue).stdout)
    assert shown["source"] == "file"
    assert shown["on"] == ["2027-02-20", "2027-04-25", "2027-09-26", "2027-10-09"]
    assert "2027-02-11" in shown["off"] and "2027-10-07" in shown["off"]
    again = holidays("import", write_notice(tmp_path, FAKE_2027_NOTICE), catalogue_dir=catalogue)
    assert again.exit_code == 0 and "未改动" in again.stdout
    assert path.read_text(encoding="utf-8") == text


def test_importing_a_known_year_that_agrees_is_redundant_and_writes_nothing(holidays, catalogue):
    before = (catalogue / "holidays.yaml").read_bytes()
    result = holidays("import", NOTICES / "2026.txt", catalogue_dir=catalogue)
    assert result.exit_code == 0, result.output
    assert "chinese-calendar 已知" in result.stdout and "无需导入" in result.stdout
    assert (catalogue / "holidays.yaml").read_bytes() == before


def test_importing_a_known_year_that_disagrees_is_refused_and_writes_nothing(holidays, catalogue, tmp_path):
    before = (catalogue / "holidays.yaml").read_bytes()
    text = (NOTICES / "2026.txt").read_text(encoding="utf-8").replace("5月9日（周六）上班。", "")
    result = holidays("import", write_notice(tmp_path, text), catalogue_dir=catalogue)
    assert result.exit_code == 1
    assert "不一致" in result.stderr and "2026-05-09" in result.stderr and "未写入" in result.stderr
    assert (catalogue / "holidays.yaml").read_bytes() == before


def test_importing_a_bad_notice_writes_nothing(holidays, catalogue, tmp_path):
    before = (catalogue / "holidays.yaml").read_bytes()
    bad = FAKE_2027_NOTICE.replace("6月9日（周三）", "6月9日（周四）")
    result = holidays("import", write_notice(tmp_path, bad), catalogue_dir=catalogue)
    assert result.exit_code == 1 and "第7行" in result.stderr
    assert (catalogue / "holidays.yaml").read_bytes() == before
    missing = holidays("import", tmp_path / "nope.txt", catalogue_dir=catalogue)
    assert missing.exit_code == 1 and "nope.txt 不存在" in missing.stderr


def test_the_holidays_commands_import_no_prefect_and_open_no_database(tmp_path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from shanhai.cli.main import app\n"
        "for args in (['holidays', '2026', '--json'], ['holidays', 'parse', sys.argv[1], '--json']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('prefect', 'sqlalchemy', 'sqlmodel')]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "SHANHAI_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-c", code, str(NOTICES / "2026.txt")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "home").exists()


# --------------------------------------------------------------------------- writing the holiday file


def arrangement(year: int, *off: str, workdays: tuple[str, ...] = ()) -> YearArrangement:
    return YearArrangement(year, frozenset(map(date.fromisoformat, off)),
                           frozenset(map(date.fromisoformat, workdays)), f"测试 {year}")


def test_with_year_keeps_the_header_and_orders_the_years():
    text = "# 注释一\n# comment two\n\nholidays:\n  2029:\n    off: [2029-01-01]\n"
    years = {2029: arrangement(2029, "2029-01-01")}
    new = with_year(text, years, arrangement(2027, "2027-01-01", workdays=("2027-02-20",)))
    assert new.startswith("# 注释一\n# comment two\n\nholidays:\n  2027:\n")
    assert new.index("  2027:") < new.index("  2029:")
    assert 'source: "测试 2027"' in new and "workdays: [2027-02-20]" in new


def test_save_year_replaces_a_year_and_reads_back(tmp_path):
    path = tmp_path / "holidays.yaml"
    save_year(path, arrangement(2027, "2027-01-01"))
    save_year(path, arrangement(2028, "2028-01-03"))
    save_year(path, arrangement(2027, "2027-01-01", "2027-02-08"))
    assert load_holiday_file(path) == {
        2027: arrangement(2027, "2027-01-01", "2027-02-08"),
        2028: arrangement(2028, "2028-01-03"),
    }
    assert [p.name for p in tmp_path.iterdir()] == ["holidays.yaml"]  # no temporary file left behind


def test_save_year_leaves_a_bad_file_untouched(tmp_path):
    path = tmp_path / "holidays.yaml"
    path.write_text("holidays:\n  2027:\n    off: [2026-01-01]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holidays.2027.off"):
        save_year(path, arrangement(2028, "2028-01-03"))
    assert path.read_text(encoding="utf-8") == "holidays:\n  2027:\n    off: [2026-01-01]\n"


@pytest.mark.parametrize("command", [["2027"], ["import", "NOTICE"]])
def test_a_missing_catalogue_folder_is_named_and_nothing_is_created(tmp_path, command):
    missing = tmp_path / "no-catalogue"
    args = [str(write_notice(tmp_path, FAKE_2027_NOTICE)) if a == "NOTICE" else a for a in command]
    result = run_cli(["holidays", *args], home=tmp_path / "home", catalogue_dir=missing)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"错误 error: SHANHAI_CATALOGUE_DIR：事项目录不存在：{missing}（节假日文件 holidays.yaml 在该目录中）"
    )
    assert not missing.exists()


def test_a_recursive_alias_in_the_holiday_file_is_reported_with_its_line(holidays, catalogue):
    (catalogue / "holidays.yaml").write_text("holidays:\n  2027: &y\n    off: [*y]\n", encoding="utf-8")
    for result in (holidays("2027", catalogue_dir=catalogue),
                   run_cli(["catalogue", "validate", catalogue], home=catalogue.parent / "home2")):
        assert result.exit_code == 1
        assert "RecursionError" not in result.output and "内部错误" not in result.output
        assert f"{catalogue / 'holidays.yaml'}:3: holidays.2027.off[0]: 递归别名" in result.stderr, result.stderr

"""Next year's calendar as a duty of the system itself: the missing notice on the coordinator's board, and the
provisional calendar's likely 调休 days flagged in `holidays YEAR` and beside due dates (issue 15, item 6)."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from shanhai.models.holiday_watch import likely_bridges, may_be_bridged, missing_notice
from shanhai.models.working_days import WorkingCalendar, default_calendar
from tests.conftest import REAL_CATALOGUE, at, make_app, make_catalogue, make_obligation, run_cli, write_yaml
from tests.portal_support import Clock, make_portal

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 2027 is provisional: said loudly elsewhere


@pytest.fixture
def cal() -> WorkingCalendar:
    return default_calendar(REAL_CATALOGUE)


def test_the_days_bridged_in_each_of_the_last_three_years_are_flagged_in_a_provisional_year(cal):
    # 2024-2026: 05-05 and 10-06/10-07 were off every year; in 2027 the law's calendar works them
    assert likely_bridges(cal, 2027) == [date(2027, 5, 5), date(2027, 10, 6), date(2027, 10, 7)]
    assert all(cal.is_working_day(d) for d in likely_bridges(cal, 2027))
    assert likely_bridges(cal, 2026) == []  # a known year has nothing to guess
    assert may_be_bridged(cal, date(2027, 10, 6)) and not may_be_bridged(cal, date(2027, 10, 8))


def test_an_imported_notice_ends_the_guess(tmp_path):
    directory = tmp_path / "calendar"
    shutil.copytree(REAL_CATALOGUE, directory, ignore=shutil.ignore_patterns("source"))
    write_yaml(directory / "holidays.yaml", {"holidays": {2027: {"source": "测试用虚构安排",
                                                                 "off": [date(2027, 10, 6)], "workdays": []}}})
    cal = default_calendar(directory)
    assert likely_bridges(cal, 2027) == []
    assert missing_notice(cal, date(2026, 11, 20)) is None


def test_the_missing_notice_is_said_from_mid_november_with_the_command_that_imports_it(cal):
    assert missing_notice(cal, date(2026, 11, 14)) is None
    line = missing_notice(cal, date(2026, 11, 15))
    assert line is not None and line.startswith("2027 年放假安排未导入")
    assert "shanhai holidays import 通知.txt" in line
    assert missing_notice(cal, date(2027, 3, 1)).startswith("2027 年放假安排未导入")  # still missing in 2027


def test_holidays_2027_lists_the_likely_bridges_in_words_and_json(tmp_path):
    words = run_cli(["holidays", "2027"], home=tmp_path / "home").stdout
    assert "可能调休 3 天" in words and "2027-10-06 周三  可能调休" in words
    data = json.loads(run_cli(["holidays", "2027", "--json"], home=tmp_path / "home").stdout)
    assert data["likely_bridges"] == ["2027-05-05", "2027-10-06", "2027-10-07"]
    assert json.loads(run_cli(["holidays", "2026", "--json"], home=tmp_path / "home").stdout)["likely_bridges"] == []


def test_the_coordinators_board_carries_the_missing_notice_from_mid_november(tmp_path, database_url):
    portal = make_portal(tmp_path, database_url, clock=Clock(at(2026, 11, 20, 10)))
    board = portal.coordinator().get("/").text
    assert "2027 年放假安排未导入" in board and "shanhai holidays import 通知.txt" in board
    assert "2027 年放假安排未导入" not in portal.coordinator().get("/?as_of=2026-11-02").text
    assert "2027 年放假安排未导入" not in portal.supervisor().get("/").text


def test_a_due_date_on_a_likely_bridge_is_flagged_on_the_portal_and_in_status(tmp_path, database_url):
    directory = make_catalogue(tmp_path / "cat", [
        make_obligation("autumn-report", "annual_deadline", title="秋季报告", due="10-06", roll="none"),
    ])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 11, 20))
    text = run_cli(["status", "--obligation", "autumn-report", "--year", "2027", "--as-of", "2027-09-01"],
                   home=tmp_path / "home", database_url=database_url, catalogue_dir=directory).stdout
    assert "2027-10-06（临时日历·可能调休）" in text and "2026-10-06（" not in text
    assert "近三年国务院办公厅通知均在该日放假" in text
    from shanhai.portal.web import calendar_mark

    assert "可能调休" in calendar_mark(app.calendar, date(2027, 10, 6))
    assert "可能调休" not in calendar_mark(app.calendar, date(2027, 10, 8))
    assert calendar_mark(app.calendar, date(2026, 10, 6)) == ""

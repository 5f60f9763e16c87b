"""Working-day arithmetic and where each year comes from (official, file, provisional)."""

from __future__ import annotations

import logging
import re
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shanhai.models import working_days as wd
from shanhai.models.statutory_holidays import provisional_arrangement
from shanhai.models.working_days import (
    HolidayFileError,
    WorkingCalendar,
    YearOverride,
    default_calendar,
    load_holiday_file,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED_FILE = REPO / "calendar" / "holidays.yaml"

# A MADE-UP 2027 arrangement, used only to exercise the holiday-file path.  It is not
# the State Council's 2027 notice (which has not been published).
FAKE_2027_OFF = frozenset(
    [date(2027, 1, 1)] + [date(2027, 2, 6) + timedelta(days=i) for i in range(9)] + [date(2027, 12, 31)]
)
FAKE_2027_WORKDAYS = frozenset([date(2027, 1, 30), date(2027, 2, 20)])
FAKE_2027_YAML = """\
holidays:
  2027:
    source: 测试用虚构安排 (made-up test data)
    off: [2027-01-01, 2027-02-06, 2027-02-07, 2027-02-08, 2027-02-09, 2027-02-10,
          2027-02-11, 2027-02-12, 2027-02-13, 2027-02-14, 2027-12-31]
    workdays:
      - 2027-01-30
      - 2027-02-20
"""

MAKE_UP_DAYS_2026 = [
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
]


def days(start: date, end: date):
    """Every date in [start, end]."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def oracle_is_working(d: date) -> bool:
    """Independent per-day answer for the calendar built by the `cal` fixture."""
    if 2004 <= d.year <= 2026:
        return chinese_calendar.is_workday(d)
    if d.year == 2027:
        return d in FAKE_2027_WORKDAYS or (d.weekday() < 5 and d not in FAKE_2027_OFF)
    return provisional_arrangement(d.year).is_working_day(d)


def oracle_add(d: date, n: int) -> date:
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        d += step
        if oracle_is_working(d):
            remaining -= 1
    return d


def oracle_between(start: date, end: date) -> int:
    if end < start:
        return -oracle_between(end, start)
    return sum(oracle_is_working(x) for x in days(start + timedelta(days=1), end))


@pytest.fixture(scope="module")
def holiday_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalogue") / "holidays.yaml"
    path.write_text(FAKE_2027_YAML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cal(holiday_file) -> WorkingCalendar:
    return WorkingCalendar.from_file(holiday_file)


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which years this process has already warned about."""
    monkeypatch.setattr(wd, "_WARNED_YEARS", set())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- chinese-calendar years


def test_it_treats_feb_14_2026_as_a_working_day(cal):
    d = date(2026, 2, 14)
    assert d.weekday() == 5  # a Saturday...
    assert chinese_calendar.is_workday(d)  # ...that the statutory calendar makes a working day
    assert cal.is_working_day(d)


@pytest.mark.parametrize("d", MAKE_UP_DAYS_2026, ids=str)
def test_it_treats_every_2026_make_up_weekend_day_as_a_working_day(cal, d):
    assert d.weekday() >= 5
    assert chinese_calendar.is_workday(d)
    assert cal.is_working_day(d)


def test_it_treats_the_2026_spring_festival_and_national_day_holidays_as_days_off(cal):
    holidays = days(date(2026, 2, 15), date(2026, 2, 23)) + days(date(2026, 10, 1), date(2026, 10, 7))
    weekdays_among_them = [d for d in holidays if d.weekday() < 5]
    assert weekdays_among_them  # the test would be vacuous otherwise
    for d in holidays:
        assert not chinese_calendar.is_workday(d), d
        assert not cal.is_working_day(d), d
    for d in (date(2026, 2, 13), date(2026, 2, 24), date(2026, 9, 30), date(2026, 10, 8)):
        assert chinese_calendar.is_workday(d), d
        assert cal.is_working_day(d), d


def test_it_steps_over_the_2026_spring_festival(cal):
    assert cal.next_working_day(date(2026, 2, 14)) == date(2026, 2, 24)
    assert cal.previous_working_day(date(2026, 2, 24)) == date(2026, 2, 14)
    assert cal.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert cal.add_working_days(date(2026, 2, 24), -2) == date(2026, 2, 13)
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 24)) == 2
    assert cal.working_days_between(date(2026, 2, 24), date(2026, 2, 13)) == -2
    assert cal.roll(date(2026, 2, 18), "forward") == date(2026, 2, 24)
    assert cal.roll(date(2026, 2, 18), "backward") == date(2026, 2, 14)
    assert cal.roll(date(2026, 2, 18), "none") == date(2026, 2, 18)


def test_it_counts_the_working_days_of_2026_like_chinese_calendar(cal):
    expected = sum(chinese_calendar.is_workday(d) for d in days(date(2026, 1, 1), date(2026, 12, 31)))
    assert cal.working_days_between(date(2025, 12, 31), date(2026, 12, 31)) == expected


def test_it_reports_where_each_year_comes_from(cal):
    assert cal.source(2004) == "official"
    assert cal.source(2026) == "official"
    assert cal.source(2027) == "file"
    assert cal.source(2028) == "provisional"
    assert cal.source(2003) == "provisional"
    assert WorkingCalendar().source(2027) == "provisional"


def test_chinese_calendar_wins_over_the_holiday_file_for_years_it_knows(tmp_path):
    path = write(
        tmp_path,
        "holidays:\n  2026:\n    off: [2026-02-24]\n    workdays: [2026-02-21]\n",
    )
    cal = WorkingCalendar.from_file(path)
    assert cal.source(2026) == "official"
    assert cal.is_working_day(date(2026, 2, 24))  # the file says off; chinese-calendar says working
    assert not cal.is_working_day(date(2026, 2, 21))


# --------------------------------------------------------------------------- holiday-file years


def test_it_reads_2027_from_the_holiday_file_without_warning(holiday_file, fresh_warnings, caplog):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = WorkingCalendar.from_file(holiday_file)
        assert cal.source(2027) == "file"
        assert not cal.is_working_day(date(2027, 1, 1))  # a Friday made a day off
        assert not cal.is_working_day(date(2027, 2, 8))  # a Monday in the fake festival
        assert cal.is_working_day(date(2027, 1, 30))  # a Saturday made a working day
        assert cal.is_working_day(date(2027, 2, 20))
        assert not cal.is_working_day(date(2027, 1, 31))  # an ordinary Sunday
        assert cal.is_working_day(date(2027, 2, 15))  # an ordinary Monday
        assert cal.next_working_day(date(2027, 2, 5)) == date(2027, 2, 15)
        assert cal.previous_working_day(date(2027, 1, 4)) == date(2026, 12, 31)
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert [
        r for r in caplog.records if r.name == "shanhai.working_days" and r.levelno >= logging.WARNING
    ] == []


def test_load_holiday_file_returns_the_year_overrides(holiday_file):
    overrides = load_holiday_file(holiday_file)
    assert overrides == {
        2027: YearOverride(
            year=2027,
            off=FAKE_2027_OFF,
            workdays=FAKE_2027_WORKDAYS,
            source="测试用虚构安排 (made-up test data)",
        )
    }


def test_a_missing_holiday_file_means_no_overrides(tmp_path):
    assert load_holiday_file(tmp_path / "nope.yaml") == {}
    assert default_calendar(tmp_path).source(2027) == "provisional"


def test_an_empty_holiday_mapping_means_no_overrides(tmp_path):
    assert load_holiday_file(write(tmp_path, "holidays: {}\n")) == {}
    assert load_holiday_file(write(tmp_path, "# only comments\n")) == {}


def test_default_calendar_reads_holidays_yaml_in_the_catalogue_dir(holiday_file):
    cal = default_calendar(holiday_file.parent)
    assert cal.source(2027) == "file"
    assert cal.is_working_day(date(2027, 2, 20))


def test_the_shipped_holiday_file_loads_and_invents_no_years():
    overrides = load_holiday_file(SHIPPED_FILE)
    for year, override in overrides.items():
        assert override.source, f"{year} in the shipped file must cite its State Council notice"


def test_the_example_in_the_shipped_holiday_file_is_valid(tmp_path):
    text = SHIPPED_FILE.read_text(encoding="utf-8")
    block = re.search(r"# --- example start\n(.*?)# --- example end", text, re.S)
    assert block, "the shipped file should carry a commented format example"
    example = "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.group(1).splitlines())
    overrides = load_holiday_file(write(tmp_path, example))
    assert list(overrides) == [2099]
    assert overrides[2099].off and overrides[2099].workdays and overrides[2099].source


# --------------------------------------------------------------------------- provisional years


def test_it_uses_the_provisional_calendar_for_2028_and_warns_once(tmp_path, fresh_warnings, caplog):
    caplog.set_level(logging.WARNING, logger="shanhai.working_days")
    catalogue_file = tmp_path / "holidays.yaml"
    with pytest.warns(RuntimeWarning) as caught:
        cal = default_calendar(tmp_path)
        assert not cal.is_working_day(date(2028, 1, 3))  # Monday: 补假 for 元旦 on Saturday 2028-01-01
        assert not cal.is_working_day(date(2028, 10, 2))  # Monday: 国庆
        assert not cal.is_working_day(date(2028, 1, 1))  # a Saturday
        assert cal.is_working_day(date(2028, 1, 4))  # an ordinary Tuesday
        assert cal.next_working_day(date(2028, 3, 3)) == date(2028, 3, 6)
        assert cal.working_days_between(date(2028, 1, 2), date(2028, 1, 9)) == 4
        WorkingCalendar.from_file(catalogue_file).is_working_day(date(2028, 6, 1))  # another instance
    fallback = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(fallback) == 1
    message = str(fallback[0].message)
    assert message.startswith("工作日历：2028 年")  # Chinese first
    assert str(catalogue_file) in message and "临时日历" in message and "PROVISIONAL" in message
    assert "shanhai holidays import" in message
    records = [r for r in caplog.records if r.name == "shanhai.working_days" and r.levelno == logging.WARNING]
    assert len(records) == 1
    assert records[0].getMessage() == message


def test_it_warns_separately_for_each_fallback_year(fresh_warnings):
    cal = WorkingCalendar()
    with pytest.warns(RuntimeWarning) as caught:
        assert cal.working_days_between(date(2026, 12, 31), date(2029, 1, 1)) > 0
    years = sorted(int(m) for w in caught for m in re.findall(r"(\d{4}) is PROVISIONAL", str(w.message)))
    assert years == [2027, 2028, 2029]


def test_source_does_not_warn(fresh_warnings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert WorkingCalendar().source(2030) == "provisional"


# --------------------------------------------------------------------------- holiday-file errors


# case -> (text, line the problem is on, what the message must say)
BAD_FILES = {
    "date outside its year": (
        "holidays:\n  2027:\n    off: [2027-01-01, 2026-12-31]\n",
        3, ["holidays.2027.off[1]", "2026-12-31", "不在 2027 年内"],
    ),
    "both off and workday": (
        "holidays:\n  2027:\n    off: [2027-01-01, 2027-02-20]\n    workdays:\n      - 2027-02-20\n",
        5, ["holidays.2027.workdays[0]", "2027-02-20", "同时列在 off 中"],
    ),
    "workday that is not a weekend": (
        "holidays:\n  2027:\n    off: [2027-01-01]\n    workdays: [2027-02-22]\n",
        4, ["holidays.2027.workdays[0]", "2027-02-22", "周一", "只能是周六或周日"],
    ),
    "impossible date": (
        "holidays:\n  2027:\n    off: [2027-01-01, 2027-02-30]\n",
        3, ["holidays.2027.off[1]", "2027-02-30", "not a valid date"],
    ),
    "date not written YYYY-MM-DD": (
        "holidays:\n  2027:\n    off:\n      - 2027-01-01\n      - 2027-2-5\n",
        5, ["holidays.2027.off[1]", "2027-2-5", "YYYY-MM-DD"],
    ),
    "text instead of a date": (
        "holidays:\n  2027:\n    off: [2027-01-01, 春节]\n",
        3, ["holidays.2027.off[1]", "春节", "不是日期"],
    ),
    "a number instead of a date": (
        "holidays:\n  2027:\n    off: [20270101]\n",
        3, ["holidays.2027.off[0]", "20270101", "不是日期"],
    ),
    "misspelt key": (
        "holidays:\n  2027:\n    off: [2027-01-01]\n    workday: [2027-02-20]\n",
        4, ["holidays.2027.workday"],
    ),
    "year listed twice": (
        "holidays:\n  2027:\n    off: [2027-01-01]\n  2027:\n    off: [2027-01-02]\n",
        4, ["holidays.2027", "written twice"],
    ),
    "year without days off": (
        "holidays:\n  2027:\n    source: 通知\n    workdays: [2027-02-20]\n",
        2, ["holidays.2027.off", "不能缺少或为空"],
    ),
    "not a year": (
        "holidays:\n  twenty27:\n    off: [2027-01-01]\n",
        2, ["twenty27", "不是四位年份"],
    ),
    "invalid yaml": (
        "holidays:\n  2027:\n    off: [2027-01-01\n",
        4, ["(syntax)"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_holiday_file_raises_an_error_naming_file_line_and_entry(tmp_path, case):
    text, line, needles = BAD_FILES[case]
    path = write(tmp_path, text)
    with pytest.raises(HolidayFileError) as excinfo:
        load_holiday_file(path)
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    assert f"{path}:{line}: " in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} missing from {message!r}"
    with pytest.raises(HolidayFileError):
        WorkingCalendar.from_file(path)


def test_a_holiday_file_alias_bomb_is_refused(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(HolidayFileError, match="aliases"):
        load_holiday_file(write(tmp_path, bomb))


def test_a_bad_holiday_file_reports_every_problem_at_once(tmp_path):
    path = write(
        tmp_path,
        "holidays:\n"
        "  2027:\n    off: [2027-01-01]\n    workdays: [2027-02-22]\n"
        "  2028:\n    off: [2029-01-01]\n",
    )
    with pytest.raises(HolidayFileError) as excinfo:
        load_holiday_file(path)
    assert len(excinfo.value.problems) == 2
    assert "2027-02-22" in str(excinfo.value) and "2029-01-01" in str(excinfo.value)


def test_year_override_rejects_inconsistent_data():
    with pytest.raises(ValueError, match="2027-02-22"):
        YearOverride(year=2027, off=frozenset(), workdays=frozenset({date(2027, 2, 22)}))
    with pytest.raises(ValueError, match="outside"):
        YearOverride(year=2027, off=frozenset({date(2028, 1, 1)}), workdays=frozenset())
    with pytest.raises(ValueError, match="year=2027"):
        WorkingCalendar({2027: YearOverride(year=2028, off=frozenset(), workdays=frozenset())})


# --------------------------------------------------------------------------- argument checks


def test_it_rejects_datetimes_whose_date_depends_on_a_time_zone(cal):
    with pytest.raises(TypeError, match="Asia/Shanghai"):
        cal.is_working_day(datetime(2026, 2, 14, 23, 0))


def test_it_rejects_an_unknown_roll_policy(cal):
    with pytest.raises(ValueError, match="sideways"):
        cal.roll(date(2026, 2, 14), "sideways")  # type: ignore[arg-type]


def test_adding_zero_working_days_returns_the_day_itself_even_on_a_holiday(cal):
    assert cal.add_working_days(date(2026, 10, 1), 0) == date(2026, 10, 1)
    assert cal.working_days_between(date(2026, 10, 1), date(2026, 10, 1)) == 0


def test_it_answers_from_its_per_year_cache(cal, monkeypatch):
    cal.is_working_day(date(2025, 6, 1))
    cal.is_working_day(date(2026, 6, 1))

    def boom(_d):
        raise AssertionError("chinese_calendar consulted again for a cached year")

    monkeypatch.setattr(chinese_calendar, "is_workday", boom)
    assert cal.working_days_between(date(2025, 1, 1), date(2026, 12, 31)) > 400
    assert cal.add_working_days(date(2025, 1, 1), 300) > date(2025, 12, 31)


# --------------------------------------------------------------------------- properties

# 2024-2026 come from chinese-calendar, 2027 from the tmp holiday file, 2028 is provisional.
dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))
steps = st.integers(min_value=-300, max_value=300)
PROPS = settings(max_examples=200, deadline=None)
# The 2028/2029 provisional warnings are asserted in their own tests; keep them out of the summary here.
quiet_fallback = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@quiet_fallback
@PROPS
@given(d=dates)
def test_is_working_day_agrees_with_an_independent_oracle(cal, d):
    assert cal.is_working_day(d) == oracle_is_working(d)


@quiet_fallback
@PROPS
@given(d=dates, n=steps)
def test_add_working_days_lands_on_the_nth_working_day(cal, d, n):
    result = cal.add_working_days(d, n)
    assert result == oracle_add(d, n)
    if n != 0:
        assert cal.is_working_day(result)
        assert (result > d) == (n > 0)


@quiet_fallback
@PROPS
@given(d=dates, n=steps)
def test_working_days_between_undoes_add_working_days(cal, d, n):
    result = cal.add_working_days(d, n)
    if n >= 0 or cal.is_working_day(d):
        assert cal.working_days_between(d, result) == n
    else:
        # counting is over (result, d]: a non-working d contributes nothing, so one is "lost"
        assert cal.working_days_between(d, result) == n + 1


@quiet_fallback
@PROPS
@given(a=dates, b=dates)
def test_working_days_between_counts_the_half_open_interval(cal, a, b):
    assert cal.working_days_between(a, b) == oracle_between(a, b)
    assert cal.working_days_between(b, a) == -cal.working_days_between(a, b)


@quiet_fallback
@PROPS
@given(a=dates, b=dates, c=dates)
def test_working_days_between_is_additive(cal, a, b, c):
    assert cal.working_days_between(a, b) + cal.working_days_between(b, c) == cal.working_days_between(a, c)


@quiet_fallback
@PROPS
@given(d=dates, a=st.integers(1, 150), b=st.integers(1, 150), sign=st.sampled_from([1, -1]))
def test_add_working_days_composes(cal, d, a, b, sign):
    assert cal.add_working_days(d, sign * (a + b)) == cal.add_working_days(
        cal.add_working_days(d, sign * a), sign * b
    )


@quiet_fallback
@PROPS
@given(d=dates)
def test_next_working_day_skips_only_non_working_days(cal, d):
    nxt = cal.next_working_day(d)
    assert nxt > d
    assert cal.is_working_day(nxt)
    assert not any(cal.is_working_day(x) for x in days(d + timedelta(days=1), nxt - timedelta(days=1)))
    assert nxt == cal.add_working_days(d, 1)
    expected_self = d if cal.is_working_day(d) else nxt
    assert cal.next_working_day(d, include_self=True) == expected_self


@quiet_fallback
@PROPS
@given(d=dates)
def test_previous_working_day_skips_only_non_working_days(cal, d):
    prev = cal.previous_working_day(d)
    assert prev < d
    assert cal.is_working_day(prev)
    assert not any(cal.is_working_day(x) for x in days(prev + timedelta(days=1), d - timedelta(days=1)))
    assert prev == cal.add_working_days(d, -1)
    expected_self = d if cal.is_working_day(d) else prev
    assert cal.previous_working_day(d, include_self=True) == expected_self


@quiet_fallback
@PROPS
@given(d=dates)
def test_roll_moves_only_off_non_working_days(cal, d):
    assert cal.roll(d, "none") == d
    forward, backward = cal.roll(d, "forward"), cal.roll(d, "backward")
    assert cal.is_working_day(forward) and cal.is_working_day(backward)
    assert backward <= d <= forward
    if cal.is_working_day(d):
        assert forward == backward == d
    else:
        assert forward > d > backward
        assert not any(
            cal.is_working_day(x) for x in days(backward + timedelta(days=1), forward - timedelta(days=1))
        )

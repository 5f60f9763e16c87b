"""Reading the State Council's holiday notice as published (tests/notices/, provenance in SOURCES.md)."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shanhai.models.holiday_notice import NoticeError, read_notice
from shanhai.models.holiday_year import YearArrangement

NOTICES = Path(__file__).parent / "notices"
FIXTURES = sorted(p.stem for p in NOTICES.glob("*.txt"))
TEXT_2026 = (NOTICES / "2026.txt").read_text(encoding="utf-8")


def parse_notice(text: str, *, name: str = "通知") -> YearArrangement:
    return read_notice(text, name=name).arrangement


def test_there_are_the_2026_notice_and_at_least_three_older_ones():
    assert "2026" in FIXTURES
    assert len([y for y in FIXTURES if int(y) < 2026]) >= 3


def test_the_2026_notice_is_chinese_calendar_2026_day_by_day():
    arrangement = parse_notice(TEXT_2026)
    assert arrangement.year == 2026
    assert arrangement.source == "国务院办公厅关于2026年部分节假日安排的通知"
    days = arrangement.days()
    assert len(days) == 365
    assert [x for x in days if arrangement.is_working_day(x) != chinese_calendar.is_workday(x)] == []
    assert sorted(arrangement.workdays) == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20),
        date(2026, 10, 10),
    ]


@pytest.mark.parametrize("year", FIXTURES)
def test_each_stored_notice_is_what_chinese_calendar_says_of_its_year(year):
    notice = read_notice((NOTICES / f"{year}.txt").read_text(encoding="utf-8"))
    assert notice.year == int(year)
    arrangement = notice.arrangement
    wrong = [x for x in arrangement.days() if arrangement.is_working_day(x) != chinese_calendar.is_workday(x)]
    assert wrong == []
    assert len(notice.lines) in (6, 7)  # 中秋 and 国庆 share a line in some years


def test_older_wording_is_understood():
    n2017 = read_notice((NOTICES / "2017.txt").read_text(encoding="utf-8"))
    assert n2017.number == "国办发明电〔2016〕17号"
    new_year, *_ = n2017.lines
    assert new_year.off == (date(2017, 1, 1), date(2017, 1, 2))  # "1月1日放假，1月2日（星期一）补休"
    labour = next(item for item in n2017.lines if item.festivals == "劳动节")
    assert labour.off == (date(2017, 5, 1),) and labour.workdays == ()  # "与周末连休"
    n2016 = read_notice((NOTICES / "2016.txt").read_text(encoding="utf-8"))
    assert n2016.title == "国务院办公厅关于2016年部分节假日安排的通知"  # the title is on two lines there


def test_a_range_across_the_year_keeps_the_other_years_day_apart():
    notice = read_notice((NOTICES / "2023.txt").read_text(encoding="utf-8"))
    assert notice.lines[0].off == (date(2022, 12, 31), date(2023, 1, 1), date(2023, 1, 2))
    assert notice.outside_off == {date(2022, 12, 31)}
    assert date(2022, 12, 31) not in notice.arrangement.off
    national = notice.lines[-1]
    assert national.off[0] == date(2023, 9, 29) and national.off[-1] == date(2023, 10, 6)


def test_a_range_written_without_years_across_new_year_starts_in_the_year_before():
    text = TEXT_2026.replace("1月1日（周四）至3日（周六）放假调休，共3天", "12月31日（周三）至1月3日（周六）放假调休，共4天")
    notice = read_notice(text)
    assert notice.lines[0].off[0] == date(2025, 12, 31)
    assert notice.outside_off == {date(2025, 12, 31)}


def test_advice_to_rest_is_not_a_day_off():
    notice = read_notice((NOTICES / "2024.txt").read_text(encoding="utf-8"))
    assert date(2024, 2, 9) not in notice.arrangement.off  # "鼓励…安排职工在除夕（2月9日）休息"
    assert chinese_calendar.is_workday(date(2024, 2, 9))


def test_full_width_and_half_width_punctuation_read_the_same():
    half = unicodedata.normalize("NFKC", TEXT_2026)
    assert half != TEXT_2026
    assert parse_notice(half) == parse_notice(TEXT_2026)


# --------------------------------------------------------------------------- errors, each naming its line


def broken(old: str, new: str) -> str:
    assert old in TEXT_2026
    return TEXT_2026.replace(old, new)


BAD_NOTICES = {
    "a stated length that disagrees with the range": (
        broken("共9天", "共8天"), 6, ["共8天", "共9天"],
    ),
    "a stated length in 放假N天 form that disagrees": (
        broken("4月4日（周六）至6日（周一）放假，共3天", "4月4日（周六）至6日（周一）放假2天"), 7, ["放假2天", "共3天"],
    ),
    "a weekday that is not the date's": (
        broken("1月4日（周日）上班", "1月4日（周一）上班"), 5, ["1月4日是周日", "周一"],
    ),
    "a lunar date that is not the date's": (
        broken("农历腊月二十八", "农历腊月二十七"), 6, ["腊月二十七", "腊月二十八"],
    ),
    "a make-up workday on a weekday": (
        broken("5月9日（周六）上班", "5月8日上班"), 8, ["5月8日", "2026-05-08", "周五", "只能是周六或周日"],
    ),
    "a clause that is not understood": (
        broken("5月9日（周六）上班", "5月9日（周六）照常上学"), 8, ["无法识别", "照常上学"],
    ),
    "a date that does not exist": (
        broken("2月28日（周六）上班", "2月30日上班"), 6, ["2月30日", "不是存在的日期"],
    ),
    "a range whose start does not exist": (
        broken("2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）", "2月30日至3月1日"), 6,
        ["2月30日", "不是存在的日期"],
    ),
    "a range whose start has no month, though its end has": (
        broken("6月19日（周五）至21日（周日）", "19日至6月21日"), 9, ["“19日”缺少月份"],
    ),
    "a range without its month": (
        broken("6月19日（周五）至21日（周日）", "19日（周五）至21日（周日）"), 9, ["缺少月份"],
    ),
    "a day both off and worked": (
        broken("10月10日（周六）上班", "10月3日（周六）上班"), 11, ["2026-10-03", "既放假又上班"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_NOTICES), ids=list(BAD_NOTICES))
def test_a_bad_notice_is_refused_naming_the_line(case):
    text, line, needles = BAD_NOTICES[case]
    with pytest.raises(NoticeError) as excinfo:
        parse_notice(text, name="通知.txt")
    message = str(excinfo.value)
    assert message.startswith("通知.txt：无法解析通知")  # Chinese first, naming the file
    assert f"第{line}行" in message, message
    assert text.splitlines()[line - 1].strip() in message  # the line itself is shown
    for needle in needles:
        assert needle in message, f"{needle!r} missing from {message!r}"
    assert all(p.line == line for p in excinfo.value.problems)


def test_new_years_eve_is_checked_even_on_the_last_day_a_date_can_have():
    text = TEXT_2026.replace("2026", "9999").replace("1月1日（周四）至3日", "9999年12月31日（除夕）至9999年12月31日")
    with pytest.raises(NoticeError) as excinfo:
        parse_notice(text)
    assert "12月31日不是除夕" in str(excinfo.value)
    assert excinfo.value.problems[0].line == 5


def test_a_notice_without_its_title_has_no_year():
    with pytest.raises(NoticeError, match="未找到标题"):
        parse_notice(TEXT_2026.replace("国务院办公厅关于2026年部分节假日安排的通知", "放假通知"))


def test_a_title_and_text_that_disagree_on_the_year_are_refused():
    with pytest.raises(NoticeError, match="标题是 2027 年"):
        parse_notice(TEXT_2026.replace("关于2026年部分", "关于2027年部分"))


def test_a_notice_missing_a_holiday_line_is_refused():
    text = "\n".join(line for line in TEXT_2026.splitlines() if not line.startswith("五、端午节"))
    with pytest.raises(NoticeError, match="通知缺少：端午节"):
        parse_notice(text)


def test_every_problem_is_reported_at_once_and_only_once():
    text = broken("共9天", "共8天").replace("1月4日（周日）上班", "1月4日（周一）上班")
    text = text.replace("农历腊月二十八", "农历腊月二十七")
    with pytest.raises(NoticeError) as excinfo:
        parse_notice(text)
    assert sorted(p.line for p in excinfo.value.problems) == [5, 6, 6]  # lunar note, length; weekday


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_notice_is_read_or_refused_never_crashes(data):
    text = TEXT_2026
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text) - 1))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        insert = data.draw(st.text(alphabet="0123456789年月日至（）()、，,。共天放假调休上班补休周六日农历腊正初十二十", max_size=6))
        text = text[:start] + insert + text[end:]
    try:
        arrangement = parse_notice(text)
    except NoticeError as exc:
        assert exc.problems and all(isinstance(str(p), str) for p in exc.problems)
    else:
        assert 1000 <= arrangement.year <= 9999

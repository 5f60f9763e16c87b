"""`shanhai ics UNIT`: a unit's deadlines as a calendar any client reads, parsed back with icalendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    return result


def events(raw: bytes) -> list:
    cal = Calendar.from_ical(raw)
    return list(cal.walk("VEVENT"))


def test_ics_is_a_calendar_of_the_units_deadlines_with_a_reminder_each(cli, tmp_path):
    ok(cli("init", "--as-of", "2026-11-29"))
    raw = ok(cli("ics", "泰顺县", "--as-of", "2026-11-29")).stdout_bytes
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))  # folded as RFC 5545 says, in octets
    cal = Calendar.from_ical(raw)
    assert str(cal["X-WR-CALNAME"]) == "泰顺县 山海协作期限"
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    found = events(raw)
    assert found
    assert len({str(e["UID"]) for e in found}) == len(found)
    assert {e.decoded("DTSTAMP") for e in found} == {datetime(2026, 11, 29, 4, tzinfo=UTC)}  # 12:00 in Shanghai
    for e in found:
        start, end = e.decoded("DTSTART"), e.decoded("DTEND")
        assert type(start) is date and end == start + timedelta(days=1)  # all-day, on the due date
        assert start.year >= 2025  # last year onwards
        [alarm] = e.walk("VALARM")
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm.decoded("TRIGGER") == -timedelta(days=2, hours=15)  # 09:00 three days before
        assert "3天后" in str(alarm["DESCRIPTION"]) and start.isoformat() in str(alarm["DESCRIPTION"])
    by_summary = {(str(e["SUMMARY"]), e.decoded("DTSTART")) for e in found}
    assert ("【山海协作】联席会议（泰顺-鹿城）期限", date(2026, 12, 31)) in by_summary
    assert not any("永嘉-瓯海" in s for s, _ in by_summary)  # not 泰顺's duty
    meeting = next(e for e in found if str(e["SUMMARY"]) == "【山海协作】联席会议（泰顺-鹿城）期限"
                   and e.decoded("DTSTART") == date(2026, 12, 31))
    assert str(meeting["DESCRIPTION"]) == "条款 三(二)；期次 2026；范围 泰顺-鹿城；本单位：责任单位"


def test_ics_says_which_deadlines_come_from_the_provisional_calendar(cli):
    found = events(ok(cli("ics", "泰顺县", "--as-of", "2027-02-01")).stdout_bytes)
    marked = {e.decoded("DTSTART").year for e in found if "临时日历" in str(e["DESCRIPTION"])}
    unmarked = {e.decoded("DTSTART").year for e in found if "临时日历" not in str(e["DESCRIPTION"])}
    assert min(marked) == 2027 and unmarked == {2026}  # no notice imported for 2027 on; 2026 is chinese-calendar's


def test_ics_text_with_commas_and_semicolons_reads_back_unchanged(cli):
    ok(cli("init", "--as-of", "2026-11-29"))
    found = events(ok(cli("ics", "市招商局（经合办）", "--as-of", "2026-11-29")).stdout_bytes)
    descriptions = [str(e["DESCRIPTION"]) for e in found]
    assert any("；" in d and "条款" in d for d in descriptions)
    assert any("," in d or ";" in d for d in descriptions), "the catalogue has clauses like '二(一); 附件2 1.3'"


def test_ics_uids_are_stable_across_runs_and_differ_between_units(cli):
    ok(cli("init", "--as-of", "2026-11-29"))
    first = {str(e["UID"]) for e in events(ok(cli("ics", "泰顺县", "--as-of", "2026-11-29")).stdout_bytes)}
    again = {str(e["UID"]) for e in events(ok(cli("ics", "泰顺县", "--as-of", "2026-12-01")).stdout_bytes)}
    partner = {str(e["UID"]) for e in events(ok(cli("ics", "鹿城区", "--as-of", "2026-11-29")).stdout_bytes)}
    assert first == again
    assert not first & partner


def test_ics_written_to_a_file_is_the_same_calendar(cli, tmp_path):
    ok(cli("init", "--as-of", "2026-11-29"))
    raw = ok(cli("ics", "泰顺县", "--as-of", "2026-11-29")).stdout_bytes
    written = tmp_path / "taishun.ics"
    assert "已写入" in ok(cli("ics", "泰顺", "--as-of", "2026-11-29", "-o", written)).stdout
    assert written.read_bytes() == raw  # by its short name too


def test_ics_names_an_unknown_unit(cli):
    result = cli("ics", "火星县", "--as-of", "2026-11-29")
    assert result.exit_code == 1
    assert "火星县" in result.stderr


def test_ics_into_a_missing_folder_is_one_line_naming_it(cli, tmp_path):
    target = tmp_path / "no-such-folder" / "taishun.ics"
    result = cli("ics", "泰顺县", "--as-of", "2026-11-29", "-o", target)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "-o" in lines[0] and str(target.parent) in lines[0]
    assert not target.parent.exists()


def test_ics_onto_a_directory_is_one_line_naming_it(cli, tmp_path):
    result = cli("ics", "泰顺县", "--as-of", "2026-11-29", "-o", tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0]

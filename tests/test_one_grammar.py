"""One grammar for input (SPEC §9): the same amount, count or date text gets the same answer from
`shanhai record`, from a CSV import and from the portal's record form — accepted with the same stored
value, or refused with the same Chinese message and nothing stored. Hypothesis feeds the same strings
to all three (the portal through FastAPI's TestClient, the CLI in-process, on one database).

Ids: a number beyond the key column's range is "no such …" on the CLI and a 404 on the portal."""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass
from datetime import date

import pytest
import time_machine
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.conftest import run_cli
from tests.portal_support import NOW, make_portal

OBLIGATION, SCOPE, CATEGORY, DAY = "industrial-investment", "全市", "八大产业", "2026-10-19"
AS_OF = NOW.isoformat()
UNITS = ["元", "万元", "亿元", ""]  # "": the form's unit left unchosen, the CLI's text as typed
# each example runs three real surfaces (~1 s): no shrinking, the failing string is reported as generated
SETTINGS = settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Answer:
    stored: tuple | None  # (date, amount_fen, count) of the record stored, or None when refused
    said: str  # what the surface answered (a refusal's message is in it)


@dataclass
class Surfaces:
    portal: object
    tmp_path: object
    files: int = 0

    def cli(self, *args: str):
        with time_machine.travel(NOW, tick=False):  # the real clock: the record's day has come
            return run_cli(list(args), home=self.tmp_path / "home", database_url=self.portal.database_url,
                           catalogue_dir=self.tmp_path / "cat")

    def by_cli(self, day: str, amount: str | None, count: str | None = None) -> Answer:
        args = ["record", OBLIGATION, "--scope", SCOPE, f"--date={day}", "--category", CATEGORY,
                "--as-of", AS_OF]
        args += [f"--amount={amount}"] if amount is not None else []
        args += [f"--count={count}"] if count is not None else []
        result = self.cli(*args)
        return self._answer(result.exit_code == 0, result.stderr)

    def by_import(self, day: str, amount: str | None, *, xlsx: bool = False) -> Answer:
        """The text in a CSV cell, or in an xlsx text cell."""
        from openpyxl import Workbook

        self.files += 1
        rows = [["obligation", "scope", "date", "amount", "category"], [OBLIGATION, SCOPE, day, amount or "", CATEGORY]]
        path = self.tmp_path / f"records-{self.files}.{'xlsx' if xlsx else 'csv'}"
        if xlsx:
            wb = Workbook()
            for row in rows:
                wb.active.append(row)
            wb.save(path)
        else:
            with path.open("w", encoding="utf-8", newline="") as fh:
                csv.writer(fh).writerows(rows)
        result = self.cli("import", str(path), "--as-of", AS_OF)
        return self._answer(result.exit_code == 0, result.stderr)

    def by_portal(self, day: str, number: str, unit: str) -> Answer:
        link = self.portal.link(OBLIGATION, SCOPE, unit="coordinator")
        sent = self.portal.submit_record(link, date=day, amount_number=number, amount_unit=unit, category=CATEGORY)
        assert sent.status_code in (303, 422), sent.text
        return self._answer(sent.status_code == 303, html.unescape(sent.text))

    def _answer(self, ok: bool, said: str) -> Answer:
        from shanhai.db import session_scope
        from shanhai.models.tables import CompletionRecord, ImportBatch

        with session_scope(self.portal.database_url) as s:
            rows = s.execute(select(CompletionRecord.date, CompletionRecord.amount_fen, CompletionRecord.count)).all()
            # each answer starts from an empty table: the next string is not a duplicate of this one
            s.execute(delete(CompletionRecord))
            s.execute(delete(ImportBatch))
        assert len(rows) == (1 if ok else 0), (ok, rows, said[-500:])
        return Answer(tuple(rows[0]) if ok else None, said)


@pytest.fixture
def surfaces(tmp_path, database_url) -> Surfaces:
    return Surfaces(make_portal(tmp_path, database_url), tmp_path)


def expected(parse, text: str) -> tuple[object, str | None]:
    """What the one parser says: (value, None) or (None, message)."""
    from shanhai.models.errors import InputError

    try:
        return parse(text), None
    except InputError as exc:
        return None, exc.message


def assert_same(answers: list[Answer], message: str | None) -> None:
    """Refused by the parser: the parser's message everywhere. Read alike: the same record stored
    everywhere, or refused everywhere (a link's occurrence and the CLI's date-found one may then
    word it differently: that is the record rules' business, not the grammar's)."""
    if message is not None:
        for a in answers:
            assert a.stored is None and message in a.said, (message, a.said[-600:])
        return
    assert len({a.stored for a in answers}) == 1, answers


NUMBER_CHARS = "0123456789０１２３４５６７８９,，.．+- "
numbers = st.text(alphabet=NUMBER_CHARS, min_size=1, max_size=14).filter(str.strip) | st.from_regex(
    r"\A[1-9][0-9]{0,2}(,[0-9]{3}){0,3}(\.[0-9]{1,3})?\Z"
)


@SETTINGS
@given(number=numbers, unit=st.sampled_from(UNITS))
@example(number="12,34", unit="万元")
@example(number="1,2,3", unit="万元")
@example(number=",5", unit="万元")
@example(number="0", unit="万元")
@example(number="-0.0", unit="亿元")
@example(number="１,０００", unit="万元")
@example(number="１，０００．５", unit="元")
@example(number="1,000", unit="万元")
@example(number="11900", unit="")
@example(number="5万", unit="")
@example(number="5万", unit="万元")
@example(number="-5", unit="万元")
def test_an_amount_gets_the_same_answer_on_the_cli_in_an_import_and_on_the_portal(surfaces, number, unit):
    from shanhai.models.amounts import parse_amount

    text = f"{number}{unit}"
    fen, message = expected(parse_amount, text)
    answers = [surfaces.by_cli(DAY, text), surfaces.by_import(DAY, text), surfaces.by_import(DAY, text, xlsx=True),
               surfaces.by_portal(DAY, number, unit)]
    assert_same(answers, message)
    if fen is not None:
        assert answers[0].stored == (date(2026, 10, 19), fen, 1)


DATE_CHARS = "0123456789０１２３４５６７８９-－/W T:."
dates = st.text(alphabet=DATE_CHARS, min_size=1, max_size=12).filter(str.strip) | st.dates(
    min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)  # the link's occurrence's year
).map(date.isoformat)


@SETTINGS
@given(day=dates)
@example(day="20261019")
@example(day="2026-W43-1")
@example(day="2026-292")
@example(day="２０２６－１０－１９")
@example(day="2026-02-30")
@example(day="2026-10-19T00:00")
@example(day="2026-10-21")  # after the real now: refused downstream, the same way
def test_a_date_gets_the_same_answer_on_the_cli_in_an_import_and_on_the_portal(surfaces, day):
    from shanhai.models.grammar import parse_date

    _, message = expected(parse_date, day)
    answers = [surfaces.by_cli(day, "5万"), surfaces.by_import(day, "5万"), surfaces.by_portal(day, "5", "万元")]
    assert_same(answers, message)


@pytest.mark.parametrize(("text", "stored"), [("１", 1), ("+2", 2), ("0", None), ("1,000", None), ("", 1)])
def test_a_count_reads_alike_on_the_cli_and_the_portal(tmp_path, database_url, text, stored):
    from shanhai.models.amounts import parse_count

    surfaces = Surfaces(make_portal(tmp_path, database_url), tmp_path)
    _, message = expected(parse_count, text)
    cli = surfaces.cli("record", "joint-meeting", "--scope", "泰顺-鹿城", f"--date={DAY}", f"--count={text}",
                       "--as-of", AS_OF)
    by_cli = surfaces._answer(cli.exit_code == 0, cli.stderr)
    link = surfaces.portal.link("joint-meeting")
    sent = surfaces.portal.submit_record(link, date=DAY, count=text)
    by_portal = surfaces._answer(sent.status_code == 303, html.unescape(sent.text))
    assert_same([by_cli, by_portal], message)
    assert (by_cli.stored[2] if by_cli.stored else None) == stored


@pytest.mark.parametrize("path", [
    "/occurrences/9223372036854775808", "/occurrences/2147483648", "/occurrences/0",
    "/records/99999999999999999999999/evidence",
])
def test_an_id_past_the_key_range_is_a_404_on_the_portal(tmp_path, database_url, path):
    portal = make_portal(tmp_path, database_url)
    page = portal.coordinator().get(path)
    assert page.status_code == 404 and "没有编号为" in page.text
    verify = portal.client.post(path.replace("/evidence", "/verify").replace("/occurrences/", "/records/"),
                                data={"csrf": "x"})
    assert verify.status_code in (403, 404) and verify.status_code != 500


def test_a_report_receipt_past_the_key_range_is_a_404(tmp_path, database_url):
    portal = make_portal(tmp_path, database_url)
    page = portal.client.get(f"{portal.link()}/records/9223372036854775808")
    assert page.status_code == 404


@pytest.mark.parametrize("args", [["verify", "9223372036854775808"], ["reject", "2147483648", "--note", "x"],
                                  ["waive", "99999999999999999999", "--reason", "x"]])
def test_an_id_past_the_key_range_is_no_such_thing_on_the_cli(tmp_path, database_url, args):
    surfaces = Surfaces(make_portal(tmp_path, database_url), tmp_path)
    result = surfaces.cli(*args)
    assert result.exit_code == 1 and "没有编号为" in result.stderr and "Traceback" not in result.output


def test_an_xlsx_negative_zero_under_a_unit_header_is_refused(tmp_path, database_url):
    from openpyxl import Workbook

    surfaces = Surfaces(make_portal(tmp_path, database_url), tmp_path)
    wb = Workbook()
    wb.active.append(["obligation", "scope", "date", "金额（亿元）", "category"])
    wb.active.append([OBLIGATION, SCOPE, date(2026, 10, 19), -0.0, CATEGORY])
    wb.save(tmp_path / "ledger.xlsx")
    result = surfaces.cli("import", str(tmp_path / "ledger.xlsx"), "--as-of", AS_OF)
    answer = surfaces._answer(result.exit_code == 0, result.stderr)
    assert answer.stored is None and "D2" in answer.said and "金额须大于 0" in answer.said


def test_a_json_record_reports_what_was_stored(tmp_path, database_url):
    surfaces = Surfaces(make_portal(tmp_path, database_url), tmp_path)
    result = surfaces.cli("record", OBLIGATION, "--scope", SCOPE, f"--date={DAY}", "--category", CATEGORY,
                          "--amount", "１,０００万元", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["amount"] == "0.1 亿元"


@pytest.mark.parametrize(("typed", "status"), [("１２a", 422), ("9223372036854775808", 404), ("１２３４５６７", 404)])
def test_the_queue_waive_form_reads_an_id_with_the_same_grammar(tmp_path, database_url, typed, status):
    from tests.portal_support import csrf_of

    portal = make_portal(tmp_path, database_url)
    client = portal.coordinator()
    csrf = csrf_of(client.get("/queue").text)
    page = client.post("/queue/waive", data={"occurrence_id": typed, "reason": "测试", "csrf": csrf})
    assert page.status_code == status, page.text[-400:]

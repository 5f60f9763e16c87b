"""Who owes what, history that is not failure, joint events counted once, quantities in their own year
(issue 14 items 1-3, issue 15 item 5): pure rules first, then end to end through the CLI and the portal."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from shanhai.models.catalogue import CatalogueError, load_catalogue
from shanhai.models.joint_events import same_event_partners
from shanhai.models.occurrences import expected_occurrences
from shanhai.models.progress import RecordTotal
from shanhai.models.requirement import Requirement
from shanhai.models.status import OccurrenceRow, evaluate
from shanhai.models.statuses import History, Light, Status
from shanhai.models.working_days import WorkingCalendar
from tests.conftest import (
    DOCUMENT,
    REAL_CATALOGUE,
    at,
    industrial_investment,
    joint_meeting,
    make_app,
    make_catalogue,
    make_obligation,
    make_record,
)
from tests.portal_support import Clock, PortalEnv

CAL = WorkingCalendar()


def row(req: Requirement, *, due: date, period: str = "2018", oid: int = 1) -> OccurrenceRow:
    return OccurrenceRow(oid, "ob", "泰顺-鹿城", period, date(int(period[:4]), 1, 1), due, req)


def one(occ: OccurrenceRow, totals=(), *, as_of, tracking_from=None):
    [ev] = evaluate([occ], list(totals), set(), as_of=as_of, cal=CAL, tracking_from=tracking_from)
    return ev


def total(on: str, *, count: int = 1, amount_fen: int = 0, state: str = "submitted", oid: int = 1) -> RecordTotal:
    return RecordTotal(oid, date.fromisoformat(on), None, state, count, amount_fen)


# --------------------------------------------------------------------------- pure rules: history


def test_an_unmet_occurrence_due_before_the_document_is_grey_history_not_missed():
    req = Requirement(kind="annual_deadline", min_count=1, document_from=date(2018, 12, 7), lead=("鹿城区",))
    ev = one(row(req, due=date(2018, 5, 31)), as_of=at(2026, 12, 7))
    assert (ev.status, ev.light, ev.label) == (Status.HISTORY, Light.GREY, "文件印发前")
    assert ev.history is History.BEFORE_DOCUMENT and ev.is_history and not ev.tracked
    assert ev.escalation_level == 0
    item = ev.as_item("年度帮扶资金到位", "二(二)")
    assert (item["status"], item["light"], item["history"]) == ("history", "grey", "before_document")


def test_history_that_was_done_stays_done_and_a_duty_due_after_the_document_is_not_history():
    req = Requirement(kind="annual_deadline", min_count=1, document_from=date(2018, 12, 7))
    done = one(row(req, due=date(2018, 5, 31)), [total("2018-05-20")], as_of=at(2026, 12, 7))
    assert done.status is Status.DONE and done.history is History.BEFORE_DOCUMENT
    after = one(row(req, due=date(2018, 12, 31)), as_of=at(2019, 6, 1))
    assert after.status is Status.MISSED and after.history is None and after.light is Light.RED


def test_before_the_tracking_start_is_history_too_and_says_so():
    req = Requirement(kind="annual_deadline", min_count=1, document_from=date(2018, 12, 7))
    ev = one(row(req, due=date(2025, 10, 31), period="2025"), as_of=at(2026, 1, 10), tracking_from=date(2026, 1, 1))
    assert (ev.status, ev.label, ev.history) == (Status.HISTORY, "纳入跟踪前", History.BEFORE_TRACKING)
    tracked = one(row(req, due=date(2026, 1, 5), period="2026"), as_of=at(2026, 1, 10), tracking_from=date(2026, 1, 1))
    assert tracked.status is Status.OVERDUE and tracked.escalation_level == 1


# --------------------------------------------------------------------------- pure rules: joint events


def test_both_sides_reporting_one_meeting_is_one_meeting():
    req = Requirement(kind="annual_count", min_count=2, joint=True)
    occ = row(req, due=date(2026, 12, 31), period="2026")
    same_day = one(occ, [total("2026-03-10"), total("2026-03-10", state="verified")], as_of=at(2027, 1, 10))
    assert same_day.progress == {"done": 1, "required": 2} and same_day.status is Status.OVERDUE
    two_days = one(occ, [total("2026-03-10"), total("2026-09-01")], as_of=at(2027, 1, 10))
    assert two_days.progress == {"done": 2, "required": 2} and two_days.status is Status.DONE


def test_a_joint_event_is_verified_when_one_of_its_reports_is():
    req = Requirement(kind="annual_count", min_count=1, joint=True)
    occ = row(req, due=date(2026, 12, 31), period="2026")
    ev = one(occ, [total("2026-03-10"), total("2026-03-10", state="verified")], as_of=at(2026, 4, 1))
    assert ev.status is Status.DONE and not ev.pending


def test_a_duty_one_side_leads_still_sums_its_records():
    req = Requirement(kind="annual_count", min_count=2, joint=False)
    ev = one(row(req, due=date(2026, 12, 31), period="2026"), [total("2026-03-10"), total("2026-03-10")],
             as_of=at(2026, 4, 1))
    assert ev.progress == {"done": 2, "required": 2}


def test_same_event_partners_pair_the_reports_of_one_joint_day_only():
    d = date(2026, 3, 10)
    partners = same_event_partners(
        [(1, 7, d, "泰顺县", True), (2, 7, d, "鹿城区", True), (3, 7, date(2026, 4, 1), "泰顺县", True),
         (4, 8, d, "a", False), (5, 8, d, "b", False)]
    )
    assert partners == {1: [(2, "鹿城区")], 2: [(1, "泰顺县")]}


# --------------------------------------------------------------------------- pure rules: quantities


def test_a_quantity_dated_after_its_year_never_counts_for_it_but_a_late_count_record_does():
    money = Requirement(kind="annual_quantity", target_fen=100, closes=date(2026, 3, 31))
    occ = row(money, due=date(2025, 12, 31), period="2025")
    ev = one(occ, [total("2026-02-01", amount_fen=100)], as_of=at(2026, 3, 1))
    assert ev.status is Status.OVERDUE and ev.satisfied_on is None
    in_year = one(occ, [total("2025-12-20", amount_fen=100)], as_of=at(2026, 3, 1))
    assert in_year.status is Status.DONE
    count = Requirement(kind="annual_count", min_count=1, closes=date(2026, 3, 31))
    late = one(row(count, due=date(2025, 12, 31), period="2025"), [total("2026-02-01")], as_of=at(2026, 3, 1))
    assert late.status is Status.DONE_LATE


# --------------------------------------------------------------------------- the catalogue


def test_the_real_catalogue_charges_the_aid_funds_to_the_partner_and_marks_2018_history():
    cat = load_catalogue(REAL_CATALOGUE)
    assert cat.documents["wzf-2018-26"].in_force_from == date(2018, 12, 7)
    specs = {s.key: s for s in expected_occurrences(cat, CAL, through_year=2026)}
    aid = specs[("aid-funds", "泰顺-鹿城", "2026")].requirement
    assert aid.accountable == ("鹿城区",)
    meeting = specs[("joint-meeting", "泰顺-鹿城", "2026")].requirement
    assert meeting.accountable == ("泰顺县", "鹿城区") and meeting.counts_events
    assert specs[("aid-funds", "泰顺-鹿城", "2018")].requirement.before_document(date(2018, 5, 31))
    assert not specs[("joint-meeting", "泰顺-鹿城", "2018")].requirement.before_document(date(2018, 12, 31))
    investment = specs[("industrial-investment", "全市", "2026")].requirement
    assert investment.accountable == ("市招商局（经合办）",) and investment.counts_by_date


def test_an_effective_date_before_the_issue_date_is_refused_with_its_line(tmp_path):
    make_catalogue(tmp_path, [], document={**DOCUMENT, "effective_from": date(2023, 12, 1)})
    with pytest.raises(CatalogueError) as err:
        load_catalogue(tmp_path)
    text = str(err.value)
    assert "policy.yaml:" in text and "effective_from" in text and "早于印发日期" in text


# --------------------------------------------------------------------------- end to end: the CLI


def test_status_json_names_the_accountable_units_and_history(cli):
    assert cli("init", "--as-of", "2026-12-07", "--tracking-from", "2018-01-01").exit_code == 0
    out = cli("status", "--all", "--json", "--as-of", "2026-12-07")
    assert out.exit_code == 0, out.output
    items = json.loads(out.stdout)
    aid = {i["period"]: i for i in items if i["obligation"] == "aid-funds" and i["scope"] == "泰顺-鹿城"}
    assert (aid["2026"]["accountable"], aid["2026"]["status"]) == (["鹿城区"], "overdue")
    assert aid["2018"]["status"] == "history" and aid["2018"]["history"] == "before_document"
    early = [i for i in items if i["due_nominal"] < "2018-12-07"]
    assert early and all(i["light"] == "grey" and i["history"] == "before_document" for i in early)
    assert not [i for i in items if i["status"] in ("overdue", "missed") and i["due_nominal"] < "2018-12-07"]
    table = cli("status", "--obligation", "aid-funds", "--year", "2018", "--as-of", "2026-12-07")
    assert "文件印发前" in table.stdout and "鹿城区" in table.stdout


def test_two_sides_reporting_one_meeting_give_one_of_two_and_the_reminders_go_on(cli):
    assert cli("init", "--as-of", "2026-03-02").exit_code == 0
    for side in ("平阳县", "乐清市"):
        done = cli("record", "joint-meeting", "--scope", "平阳-乐清", "--date", "2026-03-10", "--as-of", "2026-03-11",
                   "--note", f"{side}填报")
        assert done.exit_code == 0, done.output
    status = json.loads(cli("status", "--json", "--obligation", "joint-meeting", "--scope", "平阳-乐清",
                            "--as-of", "2027-01-05").stdout)
    assert [(i["progress"], i["status"]) for i in status if i["period"] == "2026"] == [
        ({"done": 1, "required": 2}, "overdue")
    ]
    records = json.loads(cli("records", "--json", "--obligation", "joint-meeting").stdout)
    ids = sorted(r["id"] for r in records)
    assert {r["id"]: r["same_event"] for r in records} == {ids[0]: [ids[1]], ids[1]: [ids[0]]}
    listed = cli("records", "--obligation", "joint-meeting")
    assert "同一活动" in listed.stdout
    remind = json.loads(cli("remind", "--dry-run", "--json", "--as-of", "2027-01-05").stdout)
    reminded = {m["recipient"] for m in remind for i in m["items"] if i["obligation"] == "joint-meeting"
                and i["scope"] == "平阳-乐清"}
    assert {"平阳县", "乐清市"} <= reminded


def test_a_quantity_is_refused_for_a_year_it_did_not_happen_in_and_a_late_report_says_so(cli, tmp_path):
    catalogue = make_catalogue(tmp_path / "cat", [industrial_investment(), joint_meeting()])
    assert cli("init", "--as-of", "2026-01-05", catalogue_dir=catalogue).exit_code == 0
    refused = cli("record", "industrial-investment", "--scope", "全市", "--date", "2026-02-01", "--amount", "10亿元",
                  "--category", "八大产业", "--period", "2025", "--as-of", "2026-02-10", catalogue_dir=catalogue)
    assert refused.exit_code != 0
    assert "--date" in refused.output and "不在 2025 年度内" in refused.output and "未保存" in refused.output
    late = cli("record", "industrial-investment", "--scope", "全市", "--date", "2025-12-20", "--amount", "10亿元",
               "--category", "八大产业", "--as-of", "2026-02-10", catalogue_dir=catalogue)
    assert late.exit_code == 0, late.output
    assert "补报" in late.stdout and "2025 期次" in late.stdout
    [rec] = json.loads(cli("records", "--json", catalogue_dir=catalogue).stdout)
    assert rec["period"] == "2025" and rec["reported_late"]
    items = json.loads(cli("status", "--json", "--all", "--obligation", "industrial-investment",
                           "--as-of", "2026-02-10", catalogue_dir=catalogue).stdout)
    amounts = {i["period"]: i["progress"]["amount"] for i in items}
    assert amounts == {"2025": 10, "2026": 0}


# --------------------------------------------------------------------------- end to end: the portal


@pytest.fixture
def real_portal(tmp_path, database_url):
    """The document's catalogue on a home with no records, tracked from 2018, seen on 2026-12-07."""
    from shanhai.models.installation import set_tracking_from
    from shanhai.portal.app import create_app

    clock = Clock(at(2026, 12, 7, 10))
    app = make_app(tmp_path / "home", database_url, REAL_CATALOGUE, sync_at=clock.now,
                   prefect_ui_url="http://127.0.0.1:9")
    with app.session() as session:
        set_tracking_from(session=session, tracking_from=date(2018, 1, 1), actor="test")
    return PortalEnv(app=app, client=TestClient(create_app(app, clock=clock)), clock=clock,
                     database_url=database_url)


def unit_rows(html: str) -> dict[str, list[str]]:
    """The overdue view's by-unit table: unit -> its cells (years, then the total)."""
    table = html.split('id="by-unit"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for name, cells in re.findall(r'<th class="sticky" scope="row">([^<]+)</th>(.*?)</tr>', table, re.S):
        rows[name] = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
    return rows


def test_the_overdue_view_charges_the_accountable_unit_by_period_and_never_history(real_portal):
    page = real_portal.supervisor().get("/overdue")
    assert page.status_code == 200
    rows = unit_rows(page.text)
    ten = ["泰顺县", "鹿城区", "文成县", "瑞安市", "平阳县", "乐清市", "苍南县", "龙湾区", "永嘉县", "瓯海区"]
    assert set(ten) <= set(rows)
    head = page.text.split('id="by-unit"', 1)[1].split("</thead>", 1)[0]
    years = re.findall(r"<th>(\d{4})</th>", head)
    assert years[0] == "2018" and years[-1] == "2026"
    # 2018: the only red items of a home with no records are those due on or after 2018-12-07
    with real_portal.app.session() as session:
        from shanhai.models.store import OccurrenceFilter, load_evaluations

        pairs = load_evaluations(session=session, as_of=real_portal.clock.now, cal=real_portal.app.calendar,
                                 flt=OccurrenceFilter(everything=True))
    red_2018 = [(o, e) for o, e in pairs if o.period.startswith("2018") and e.light is Light.RED]
    assert red_2018 and all((o.requirement.due_nominal or o.due) >= date(2018, 12, 7) for o, _ in red_2018)
    for unit in ten:
        expected = sum(1 for o, e in red_2018 if unit in e.accountable)
        assert int(rows[unit][0] or 0) == expected, unit
    # 鹿城区's missed 帮扶资金 is listed under 鹿城区 and not 泰顺县
    open_list = page.text.split('id="open"', 1)[1]
    aid_rows = [r for r in open_list.split("<tr>") if "年度帮扶资金" in r and "泰顺-鹿城" in r]
    assert aid_rows and all('data-label="责任单位">鹿城区<' in r for r in aid_rows)
    taishun_total = int(rows["泰顺县"][-1])
    lucheng_total = int(rows["鹿城区"][-1])
    aid = [e for o, e in pairs if o.obligation_id == "aid-funds" and o.scope == "泰顺-鹿城" and e.light is Light.RED]
    shared = sum(1 for o, e in pairs if e.light is Light.RED and {"泰顺县", "鹿城区"} <= set(e.accountable))
    only_taishun = sum(1 for o, e in pairs if e.light is Light.RED and "泰顺县" in e.accountable)
    assert taishun_total == only_taishun and lucheng_total >= shared + len(aid)


def test_a_home_with_no_records_shows_no_red_item_due_before_the_document(real_portal):
    client = real_portal.coordinator()
    board = client.get("/?year=2018")
    assert board.status_code == 200
    cells = re.findall(r'<td class="cell cell-(\w+)" data-status="(\w+)" data-scope="([^"]+)" '
                       r'data-obligation="aid-funds">', board.text)
    assert cells and all(light == "grey" and status == "history" for light, status, _ in cells)
    assert "文件印发前" in board.text
    from tests.conftest import occurrence_id

    early = client.get(f"/occurrences/{occurrence_id(real_portal.app, 'aid-funds', '泰顺-鹿城', '2018')}").text
    assert "文件印发前：该期次的期限早于文件施行之日" in early and "light-red" not in early
    assert 'class="accountable"><a href="/units/lucheng">鹿城区</a></dd>' in early
    lucheng = client.get("/units/lucheng")
    assert lucheng.status_code == 200
    aid = [r for r in lucheng.text.split("<tr>") if "年度帮扶资金" in r and "泰顺-鹿城" in r]
    assert aid and "配合" not in aid[0] and "light-red" in aid[0]


def test_the_review_queue_and_the_occurrence_page_mark_the_two_reports_of_one_meeting(tmp_path, database_url):
    from tests.portal_support import make_portal

    portal = make_portal(tmp_path, database_url)
    first = make_record(portal.app, "joint-meeting", "泰顺-鹿城", "2026-03-10", note="泰顺县报", actor="泰顺县")
    second = make_record(portal.app, "joint-meeting", "泰顺-鹿城", "2026-03-10", note="鹿城区报", actor="鹿城区")
    other = make_record(portal.app, "joint-meeting", "泰顺-鹿城", "2026-05-10")
    client = portal.coordinator()
    queue = client.get("/queue").text
    rows = {int(n): body for n, body in re.findall(r'<tr data-record="(\d+)">(.*?)</tr>', queue, re.S)}
    assert f"同一活动，另见 #{second}（鹿城区）；计为 1 次" in rows[first]
    assert f"同一活动，另见 #{first}（泰顺县）；计为 1 次" in rows[second]
    assert "同一活动" not in rows[other]
    page = client.get(f"/occurrences/{portal.occurrence('joint-meeting')}").text
    assert page.count("同一活动，另见") == 2 and "进度 2/2" in page  # 03-10 once, 05-10 once
    listing = client.get("/records?obligation=joint-meeting").text
    assert listing.count("同一活动，另见") == 2 and f"同一活动，另见 #{first}；计为 1 次" in listing


def test_an_installation_learns_that_past_occurrences_precede_its_document(tmp_path, database_url):
    """Past occurrences are frozen history, except those due before their document took effect: a sync
    after the catalogue gains `effective_from` makes them grey history, and leaves the others alone."""
    from tests.conftest import status_of

    plan = make_obligation("next-year-plan", "annual_deadline", title="下一年度合作计划备案", due="03-31")
    catalogue = make_catalogue(tmp_path / "cat", [plan])
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2026, 6, 1))
    assert status_of(app, "next-year-plan", "泰顺-鹿城", "2026", as_of=at(2026, 6, 1)).status is Status.OVERDUE
    make_catalogue(tmp_path / "cat", [plan], document={**DOCUMENT, "effective_from": date(2026, 4, 30)})
    later = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2026, 6, 2))
    ev = status_of(later, "next-year-plan", "泰顺-鹿城", "2026", as_of=at(2026, 6, 2))
    assert (ev.status, ev.history, ev.label) == (Status.HISTORY, History.BEFORE_DOCUMENT, "文件印发前")
    assert status_of(later, "next-year-plan", "泰顺-鹿城", "2027", as_of=at(2027, 6, 2)).history is None

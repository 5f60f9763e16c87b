"""The portal's pages: the board and its previews (read-only), the Excel and ICS downloads, the
occurrence and unit pages, the supervisors' overdue view, the message preview, the Prefect link."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from shanhai.models.tables import AuditEntry, CatalogueState, Occurrence, OutboxItem, OutboxMessage
from tests.conftest import count_rows, make_record
from tests.portal_support import make_portal


@pytest.fixture
def portal(tmp_path, database_url):
    return make_portal(tmp_path, database_url)


def stored_state(portal) -> tuple:
    with portal.app.session() as session:
        state = session.get(CatalogueState, "catalogue")
    return (
        state.high_water,
        state.through_year,
        count_rows(portal.database_url, Occurrence),
        count_rows(portal.database_url, AuditEntry),
        count_rows(portal.database_url, OutboxMessage),
    )


# --------------------------------------------------------------------------- the board


def test_the_board_shows_each_cell_with_its_light_progress_and_effective_due_date(portal):
    client = portal.coordinator()
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "督办总览 · 2026 年" in text
    for group in ("结对", "产业园", "全市"):
        assert f'class="group">{group}</th>' in text
    assert 'data-status="due_soon" data-scope="泰顺-鹿城" data-obligation="next-year-plan"' in text
    assert 'data-status="behind_pace" data-scope="永嘉-瓯海" data-obligation="joint-meeting"' in text
    assert "0/2" in text and "0/40 亿元" in text and "10-31" in text


def test_a_record_changes_the_board_cell(portal):
    make_record(portal.app, "industrial-investment", "全市", "2026-10-10", amount_fen=23_5000_0000_00,
                category="八大产业", as_of=portal.clock.now)
    page = portal.coordinator().get("/")
    assert "23.5/40 亿元" in page.text


def test_the_board_of_another_year_and_a_previewed_date_change_nothing_stored(portal):
    client = portal.coordinator()
    client.get("/")
    before = stored_state(portal)
    past = client.get("/?year=2025&as_of=2025-12-01")
    future = client.get("/?year=2027&as_of=2027-11-30")
    assert past.status_code == future.status_code == 200
    assert "督办总览 · 2025 年" in past.text and "预览" in past.text
    # tracking started on 2026-01-01 (the first sync): 2025's overdue plan is history, grey, not red
    assert 'data-status="history" data-scope="泰顺-鹿城" data-obligation="next-year-plan"' in past.text
    assert "纳入跟踪前" in past.text and 'data-status="overdue"' not in past.text
    assert "督办总览 · 2027 年" in future.text
    # no notice for 2027 yet: its dates come from the provisional calendar and say so
    assert "2027年的国务院办公厅节假日安排尚未导入" in future.text and "临时日历" not in past.text
    assert '<a href="?year=2025">回到今天</a>' in past.text  # back to today, on the year being looked at
    assert stored_state(portal) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [("year=20x6", "年度“20x6”无效"), ("year=9999", "年度“9999”无效"), ("as_of=2026-02-30", "无法识别"),
     ("as_of=P1D", "无法识别")],
)
def test_a_bad_year_or_date_is_a_clear_422(portal, query, message):
    page = portal.coordinator().get(f"/?{query}")
    assert page.status_code == 422 and message in page.text


def test_the_board_downloads_as_excel_with_the_grid_and_the_rows(portal):
    response = portal.coordinator().get("/export.xlsx?year=2026")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["总览", "状态"]
    grid = wb["总览"]
    header = [c.value for c in grid[1]]
    assert header[:2] == ["事项", "条款"] and "泰顺-鹿城" in header
    titles = [row[0].value for row in grid.iter_rows(min_row=2)]
    assert "下一年度合作计划备案" in titles
    sheet = wb["状态"]
    assert str(sheet["A1"].value).startswith("山海协作工程督办状态 截至"), "the same sheet as `shanhai export`"
    header, *rows = list(sheet.iter_rows(min_row=2, values_only=True))
    found = [dict(zip(header, r, strict=True)) for r in rows]
    assert any(r["事项"] == "下一年度合作计划备案" and r["范围"] == "泰顺-鹿城" and r["状态"] == "即将到期" for r in found)


# --------------------------------------------------------------------------- units, occurrences, overdue


def test_the_unit_page_shows_what_it_owes_next_and_its_messages(portal):
    from shanhai.notifications.checking import check_obligation

    check_obligation(portal.app, None, as_of=portal.clock.now)  # queue today's reminders
    page = portal.coordinator().get("/units/taishun")
    assert page.status_code == 200
    # Saturday 10-31 rolls forward to Monday 11-02 (顺延)
    assert "下一个期限：<b>2026-11-02（周一）</b> 下一年度合作计划备案" in page.text
    assert "收到的消息" in page.text and "【山海协作】" in page.text


def test_a_unit_leads_what_it_leads_and_is_marked_co_responsible_for_the_rest(portal):
    from shanhai.models.pages import unit_view

    items = unit_view(portal.app, unit_name="泰顺县", as_of=portal.clock.now)
    lead = {i["obligation"]: i["lead"] for i in items}
    assert lead["next-year-plan"] is True
    assert lead["industrial-investment"] is False  # 市招商局 leads it; the pairing's sides are 配合
    plan = next(i for i in items if i["obligation"] == "next-year-plan")
    assert plan["nominal_due"] == "2026-10-31" and plan["due"] == "2026-11-02"  # the stored nominal date
    page = portal.coordinator().get("/units/taishun").text
    assert "原定 2026-10-31（周六），顺延" in page
    assert page.count("· 配合（责任单位：") == sum(1 for i in items if not i["lead"]) >= 1
    assert "· 配合（责任单位：市招商局（经合办））</small>" in page  # who owes what it only co-owns


def test_an_occurrence_not_started_yet_is_evaluated_with_its_waiver(portal):
    from shanhai.models.pages import occurrence_evaluation
    from shanhai.models.records import waive_occurrence
    from shanhai.models.statuses import Status

    future = portal.occurrence(period="2027")
    with portal.app.session() as session:
        waive_occurrence(session=session, occurrence_id=future, reason="计划调整", actor="jinghe")
    row, ev = occurrence_evaluation(portal.app, occurrence_id=future, as_of=portal.clock.now)
    assert row.id == future and row.period_start.year == 2027
    assert ev.status is Status.WAIVED
    assert occurrence_evaluation(portal.app, occurrence_id=999_999, as_of=portal.clock.now) is None

def test_the_unit_calendar_is_a_subscribable_ics_feed(portal):
    response = portal.coordinator().get("/units/taishun/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    body = response.text
    assert body.startswith("BEGIN:VCALENDAR") and "下一年度合作计划备案" in body.replace("\r\n ", "")
    assert "DTSTART;VALUE=DATE:20261102" in body  # the effective due date (Saturday 10-31 rolled)


def test_an_unknown_unit_or_occurrence_is_a_chinese_404(portal):
    client = portal.coordinator()
    assert "没有代码为" in client.get("/units/nowhere").text
    page = client.get("/occurrences/999999")
    assert page.status_code == 404 and "期次不存在" in page.text
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "页面不存在" in page.text


def test_the_occurrence_page_shows_records_history_messages_and_the_clause(portal):
    from shanhai.notifications.checking import check_obligation

    check_obligation(portal.app, None, as_of=portal.clock.now)
    link = portal.link()
    clerk = portal.fresh_client()
    assert clerk.post(f"{link}/ack", data=portal.report_form(link, "ack", client=clerk)).status_code == 200
    portal.submit_record(link, client=clerk, note="已报备")
    client = portal.coordinator()
    page = client.get(f"/occurrences/{portal.occurrence()}")
    assert page.status_code == 200
    text = page.text
    assert "下一年度合作计划备案" in text and "测试〔2026〕1号 一(一)" in text
    assert "已报备" in text and "待核验" in text and "提交记录" in text
    assert "已发消息" in text and "泰顺县" in text and "到期前30天" in text
    assert "泰顺县 已签收 于 2026-10-20 10:00（到期前30天）" in text  # the stage's label, from the ladder
    assert "Prefect 部署列表" in text  # no Prefect server here: the link falls back to the list


class _FakePrefect(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        # the check deployment is named by the obligation's title, in Chinese (percent-encoded in the path)
        if self.path == f"/api/deployments/name/{quote('职责检查')}/{quote('下一年度合作计划备案')}":
            body = json.dumps({"id": "0b1c2d3e-0000-4000-8000-000000000001", "name": "next-year-plan"}).encode()
            self.send_response(200)
        else:
            body = b'{"detail": "Deployment not found"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_prefect_link_goes_to_the_obligations_deployment_page(tmp_path, database_url):
    from shanhai.portal.prefect_link import clear_cache, deployment_link

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakePrefect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ui = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        clear_cache()
        portal = make_portal(tmp_path, database_url, prefect_ui_url=ui)
        page = portal.coordinator().get(f"/occurrences/{portal.occurrence()}")
        assert f'href="{ui}/deployments/deployment/0b1c2d3e-0000-4000-8000-000000000001"' in page.text
        missing = deployment_link(ui, "no-such-obligation")
        assert (missing.url, missing.exact) == (f"{ui}/deployments", False)
    finally:
        server.shutdown()
        clear_cache()
    unreachable = deployment_link(ui, "next-year-plan-gone")  # the server is down now
    assert unreachable.url == f"{ui}/deployments" and not unreachable.exact


def test_the_overdue_view_counts_red_occurrences_by_accountable_unit_and_year(portal):
    client = portal.supervisor()
    page = client.get("/overdue?as_of=2027-01-15")
    assert page.status_code == 200
    text = page.text
    assert "按责任单位" in text and "泰顺县" in text and "永嘉县" in text and "鹿城区" in text
    assert "按事项" in text and "下一年度合作计划备案" in text
    assert "逾期清单" in text and text.count('class="light light-red"') >= 2


# --------------------------------------------------------------------------- the message preview


def test_the_message_preview_shows_the_messages_and_stores_nothing(portal):
    client = portal.coordinator()
    client.get("/")
    before = stored_state(portal)
    page = client.get("/queue/preview?date=2026-11-02")
    assert page.status_code == 200
    assert "未保存、未发送" in page.text and "泰顺县" in page.text and "下一年度合作计划备案" in page.text
    assert "牵头单位 ·" in page.text and ">lead" not in page.text and " lead ·" not in page.text
    assert stored_state(portal) == before
    assert count_rows(portal.database_url, OutboxItem) == 0
    assert client.get("/queue/preview?date=2026-13-01").status_code == 422


def test_the_outbox_and_its_deliveries_show_in_the_queue(portal):
    from shanhai.notifications.checking import check_obligation

    check_obligation(portal.app, None, as_of=portal.clock.now)
    page = portal.coordinator().get("/queue")
    assert "发件箱" in page.text and "本地发件箱 未外发（未配置发送渠道）" in page.text
    assert " local<" not in page.text and " local，" not in page.text  # no raw delivery state
    unit_page = portal.coordinator().get("/units/taishun").text
    assert "本地发件箱 未外发（未配置发送渠道）" in unit_page
    with portal.app.session() as session:
        first = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().first()
    assert first.recipient in page.text


@pytest.mark.parametrize(("path", "name"), [("/occurrences/abc", "期次编号"), ("/records/x1/evidence", "记录编号")])
def test_a_malformed_id_in_the_address_is_named_in_chinese(portal, path, name):
    page = portal.coordinator().get(path)
    assert page.status_code == 422 and f"{name}无法识别" in page.text
    assert "occurrence_id" not in page.text and "record_id" not in page.text


def test_an_unexpected_error_is_a_chinese_500_page(tmp_path, database_url):
    from fastapi.testclient import TestClient

    portal = make_portal(tmp_path, database_url)
    client = TestClient(portal.client.app, raise_server_exceptions=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    original = portal.app.calendar.working_days_between
    portal.app.calendar.working_days_between = broken  # the link page needs it
    try:
        page = client.get(portal.link())
    finally:
        portal.app.calendar.working_days_between = original
    assert page.status_code == 500 and "服务器出错" in page.text and "未保存任何内容" in page.text
    # the same security headers as every other page (the link's token is in the URL: no referrer)
    ok = client.get(portal.link())
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy",
                 "cache-control"):
        assert page.headers.get(name) == ok.headers[name], name

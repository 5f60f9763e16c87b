"""The coordinator's portal: a records page to search, filter and page through (CSV beside it), a
confirmation after 核验通过/退回 with a link to the record, and a help page per role."""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import make_record
from tests.portal_support import csrf_of, make_portal

PAIR = "泰顺-鹿城"


@pytest.fixture
def portal(tmp_path, database_url):
    env = make_portal(tmp_path, database_url)
    make_record(env.app, "joint-meeting", PAIR, "2026-03-10", note="第一次联席会议")
    make_record(env.app, "joint-meeting", "永嘉-瓯海", "2026-04-02", note="永嘉瓯海会议")
    make_record(env.app, "joint-meeting", PAIR, "2025-06-01", note="去年的会议", period="2025")
    return env


def _ids(page) -> list[int]:
    import re

    assert page.status_code == 200, page.text
    return [int(i) for i in re.findall(r'<tr data-record="(\d+)"', page.text)]


def test_the_records_page_finds_a_record_by_its_words_scope_state_and_year(portal):
    client = portal.coordinator()
    assert len(_ids(client.get("/records"))) == 3
    assert len(_ids(client.get("/records", params={"q": "永嘉瓯海"}))) == 1
    assert len(_ids(client.get("/records", params={"scope": PAIR}))) == 2
    assert len(_ids(client.get("/records", params={"scope": PAIR, "year": "2025"}))) == 1
    assert _ids(client.get("/records", params={"state": "verified"})) == []
    refused = client.get("/records", params={"year": "26"})
    assert refused.status_code == 422 and "年度应为四位数字" in refused.text
    unknown = client.get("/records", params={"scope": "火星"})
    assert unknown.status_code == 422 and "未知的范围" in unknown.text


def test_the_records_page_pages_through_many_records(portal, monkeypatch):
    from shanhai.portal import records

    monkeypatch.setattr(records, "PAGE_SIZE", 2)
    client = portal.coordinator()
    first, second = client.get("/records"), client.get("/records", params={"page": 2})
    assert len(_ids(first)) == 2 and len(_ids(second)) == 1
    assert set(_ids(first)).isdisjoint(_ids(second))
    assert "第 1/2 页" in first.text and "下一页" in first.text


def test_the_records_csv_has_the_filtered_records_with_chinese_headers(portal):
    response = portal.supervisor().get("/records.csv", params={"scope": PAIR})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode()), "a BOM, so Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["记录#", "期次#", "事项"]
    assert sorted(r[rows[0].index("说明")] for r in rows[1:]) == ["去年的会议", "第一次联席会议"]


def test_the_records_page_needs_an_account(portal):
    assert portal.fresh_client().get("/records", follow_redirects=False).status_code in (303, 401)


def test_a_review_is_confirmed_with_a_link_to_the_record(portal):
    client = portal.coordinator()
    queue = client.get("/queue")
    record = _ids(queue)[0]
    done = client.post(f"/records/{record}/reject", data={"csrf": csrf_of(queue.text), "next": "/queue",
                                                        "reason": "纪要缺少签到表"})
    assert done.status_code == 200
    assert f"已退回记录 #{record}" in done.text and "纪要缺少签到表" in done.text
    assert f"#record-{record}" in done.text, "a link to the record"
    assert done.url.path == "/queue"
    # the address alone says nothing: the words come from the record, reviewed or not
    assert "已核验通过记录" not in client.get(f"/queue?reviewed={_ids(client.get('/queue'))[0]}").text


def test_the_help_page_has_a_section_per_role_and_needs_no_account(portal):
    page = portal.fresh_client().get("/help")
    assert page.status_code == 200
    for section in ('id="clerk"', 'id="coordinator"', 'id="supervisor"', "签收", "核验通过", "逾期督办"):
        assert section in page.text


def test_the_records_page_filtered_to_pending_is_a_queue_with_review_forms(portal):
    client = portal.coordinator()
    page = client.get("/records", params={"state": "submitted", "scope": PAIR})
    assert page.status_code == 200 and "核验通过" in page.text
    record = _ids(page)[0]
    done = client.post(f"/records/{record}/verify", data={"csrf": csrf_of(page.text),
                                                         "next": f"/records?state=submitted&scope={PAIR}"})
    assert done.status_code == 200 and f"已核验通过记录 #{record}" in done.text
    assert record not in _ids(done), "the filters are kept and the record has left the pending list"
    assert "核验通过" not in portal.supervisor().get("/records").text, "a supervisor only reads"


def test_the_outbox_page_finds_messages_by_recipient_kind_and_title(portal, monkeypatch):
    from shanhai.notifications.checking import check_obligation
    from shanhai.portal import outbox_page

    check_obligation(portal.app, None, as_of=portal.clock.now)  # queue the day's reminders
    client = portal.coordinator()
    everything = client.get("/outbox")
    assert everything.status_code == 200
    total = everything.text.count("data-message=")
    assert total >= 2
    only = client.get("/outbox", params={"recipient": "泰顺县"})
    assert 1 <= only.text.count("data-message=") < total and "→ <b>泰顺县</b>" in only.text
    assert client.get("/outbox", params={"q": "没有这样的标题"}).text.count("data-message=") == 0
    assert client.get("/outbox", params={"kind": "nonsense"}).status_code == 422
    monkeypatch.setattr(outbox_page, "PAGE_SIZE", 1)
    second = client.get("/outbox", params={"page": 2})
    assert second.text.count("data-message=") == 1 and "上一页" in second.text
    assert portal.supervisor().get("/outbox", follow_redirects=False).status_code in (403, 303)


def test_the_overdue_list_is_filtered_by_unit_duty_and_year_and_paged(portal, monkeypatch):
    import re

    from shanhai.portal import overdue

    client = portal.supervisor()

    def listed(**params) -> list[int]:
        page = client.get("/overdue", params={"as_of": "2027-01-15", **params})
        assert page.status_code == 200, page.text
        return [int(i) for i in re.findall(r'<tr data-occurrence="(\d+)"', page.text)]

    everything = listed()
    assert everything, "the preview date has overdue duties"
    taishun = listed(unit="泰顺县")
    assert taishun and set(taishun) <= set(everything)
    assert listed(unit="没有这个单位") == []
    assert listed(obligation="next-year-plan") and set(listed(obligation="next-year-plan")) <= set(everything)
    assert listed(year="1999") == []
    monkeypatch.setattr(overdue, "PAGE_SIZE", 1)
    assert len(listed()) == 1 and listed(page=2) != listed(page=1)

"""Accounts on the web: login and its rate limit (shared through the database), sessions, CSRF, roles,
the coordinator's review and waivers, and the audit log of every action."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shanhai.models.accounts import LoginAttempt, User
from shanhai.models.tables import AuditEntry, CompletionRecord, Waiver
from tests.conftest import count_rows
from tests.portal_support import PASSWORD, PDF, csrf_of, make_portal


@pytest.fixture
def portal(tmp_path, database_url):
    return make_portal(tmp_path, database_url)


def audit(portal, action: str) -> list[AuditEntry]:
    with portal.app.session() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def submitted_record(portal, **fields) -> int:
    link = portal.link(**fields)
    sent = portal.submit_record(link, client=portal.fresh_client(),
                                files={"evidence": ("回执.pdf", PDF, "application/pdf")})
    assert sent.status_code == 303, sent.text
    return int(sent.headers["location"].rsplit("/", 1)[-1])


# --------------------------------------------------------------------------- login


def test_pages_need_an_account_and_send_visitors_to_the_login_page(portal):
    for path in ("/", "/queue", "/overdue", f"/occurrences/{portal.occurrence()}", "/units/taishun", "/export.xlsx"):
        page = portal.client.get(path, follow_redirects=False)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/login?next=")


def test_a_coordinator_logs_in_sees_the_board_and_the_login_is_audited(portal):
    portal.add_user("jinghe", "coordinator")
    done = portal.login("jinghe")
    assert done.status_code == 303 and done.headers["location"] == "/"
    board = portal.client.get("/")
    assert board.status_code == 200 and "督办总览" in board.text and "jinghe" in board.text
    [entry] = audit(portal, "login.succeeded")
    assert entry.actor == "jinghe" and json.loads(entry.detail)["address"] == "testclient"


def test_a_wrong_password_is_refused_and_audited(portal):
    portal.add_user("jinghe", "coordinator")
    page = portal.login("jinghe", "wrong password!")
    assert page.status_code == 401 and "账号或密码错误" in page.text
    assert portal.client.get("/", follow_redirects=False).status_code == 303
    assert [e.actor for e in audit(portal, "login.failed")] == ["jinghe"]


def test_the_password_is_stored_as_an_argon2_hash(portal):
    portal.add_user("jinghe", "coordinator")
    with portal.app.session() as session:
        user = session.execute(select(User)).scalar_one()
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_the_login_form_needs_its_csrf_token(portal):
    portal.add_user("jinghe", "coordinator")
    page = portal.client.post("/login", data={"name": "jinghe", "password": PASSWORD, "csrf": "forged"})
    assert page.status_code == 403
    assert portal.client.get("/", follow_redirects=False).status_code == 303


def test_five_failures_for_a_name_lock_it_for_fifteen_minutes_across_portal_processes(tmp_path, database_url):
    from shanhai.portal.app import create_app

    portal = make_portal(tmp_path, database_url)
    portal.add_user("jinghe", "coordinator")
    for _ in range(5):
        assert portal.login("jinghe", "wrong password!").status_code == 401
    # another portal process on the same database counts the same failures
    other = TestClient(create_app(portal.app, clock=portal.clock))
    locked = portal.login("jinghe", client=other)
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.text and "15 分钟" in locked.text
    assert int(locked.headers["retry-after"]) == 900
    assert other.get("/", follow_redirects=False).status_code == 303
    portal.clock.advance(minutes=15, seconds=1)
    assert portal.login("jinghe", client=other).status_code == 303
    assert audit(portal, "login.refused")


def test_failures_from_one_address_lock_it_whatever_the_name(portal):
    from shanhai.models.accounts import MAX_FAILURES_PER_ADDRESS

    portal.add_user("jinghe", "coordinator")
    for i in range(MAX_FAILURES_PER_ADDRESS):
        assert portal.login(f"guess{i}", "wrong password!").status_code == 401
    assert portal.login("jinghe").status_code == 429
    assert count_rows(portal.database_url, LoginAttempt) == MAX_FAILURES_PER_ADDRESS


def test_a_disabled_account_is_logged_out_at_once(portal):
    from shanhai.models.accounts import set_active

    client = portal.coordinator()
    assert client.get("/").status_code == 200
    with portal.app.session() as session:
        set_active(session=session, name="jinghe", active=False, actor="test")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert portal.login("jinghe").status_code == 401


def test_logout_ends_the_session(portal):
    client = portal.coordinator()
    page = client.get("/")
    assert client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def stolen_cookie(portal, client):
    """A second browser holding a copy of the client's session cookie."""
    thief = portal.fresh_client()
    thief.cookies.set("shanhai_session", client.cookies["shanhai_session"])
    return thief


def test_a_copied_session_cookie_is_refused_after_logout_and_stores_nothing(portal):
    record = submitted_record(portal)
    client = portal.coordinator()
    csrf = csrf_of(client.get("/queue").text)
    thief = stolen_cookie(portal, client)
    assert thief.get("/queue").status_code == 200  # the copy works while the session is open
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    refused = thief.post(f"/records/{record}/reject", data={"csrf": csrf, "reason": "冒用会话"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    with portal.app.session() as session:
        assert session.get(CompletionRecord, record).state == "submitted"
    assert audit(portal, "record.rejected") == []
    assert thief.get("/queue", follow_redirects=False).status_code == 303


def test_logging_out_in_one_browser_leaves_the_accounts_other_sessions_open(portal):
    client = portal.coordinator()
    other = portal.fresh_client()
    assert portal.login("jinghe", client=other).status_code == 303
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    assert other.get("/queue").status_code == 200


def test_disabling_an_account_ends_its_sessions_for_good(portal):
    from shanhai.models.accounts import set_active

    client = portal.coordinator()
    thief = stolen_cookie(portal, client)
    with portal.app.session() as session:
        set_active(session=session, name="jinghe", active=False, actor="test")
    with portal.app.session() as session:
        set_active(session=session, name="jinghe", active=True, actor="test")
    # enabled again, the account needs a new login: the sessions from before are gone
    for browser in (client, thief):
        assert browser.get("/queue", follow_redirects=False).status_code == 303
    assert portal.login("jinghe").status_code == 303


def test_a_password_change_ends_every_session_of_the_account(portal, tmp_path):
    from tests.conftest import run_cli

    client = portal.coordinator()
    thief = stolen_cookie(portal, client)
    changed = run_cli(["user", "passwd", "jinghe", "--password-stdin"], home=tmp_path / "home",
                      database_url=portal.database_url, catalogue_dir=tmp_path / "cat",
                      input="a brand new passphrase\n")
    assert changed.exit_code == 0, changed.output
    assert "原有登录会话已全部失效" in changed.output
    for browser in (client, thief):
        assert browser.get("/queue", follow_redirects=False).status_code == 303
    assert portal.login("jinghe").status_code == 401
    assert portal.login("jinghe", "a brand new passphrase").status_code == 303
    [entry] = audit(portal, "user.password_changed")
    assert json.loads(entry.detail)["sessions_ended"] == 1


def test_the_login_page_never_redirects_off_site(portal):
    portal.add_user("jinghe", "coordinator")
    page = portal.client.get("/login")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        done = portal.client.post(
            "/login", data={"name": "jinghe", "password": PASSWORD, "csrf": csrf_of(page.text), "next": target},
            follow_redirects=False,
        )
        assert done.headers["location"] == "/"
        page = portal.client.get("/login")


# --------------------------------------------------------------------------- roles and review


def test_a_supervisor_may_look_but_not_verify_reject_or_waive(portal):
    record = submitted_record(portal)
    client = portal.supervisor()
    assert client.get("/").status_code == 200
    assert client.get("/overdue").status_code == 200
    assert client.get("/queue").status_code == 403
    csrf = csrf_of(client.get("/").text)
    for path, data in (
        (f"/records/{record}/verify", {}),
        (f"/records/{record}/reject", {"reason": "不行"}),
        (f"/occurrences/{portal.occurrence()}/waive", {"reason": "不行"}),
        ("/queue/waive", {"occurrence_id": str(portal.occurrence()), "reason": "不行"}),
    ):
        page = client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
        assert page.status_code == 403, path
        assert "无权限" in page.text
    with portal.app.session() as session:
        assert session.get(CompletionRecord, record).state == "submitted"
    assert count_rows(portal.database_url, Waiver) == 0


def test_the_coordinator_verifies_a_record_once(portal):
    record = submitted_record(portal)
    client = portal.coordinator()
    queue = client.get("/queue")
    assert queue.status_code == 200 and "回执.pdf" in queue.text and f'data-record="{record}"' in queue.text
    evidence = client.get(f"/records/{record}/evidence")
    assert evidence.status_code == 200 and evidence.content == PDF
    csrf = csrf_of(queue.text)
    assert client.post(f"/records/{record}/verify", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    again = client.post(f"/records/{record}/reject", data={"csrf": csrf, "reason": "晚了"}, follow_redirects=False)
    assert again.status_code == 409 and f"记录 #{record} 已于" in again.text and "由 jinghe 核验通过" in again.text
    with portal.app.session() as session:
        rec = session.get(CompletionRecord, record)
    assert (rec.state, rec.reviewed_by) == ("verified", "jinghe")
    assert [e.actor for e in audit(portal, "record.verified")] == ["jinghe"]



def test_of_two_coordinators_reviewing_at_once_one_wins_and_the_other_gets_409(portal):
    from tests.conftest import in_parallel

    record = submitted_record(portal)
    clients = {}
    for name in ("jinghe", "wangli"):
        portal.add_user(name, "coordinator")
        clients[name] = portal.fresh_client()
        assert portal.login(name, client=clients[name]).status_code == 303
    forms = {name: csrf_of(c.get("/queue").text) for name, c in clients.items()}
    order = iter(clients)
    lock = threading.Lock()

    def attempt():
        with lock:
            name = next(order)
        verdict = "verify" if name == "jinghe" else "reject"
        answer = clients[name].post(f"/records/{record}/{verdict}", data={"csrf": forms[name], "reason": "并发"},
                                    follow_redirects=False)
        return name, answer.status_code, answer.text

    results = in_parallel(2, attempt)
    assert sorted(code for _, code, _ in results) == [303, 409], [(n, c) for n, c, _ in results]
    [winner] = [name for name, code, _ in results if code == 303]
    [loser_page] = [text for _, code, text in results if code == 409]
    assert f"记录 #{record} 已于" in loser_page and f"由 {winner}" in loser_page
    with portal.app.session() as session:
        assert session.get(CompletionRecord, record).reviewed_by == winner
    assert len(audit(portal, "record.verified") + audit(portal, "record.rejected")) == 1

def test_a_rejection_needs_a_reason_which_reaches_the_unit(portal):
    record = submitted_record(portal)
    client = portal.coordinator()
    csrf = csrf_of(client.get("/queue").text)
    refused = client.post(f"/records/{record}/reject", data={"csrf": csrf, "reason": "  "}, follow_redirects=False)
    assert refused.status_code == 422 and "须说明理由" in refused.text
    done = client.post(
        f"/records/{record}/reject", data={"csrf": csrf, "reason": "缺少备案回执盖章页"}, follow_redirects=False
    )
    assert done.status_code == 303
    clerk = portal.fresh_client()
    link_page = clerk.get(portal.link())
    assert "退回理由：缺少备案回执盖章页" in link_page.text
    assert "退回理由：缺少备案回执盖章页" in client.get("/units/taishun").text
    assert "缺少备案回执盖章页" in client.get(f"/occurrences/{portal.occurrence()}").text
    [entry] = audit(portal, "record.rejected")
    assert entry.actor == "jinghe" and json.loads(entry.detail)["note"] == "缺少备案回执盖章页"


def test_a_rejected_record_stops_counting_on_the_board(portal):
    record = submitted_record(portal)
    client = portal.coordinator()
    cell = 'data-scope="泰顺-鹿城" data-obligation="next-year-plan"'
    assert f'data-status="done" {cell}' in client.get("/").text
    csrf = csrf_of(client.get("/queue").text)
    client.post(f"/records/{record}/reject", data={"csrf": csrf, "reason": "材料不符"})
    assert f'data-status="due_soon" {cell}' in client.get("/").text


def test_the_coordinator_waives_an_occurrence_with_a_reason(portal):
    client = portal.coordinator()
    occ = portal.occurrence()
    page = client.get(f"/occurrences/{occ}")
    csrf = csrf_of(page.text)
    assert client.post(f"/occurrences/{occ}/waive", data={"csrf": csrf, "reason": ""}).status_code == 422
    done = client.post(f"/occurrences/{occ}/waive", data={"csrf": csrf, "reason": "经领导小组同意"}, follow_redirects=True)
    assert done.status_code == 200 and "已豁免：经领导小组同意" in done.text
    twice = client.post("/queue/waive", data={"csrf": csrf, "occurrence_id": str(occ), "reason": "再次"})
    assert twice.status_code == 409
    assert client.post("/queue/waive", data={"csrf": csrf, "occurrence_id": "abc", "reason": "x"}).status_code == 422
    assert client.post("/queue/waive", data={"csrf": csrf, "occurrence_id": "999999", "reason": "x"}).status_code == 404
    assert [e.actor for e in audit(portal, "occurrence.waived")] == ["jinghe"]
    assert count_rows(portal.database_url, Waiver) == 1


def test_every_coordinator_form_needs_the_csrf_token(portal):
    record = submitted_record(portal)
    client = portal.coordinator()
    for path, data in (
        (f"/records/{record}/verify", {}),
        (f"/records/{record}/reject", {"reason": "x"}),
        (f"/occurrences/{portal.occurrence()}/waive", {"reason": "x"}),
        ("/logout", {}),
    ):
        assert client.post(path, data=data, follow_redirects=False).status_code == 403, path
    with portal.app.session() as session:
        assert session.get(CompletionRecord, record).state == "submitted"


# --------------------------------------------------------------------------- a unit's own page by key


def hrefs(html: str, prefix: str) -> list[str]:
    return [part.split('"')[0].replace("&amp;", "&") for part in html.split('href="') if part.startswith(prefix)]


def test_a_unit_reads_its_own_page_and_calendar_with_the_keys_from_its_link(portal):
    link_page = portal.client.get(portal.link())
    unit_href = hrefs(link_page.text, "/units/taishun?key=")[0]
    page = portal.client.get(unit_href)
    assert page.status_code == 200 and "泰顺县" in page.text and "应办事项" in page.text
    key = unit_href.split("key=")[1]
    ics_href = hrefs(link_page.text, "http://")[0]
    assert "/units/taishun/calendar.ics?key=" in ics_href
    feed_key = ics_href.split("key=")[1]
    ics = portal.client.get(f"/units/taishun/calendar.ics?key={feed_key}")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    # each key opens only what it is for: the page key is no feed key and the feed key no page key
    assert portal.client.get(f"/units/taishun/calendar.ics?key={key}").status_code == 403
    assert portal.client.get(f"/units/taishun?key={feed_key}").status_code == 403
    # the key is the unit's own: it opens no other unit, and a wrong key is refused
    assert portal.client.get(f"/units/yongjia?key={key}").status_code == 403
    assert portal.client.get("/units/taishun?key=0000").status_code == 403
    assert portal.client.get(f"/occurrences/{portal.occurrence()}?key={key}", follow_redirects=False).status_code == 303



def test_a_unit_page_by_key_shows_no_message_body_and_links_only_its_own_duties(portal):
    from shanhai.notifications.checking import check_obligation
    from shanhai.notifications.links import verify_report_token
    from tests.portal_support import SECRET

    check_obligation(portal.app, None, as_of=portal.clock.now)  # queue today's reminders, with their links
    unit_href = hrefs(portal.fresh_client().get(portal.link()).text, "/units/taishun?key=")[0]
    by_key = portal.fresh_client().get(unit_href)
    assert by_key.status_code == 200 and "收到的消息" in by_key.text and "【山海协作】" in by_key.text
    assert "<pre" not in by_key.text, "no message body (they carry links of other units' items)"
    for href in hrefs(by_key.text, "/report/"):  # the to-do list: this unit's own duties, as this unit
        assert verify_report_token(href.removeprefix("/report/"), secret=SECRET, now=portal.clock.now).unit_code == "taishun"
    # an account still reads the bodies, links and all
    assert "/report/" in portal.coordinator().get("/units/taishun").text


def test_the_unit_page_is_the_units_to_do_list_acknowledged_and_reported_from(portal):
    """Opened from a reminder, the page lists the unit's open duties with 签收 · 填报 for each it leads:
    the same signed links (and so the same nonces and expiry) as the reminders', issued with the key."""
    from shanhai.models.tables import CompletionRecord
    from tests.conftest import count_rows

    unit_href = hrefs(portal.client.get(portal.link()).text, "/units/taishun?key=")[0]
    page = portal.client.get(unit_href)
    assert "签收 · 填报" in page.text
    todo = hrefs(page.text, "/report/")
    assert len(todo) >= 2, "every open duty taishun leads, not only the one whose link opened the page"
    link = next(h for h in todo if "下一年度合作计划备案" in portal.client.get(h).text)
    ack = portal.report_form(link, "ack")
    assert portal.client.post(f"{link}/ack", data=ack, follow_redirects=False).status_code == 303
    assert portal.submit_record(link).status_code == 303
    assert count_rows(portal.database_url, CompletionRecord) == 1
    assert "已签收" in portal.client.get(unit_href).text
    portal.clock.advance(days=61)  # the page key has expired, and so have the links it listed
    assert portal.client.get(link).status_code == 410


def test_a_unit_page_key_expires_like_the_report_link_it_came_from(portal):
    unit_href = hrefs(portal.client.get(portal.link()).text, "/units/taishun?key=")[0]
    portal.clock.advance(days=60)
    assert portal.client.get(unit_href).status_code == 200
    portal.clock.advance(days=1)
    page = portal.client.get(unit_href)
    assert page.status_code == 410 and "链接已过期" in page.text


def test_a_unit_page_key_taken_late_from_a_report_link_still_ends_with_that_link(portal):
    link = portal.link()  # issued now
    portal.clock.advance(days=59)
    unit_href = hrefs(portal.client.get(link).text, "/units/taishun?key=")[0]  # opened on day 59
    assert portal.client.get(unit_href).status_code == 200
    portal.clock.advance(days=2)  # day 61: the report link has expired, and so has what it handed out
    assert portal.client.get(link).status_code == 410
    assert portal.client.get(unit_href).status_code == 410

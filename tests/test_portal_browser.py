"""The portal in a real browser: Debian's chromium driven by Playwright against a real uvicorn server
(one per module) on the document's catalogue with the demo history.

A clerk opens a reminder's link, 签收, submits a record with evidence; the board cell changes; the
coordinator rejects it with a reason and the unit's pages show it; a forged link and another unit's
occurrence are refused. Screenshots go to var/screenshots (`make screenshots`: docs/screenshots, the README's).

Select with ``-m browser``; ``.ci/run`` installs chromium and fonts-noto-cjk where missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    REAL_CATALOGUE,
    at,
    count_rows,
    make_app,
    make_record,
    occurrence_id,
    screenshot_dir,
)
from tests.portal_support import PASSWORD, PDF

pytestmark = pytest.mark.browser

NOW = at(2026, 12, 8, 10)  # a Tuesday in December: this year's joint meetings are due soon (1 of 2 held)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=zh-CN",  # date inputs as a Chinese phone shows them
]
SHOTS = screenshot_dir()
REASON = "会议纪要未盖章，请补充盖章扫描件"


@dataclass
class Server:
    url: str
    app: object

    def link(self, obligation: str, scope: str, period: str, unit: str) -> str:
        from shanhai.notifications.links import sign_report_link

        return sign_report_link(
            base_url=self.url,
            occurrence_id=occurrence_id(self.app, obligation, scope, period),
            unit_code=unit,
            secret="test-secret",
            issued_at=NOW,
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    import uvicorn

    from shanhai.cli.demo import load_demo_history
    from shanhai.cli.processes import free_port
    from shanhai.db import get_engine
    from shanhai.models.accounts import add_user
    from shanhai.portal.app import create_app

    root: Path = tmp_path_factory.mktemp("portal-browser")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app(root / "home", f"sqlite:///{root / 'shanhai.db'}", REAL_CATALOGUE, sync_at=NOW, portal_url=url,
                   prefect_ui_url="http://127.0.0.1:9")  # no Prefect here: the link falls back to the list
    load_demo_history(app, as_of=NOW)
    with app.session() as session:
        add_user(session=session, name="jinghe", role="coordinator", password=PASSWORD, actor="test")
    config = uvicorn.Config(create_app(app, clock=lambda: NOW), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the portal server did not start"
        time.sleep(0.05)
    try:
        yield Server(url, app)
    finally:
        uv.should_exit = True
        thread.join(timeout=15)
        get_engine(app.database_url).dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium fonts-noto-cjk` (scripts/ensure-system-deps.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def logged_in(browser, server: Server, **context_args):
    context = browser.new_context(locale="zh-CN", **context_args)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.fill('input[name="name"]', "jinghe")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{server.url}/")
    return context, page


def cell(page, scope: str, obligation: str):
    return page.locator(f'td[data-scope="{scope}"][data-obligation="{obligation}"]')


def shot(page, name: str, *, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def test_a_clerk_acknowledges_and_reports_and_the_coordinator_rejects_with_a_reason(browser, server):
    desk, board = logged_in(browser, server, viewport={"width": 1366, "height": 900})
    joint = cell(board, "泰顺-鹿城", "joint-meeting")
    assert joint.get_attribute("data-status") == "due_soon"
    assert "1/2" in joint.inner_text()
    shot(board, "board.png", full_page=False)

    # the clerk, on a phone, opens the link from the reminder
    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    clerk = phone.new_page()
    link = server.link("joint-meeting", "泰顺-鹿城", "2026", "taishun")
    response = clerk.goto(link)
    assert response is not None and response.status == 200
    assert "联席会议" in clerk.inner_text("h1")
    clerk.click("#ack button")
    clerk.wait_for_selector("text=已签收 于 2026-12-08 10:00")

    clerk.fill('input[name="date"]', "2026-12-05")
    clerk.fill('textarea[name="note"]', "第二次联席会议（泰顺）")
    clerk.set_input_files(
        'input[name="evidence"]', files=[{"name": "联席会议纪要.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    shot(clerk, "report-form.png")
    clerk.click("#form button[type=submit]")
    clerk.wait_for_selector(".receipt")
    receipt = clerk.inner_text(".receipt")
    assert "记录编号 #" in receipt and "待核验" in receipt and "联席会议纪要.pdf" in receipt
    record_no = clerk.inner_text(".record-no").split("#")[1].strip()
    shot(clerk, "receipt.png")

    # the board cell changes: 2 of 2, done, pending verification
    board.reload()
    joint = cell(board, "泰顺-鹿城", "joint-meeting")
    assert joint.get_attribute("data-status") == "done"
    assert "2/2" in joint.inner_text() and "待核验" in joint.inner_text()

    # the coordinator rejects it with a reason
    board.goto(f"{server.url}/queue")
    row = board.locator(f'tr[data-record="{record_no}"]')
    assert "联席会议纪要.pdf" in row.inner_text()
    shot(board, "queue.png", full_page=False)
    row.locator('input[name="reason"]').fill(REASON)
    row.locator("form.reject button").click()
    board.wait_for_url(f"{server.url}/queue?reviewed={record_no}")
    assert board.locator(f'tr[data-record="{record_no}"]').count() == 0
    confirmation = board.get_by_role("status").inner_text()
    assert f"已退回记录 #{record_no}" in confirmation and REASON in confirmation
    shot(board, "queue-rejected.png", full_page=False)

    # the reason reaches the unit: its page, and the link page
    board.goto(f"{server.url}/units/taishun")
    assert f"退回理由：{REASON}" in board.inner_text("main")
    clerk.goto(link)
    assert f"退回理由：{REASON}" in clerk.inner_text("main")
    board.goto(f"{server.url}/")
    assert cell(board, "泰顺-鹿城", "joint-meeting").get_attribute("data-status") == "due_soon"
    desk.close()
    phone.close()


def test_a_session_cookie_copied_before_logout_is_refused_after_it(browser, server):
    from sqlalchemy import select

    from shanhai.models.tables import CompletionRecord

    with server.app.session() as session:
        record = session.execute(select(CompletionRecord.id).where(CompletionRecord.state == "submitted")).scalar()
    assert record is not None, "the demo history has no record waiting for review"
    desk, board = logged_in(browser, server)
    board.goto(f"{server.url}/queue")
    csrf = board.locator('input[name="csrf"]').first.get_attribute("value")
    copied = desk.cookies()
    board.click('form[action="/logout"] button')
    board.wait_for_url(f"{server.url}/login")

    thief = browser.new_context(locale="zh-CN")
    thief.add_cookies(copied)
    answer = thief.request.post(f"{server.url}/records/{record}/reject", form={"csrf": csrf, "reason": "冒用会话"},
                                max_redirects=0)
    assert answer.status == 303 and answer.headers["location"].startswith("/login"), answer.status
    with server.app.session() as session:
        assert session.get(CompletionRecord, record).state == "submitted"
    page = thief.new_page()
    page.goto(f"{server.url}/queue")
    assert page.url.startswith(f"{server.url}/login")
    thief.close()
    desk.close()


def test_a_forged_link_is_refused_in_the_browser(browser, server):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    link = server.link("joint-meeting", "泰顺-鹿城", "2026", "taishun")
    forged = link[:-2] + ("xy" if not link.endswith("xy") else "zz")
    response = page.goto(forged)
    assert response is not None and response.status == 403
    assert "链接无效" in page.inner_text("h1") and "签名无效" in page.inner_text("main")
    context.close()


def test_a_link_cannot_report_on_another_units_occurrence(browser, server):
    from shanhai.models.tables import CompletionRecord

    other = occurrence_id(server.app, "joint-meeting", "永嘉-瓯海", "2026")
    theirs = make_record(server.app, "joint-meeting", "永嘉-瓯海", "2026-11-20", as_of=NOW, note="永嘉的记录")
    before = count_rows(server.app.database_url, CompletionRecord)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    link = server.link("joint-meeting", "泰顺-鹿城", "2026", "taishun")
    page.goto(link)
    # a clerk who edits the page to name 永嘉-瓯海's occurrence gets a refusal, and nothing is stored
    page.eval_on_selector('#form input[name="occurrence_id"]', f"(el) => el.value = '{other}'")
    page.fill('input[name="date"]', "2026-12-01")
    with page.expect_navigation() as nav:
        page.click("#form button[type=submit]")
    assert nav.value is not None and nav.value.status == 403
    assert "不能查看或填报其他单位" in page.inner_text("main")
    assert count_rows(server.app.database_url, CompletionRecord) == before
    # nor read another occurrence's record through its own link
    response = page.goto(f"{link}/records/{theirs}")
    assert response is not None and response.status == 403
    assert "永嘉的记录" not in page.inner_text("main")
    context.close()


def test_the_board_reads_on_a_phone(browser, server):
    context, page = logged_in(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the page itself does not overflow
    scroller = page.locator(".scroll")
    assert page.evaluate("(el) => el.scrollWidth > el.clientWidth", scroller.element_handle())  # the table scrolls
    shot(page, "board-phone.png", full_page=False)
    context.close()


def test_the_supervisors_view_and_an_occurrence_page_render(browser, server):
    context, page = logged_in(browser, server, viewport={"width": 1366, "height": 900})
    page.goto(f"{server.url}/overdue")
    assert "按责任单位" in page.inner_text("main") and "泰顺县" in page.inner_text("main")
    shot(page, "overdue.png", full_page=False)
    page.goto(f"{server.url}/occurrences/{occurrence_id(server.app, 'joint-meeting', '泰顺-鹿城', '2026')}")
    text = page.inner_text("main")
    assert "联席会议" in text and "三(二)" in text and "健全由内对双方主要领导牵头" in text
    assert "签收" in text and "完成记录" in text
    shot(page, "occurrence.png")
    context.close()

"""Each message once, also through a slow receiver: a request that went out and got no answer in time is
"outcome unknown" (结果未知（可能已送达）), reported and never resent; one that never left is retried;
webhooks carry an idempotency key; what one run cannot deliver reaches the coordinator as ONE report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shanhai.models.tables import Delivery, OutboxMessage
from shanhai.notifications.channels import Channel
from shanhai.notifications.checking import check_obligation
from shanhai.notifications.delivery import deliver_outbox
from shanhai.notifications.outbox import render
from shanhai.notifications.transport import body_limit
from tests.conftest import at, free_port, in_parallel, make_app, run_cli
from tests.webhook_receiver import WebhookReceiver

# Tuesday 2026-12-01, 10:00 in Shanghai: a working day after the send hour; the joint meeting (due 12-31)
# has its 30-day reminder out to both sides of every pairing (ten units).
REMINDER_DAY = at(2026, 12, 1, 10)
PAIRED_UNITS = ["yongjia", "cangnan", "wencheng", "taishun", "pingyang", "ouhai", "longwan", "ruian", "lucheng",
                "yueqing"]
COORDINATOR = "shi-zhaoshangju"
TIMEOUT = 0.3  # seconds; the slow receiver answers after 1 s
ROBOT = "dingtalk://" + "a" * 64 + "/"


def channels_file(path: Path, urls: dict[str, str]) -> Path:
    path.write_text(
        "urls:\n" + "".join(f'  - "{url}":\n      - tag: {code}\n' for code, url in urls.items()),
        encoding="utf-8",
    )
    return path


def hooks(port: int, codes: list[str]) -> dict[str, str]:
    return {code: f"json://127.0.0.1:{port}/hook/{code}" for code in codes}


def app_with(tmp_path: Path, database_url: str, urls: dict[str, str]):
    return make_app(tmp_path / "home", database_url, apprise_config=channels_file(tmp_path / "apprise.yaml", urls),
                    send_timeout_seconds=TIMEOUT, now=REMINDER_DAY)


def deliver_at(app, when):
    app.clock = lambda: when
    return deliver_outbox(app)


def states(app) -> Counter:
    with app.session() as s:
        return Counter(s.execute(select(Delivery.status).where(Delivery.channel_key != "local")).scalars())


def failure_reports(app) -> list[OutboxMessage]:
    with app.session() as s:
        return list(s.execute(select(OutboxMessage).where(OutboxMessage.kind == "delivery_failure")).scalars())


@pytest.fixture
def slow_webhook(webhook):
    webhook.delay = 1.0  # answers, but only after the sender's timeout
    return webhook


def test_a_receiver_answering_after_the_timeout_gets_each_message_once(tmp_path, database_url, slow_webhook):
    app = app_with(tmp_path, database_url, hooks(slow_webhook.port, ["taishun", "lucheng"]))
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)

    first = deliver_at(app, REMINDER_DAY)
    later = deliver_at(app, REMINDER_DAY.add(hours=2))  # past every backoff: nothing is resent

    assert (first.sent, first.retrying, first.failed, first.unknown) == (0, 0, 2, 2)
    assert "结果未知 2 条" in first.summary
    assert (later.sent, later.retrying, later.failed) == (0, 0, 0)
    with app.session() as s:
        ids = s.execute(select(Delivery.id).where(Delivery.status == "unknown").order_by(Delivery.id)).scalars().all()
    assert dict(slow_webhook.per_delivery) == {str(i): 1 for i in ids}, "each message reached the receiver once"
    assert states(app) == Counter({"unknown": 2})
    with app.session() as s:
        errors = s.execute(select(Delivery.last_error).where(Delivery.status == "unknown")).scalars().all()
    assert all("超时未响应" in e and "结果未知（可能已送达），未自动重发" in e for e in errors)
    [report] = failure_reports(app)
    assert "2条消息投递结果未知" in report.title and "泰顺县" in report.body and "鹿城区" in report.body


def test_the_outbox_command_shows_an_unknown_outcome_in_chinese(tmp_path, database_url, slow_webhook):
    app = app_with(tmp_path, database_url, hooks(slow_webhook.port, ["taishun"]))
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    deliver_at(app, REMINDER_DAY)

    shown = run_cli(["outbox", "--limit", "100"], home=tmp_path / "home", database_url=database_url,
                    env={"SHANHAI_SECRET_KEY": "test-secret"})
    listed = run_cli(["outbox", "--json"], home=tmp_path / "home", database_url=database_url,
                     env={"SHANHAI_SECRET_KEY": "test-secret"})

    assert shown.exit_code == 0, shown.output
    assert "结果未知（可能已送达，未重发）" in shown.stdout and ":unknown" not in shown.stdout
    assert "本地发件箱：未外发（未配置发送渠道）" in shown.stdout, "every state in Chinese, not its code"
    assert '"status": "unknown"' in listed.stdout, "--json keeps the stable code"


def test_the_portal_labels_an_unknown_outcome(tmp_path, database_url, slow_webhook):
    from tests.portal_support import Clock, make_portal

    clock = Clock(REMINDER_DAY)
    urls = hooks(slow_webhook.port, ["taishun"])
    portal = make_portal(tmp_path, database_url, clock, send_timeout_seconds=TIMEOUT,
                         apprise_config=channels_file(tmp_path / "apprise.yaml", urls))
    check_obligation(portal.app, None, as_of=clock.now)
    assert deliver_at(portal.app, clock.now).unknown >= 1

    queue = portal.coordinator().get("/queue").text
    unit = portal.coordinator().get("/units/taishun").text

    assert "结果未知（可能已送达，未重发）" in queue and "结果未知（可能已送达，未重发）" in unit
    assert ">unknown<" not in queue and " unknown，" not in queue


def test_a_refused_connection_is_retried_and_then_delivered_once(tmp_path, database_url):
    port = free_port()  # nothing listens there yet: the request never leaves
    app = app_with(tmp_path, database_url, hooks(port, ["taishun"]))
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)

    first = deliver_at(app, REMINDER_DAY)
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    with app.session() as s:
        [waiting] = s.execute(select(Delivery).where(Delivery.status == "retry")).scalars()
    assert "连接失败，请求未发出" in waiting.last_error
    with WebhookReceiver(port) as receiver:
        again = deliver_at(app, REMINDER_DAY.add(minutes=2))
        deliver_at(app, REMINDER_DAY.add(hours=2))
    assert again.sent == 1
    assert dict(receiver.per_delivery) == {str(waiting.id): 1}
    assert failure_reports(app) == [], "a retried message is no failure"


def test_many_lost_deliveries_make_one_failure_report(tmp_path, database_url, webhook):
    app = app_with(tmp_path, database_url, hooks(webhook.port, [*PAIRED_UNITS, COORDINATOR]))
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    with app.session() as s:  # what a `deliver` killed mid-run leaves behind: every claim taken, none settled
        lost = s.execute(
            update(Delivery)
            .where(Delivery.status == "pending")
            .values(status="sending", claimed_at=REMINDER_DAY.add(minutes=-20), attempts=1, claim_token="dead")
        ).rowcount
    assert lost == len(PAIRED_UNITS)

    first = deliver_at(app, REMINDER_DAY)
    second = deliver_at(app, REMINDER_DAY.add(minutes=1))

    assert (first.failed, first.unknown) == (lost, lost)
    [report] = failure_reports(app)
    assert report.title == f"【山海协作】{lost}条消息投递结果未知"
    assert "另有 5 条" in report.body and "投递中断，结果未知（可能已送达），未自动重发" in report.body
    title, body = render(json.loads(report.payload), limit_bytes=body_limit(Channel(COORDINATOR, ROBOT)))
    assert "投递中断" in body, "the report fits a DingTalk robot's 2048 bytes"
    posts = [body for path, body in webhook.received if path == f"/hook/{COORDINATOR}"]
    assert first.sent + second.sent == 1 and len(posts) == 1, "the coordinator gets one message, not one each"
    assert len(webhook.received) == 1, "nothing that may have arrived is sent again"


def test_many_permanent_failures_in_one_run_make_one_failure_report(tmp_path, database_url):
    with WebhookReceiver() as gone, WebhookReceiver() as coordinator:
        gone.status = 404  # every unit's hook was removed
        urls = {**hooks(gone.port, PAIRED_UNITS), **hooks(coordinator.port, [COORDINATOR])}
        app = app_with(tmp_path, database_url, urls)
        check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)

        first = deliver_at(app, REMINDER_DAY)
        second = deliver_at(app, REMINDER_DAY.add(minutes=1))

    assert (first.failed, first.unknown) == (len(PAIRED_UNITS), 0)
    [report] = failure_reports(app)
    assert report.title == f"【山海协作】{len(PAIRED_UNITS)}条消息无法送达"
    assert report.body.count("服务端拒绝，HTTP 404") == 5 and "另有 5 条" in report.body
    assert "/report/" not in report.body + report.payload, "the units' signed links stay with the units"
    assert second.sent == 1 and len(coordinator.received) == 1
    assert states(app) == Counter({"failed": len(PAIRED_UNITS), "sent": 1})


def test_lost_claims_and_failures_of_one_run_share_one_report(tmp_path, database_url):
    with WebhookReceiver() as gone:
        gone.status = 404
        app = app_with(tmp_path, database_url, hooks(gone.port, PAIRED_UNITS))
        check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
        with app.session() as s:  # half the claims were left behind by a killed run
            half = s.execute(select(Delivery.id).where(Delivery.status == "pending").limit(5)).scalars().all()
            s.execute(
                update(Delivery)
                .where(Delivery.id.in_(half))
                .values(status="sending", claimed_at=REMINDER_DAY.add(minutes=-20), attempts=1, claim_token="dead")
            )

        run = deliver_at(app, REMINDER_DAY)

    assert (run.failed, run.unknown) == (10, 5)
    assert states(app) == Counter({"failed": 5, "unknown": 5})
    [report] = failure_reports(app)
    assert report.title == "【山海协作】10条消息无法送达或结果未知"
    assert len(gone.per_delivery) == 5 and str(half[0]) not in gone.per_delivery, "a lost claim is never resent"


def test_concurrent_runs_report_lost_claims_once(tmp_path, database_url, webhook):
    urls = hooks(webhook.port, [*PAIRED_UNITS, COORDINATOR])
    app = app_with(tmp_path, database_url, urls)
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    with app.session() as s:
        s.execute(
            update(Delivery)
            .where(Delivery.status == "pending")
            .values(status="sending", claimed_at=REMINDER_DAY.add(minutes=-20), attempts=1, claim_token="dead")
        )
    workers = [app_with(tmp_path, database_url, urls) for _ in range(3)]  # one App per worker, one database

    runs = in_parallel(3, lambda: deliver_at(workers.pop(), REMINDER_DAY))
    deliver_at(app, REMINDER_DAY.add(minutes=1))

    assert sum(r.unknown for r in runs) == len(PAIRED_UNITS), "each lost claim is settled by one run"
    assert len(failure_reports(app)) == 1
    assert [path for path, _ in webhook.received] == [f"/hook/{COORDINATOR}"]


def test_a_single_unknown_outcome_is_reported_as_unconfirmed_not_as_undeliverable(tmp_path, database_url, slow_webhook):
    app = app_with(tmp_path, database_url, hooks(slow_webhook.port, ["taishun"]))
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    deliver_at(app, REMINDER_DAY)
    [report] = failure_reports(app)
    assert report.title == "【山海协作】消息投递结果未知"
    assert "未能确认是否送达（未自动重发）" in report.body and "无法送达" not in report.body

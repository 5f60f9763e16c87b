"""The outbox: every (occurrence, stage, recipient) is queued once and delivered at most once,
however often or concurrently the checks run, and nothing is lost when a run is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter

import pendulum
import pytest
from sqlalchemy import func, select, update

from shanhai.app import App
from shanhai.models.queries import outbox_items
from shanhai.models.tables import Delivery, OutboxItem, OutboxMessage
from shanhai.notifications.checking import check_obligation
from shanhai.notifications.delivery import deliver_outbox
from shanhai.notifications.digests import send_digest
from shanhai.settings import Settings
from tests.conftest import in_parallel

# Tuesday 2026-12-01, 10:00 in Shanghai: a working day after the send hour, when the year's joint meeting
# (due 12-31) has its 30-day reminder out to both sides of every pairing.
REMINDER_DAY = pendulum.datetime(2026, 12, 1, 10, tz="Asia/Shanghai")


def make_app(tmp_path, database_url, channels: dict[str, int] | None = None) -> App:
    """The document's real catalogue on a fresh database; channels maps unit codes to webhook ports."""
    config = None
    if channels:
        config = tmp_path / "apprise.yaml"
        config.write_text(
            "urls:\n"
            + "".join(
                f'  - "json://127.0.0.1:{port}/hook/{code}":\n      - tag: {code}\n'
                for code, port in channels.items()
            ),
            encoding="utf-8",
        )
    settings = Settings(
        home=tmp_path / "home", database_url=database_url, apprise_config=config, secret_key="test"
    )
    return App(settings=settings)


def deliver_at(app: App, when, **options):
    """deliver_outbox with the app's real clock reading ``when`` from now on."""
    app.clock = lambda: when
    return deliver_outbox(app, **options)


def count(app: App, model) -> int:
    with app.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def keys(app: App) -> list[tuple]:
    with app.session() as s:
        return [
            tuple(r)
            for r in s.execute(select(OutboxItem.occurrence_id, OutboxItem.stage, OutboxItem.recipient))
        ]


def test_it_queues_nothing_new_when_the_same_check_runs_twice(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    first = check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    second = check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    assert first.queued > 0
    assert second.queued == 0
    assert count(app, OutboxMessage) == first.queued


def test_a_dry_run_stores_and_sends_nothing(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    preview = check_obligation(app, "joint-meeting", as_of=REMINDER_DAY, dry_run=True)
    assert preview.messages, "the preview lists what would go out"
    assert count(app, OutboxMessage) == 0
    real = check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    assert [m["recipient"] for m in real.messages] == [m["recipient"] for m in preview.messages]


def test_two_concurrent_runs_queue_each_key_once(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    app.sync(as_of=REMINDER_DAY)
    apps = [make_app(tmp_path, database_url) for _ in range(2)]
    results = in_parallel(2, lambda: check_obligation(apps.pop(), None, as_of=REMINDER_DAY))  # list.pop is atomic
    all_keys = keys(app)
    assert len(all_keys) == len(set(all_keys)), "a key was queued twice"
    planned = max(sum(len(m["items"]) for m in r.messages) for r in results)
    assert len(all_keys) == planned, "every planned item is queued exactly once across both runs"
    assert sum(r.queued for r in results) == count(app, OutboxMessage)


def test_concurrent_deliveries_send_each_message_once(tmp_path, database_url, webhook):
    app = make_app(tmp_path, database_url, {"taishun": webhook.port, "lucheng": webhook.port})
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    pending = count(app, Delivery)
    # one App per worker (own settings and caches), sharing the database and the channel file
    apps = [make_app(tmp_path, database_url, {"taishun": webhook.port, "lucheng": webhook.port})
            for _ in range(3)]
    in_parallel(3, lambda: deliver_at(apps.pop(), REMINDER_DAY))  # list.pop is atomic
    with app.session() as s:
        states = Counter(s.execute(select(Delivery.status)).scalars())
    assert states["sent"] == 2, "泰顺县 and 鹿城区 each get one message"
    assert states["local"] == pending - 2, "units without a channel keep theirs in the local outbox"
    assert len(webhook.bodies) == 2
    assert all("联席会议" in b["message"] for b in webhook.bodies)


def test_a_failing_endpoint_is_retried_with_backoff_then_delivered_once(tmp_path, database_url, webhook):
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    webhook.status = 503
    first = deliver_at(app, REMINDER_DAY)
    assert (first.sent, first.retrying) == (0, 1)
    again = deliver_at(app, REMINDER_DAY.add(seconds=30))
    assert again.sent == again.retrying == 0, "backoff: not retried before the next attempt is due"
    webhook.status = 200
    later = deliver_at(app, REMINDER_DAY.add(minutes=2))
    assert later.sent == 1
    assert deliver_at(app, REMINDER_DAY.add(hours=1)).sent == 0
    assert len(webhook.bodies) == 1
    with app.session() as s:
        d = s.execute(select(Delivery).where(Delivery.status == "sent")).scalar_one()
    assert d.attempts == 2
    sent = [d for m in outbox_items(app) for d in m["deliveries"] if d["status"] == "sent"]
    assert [d["sent_at"] for d in sent] == ["2026-12-01 10:02"], "on Shanghai's clock, as created_at is"


def test_merged_reminders_take_the_most_advanced_stage_and_the_lowest_role():
    import json

    from shanhai.notifications.delivery import merged_payload

    def queued(role: str, rank: int, label: str) -> OutboxMessage:
        payload = {"recipient": "泰顺县", "role": role, "stage_rank": rank, "stage_label": label,
                   "document": "温政发〔2018〕26号", "items": [{"title": label, "role": role}]}
        return OutboxMessage(kind="reminder", recipient="泰顺县", recipient_code="taishun", role=role,
                             stage="s", stage_label=label, title="", body="", payload=json.dumps(payload),
                             planned_at=REMINDER_DAY)

    merged = merged_payload([queued("lead", 1, "到期前30天"), queued("co", 4, "逾期督办")])
    assert (merged["role"], merged["stage_label"]) == ("lead", "逾期督办")
    assert [i["title"] for i in merged["items"]] == ["到期前30天", "逾期督办"]
    assert merged["document"] == "温政发〔2018〕26号"


def test_an_undeliverable_message_is_reported_to_the_coordinator(tmp_path, database_url, webhook):
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    webhook.status = 404  # permanent: the hook is gone
    report = deliver_at(app, REMINDER_DAY)
    assert report.failed == 1
    with app.session() as s:
        failure = s.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "delivery_failure")
        ).scalar_one()
    assert failure.recipient == "市招商局（经合办）"
    assert "泰顺县" in failure.body and "无法送达" in failure.body
    with app.session() as s:
        failed = s.execute(select(Delivery).where(Delivery.status == "failed")).scalar_one()
    assert failed.last_error and "404" in failed.last_error
    assert f"错误：{failed.last_error}" in failure.body, "the report says what failed"
    assert "/report/" not in failure.body + failure.payload, "the unit's signed links stay with the unit"
    assert f"查看：{app.settings.portal_url}/occurrences/" in failure.body and "填报" not in failure.body
    deliver_at(app, REMINDER_DAY.add(hours=2))
    with app.session() as s:
        assert (
            s.execute(select(func.count()).where(OutboxMessage.kind == "delivery_failure")).scalar_one() == 1
        )


def test_a_message_that_cannot_be_rendered_fails_for_sure_and_is_reported(tmp_path, database_url, webhook):
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    with app.session() as s:  # a payload written by an older version, say
        s.execute(update(OutboxMessage).where(OutboxMessage.kind == "reminder").values(payload="{}"))
    report = deliver_at(app, REMINDER_DAY)
    assert (report.sent, report.failed) == (0, 1)
    assert webhook.bodies == []
    with app.session() as s:
        [failed] = s.execute(select(Delivery).where(Delivery.channel_key != "local")).scalars()
        failure = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "delivery_failure")).scalar_one()
    assert failed.status == "failed" and failed.last_error.startswith("消息无法生成，未发送")
    assert "结果未知" not in failed.last_error, "it never reached the channel: not a maybe-delivered"
    assert "消息无法生成" in failure.body
    later = deliver_at(app, REMINDER_DAY.add(minutes=11))
    assert later.failed == 0, "no claim left behind for the lease to expire"


def test_a_delivery_claimed_by_a_killed_worker_is_taken_over_after_the_lease(
    tmp_path, database_url, webhook
):
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    with app.session() as s:  # what a worker killed between claim and send leaves behind
        s.execute(
            update(Delivery)
            .where(Delivery.status == "pending")
            .values(status="sending", claimed_at=REMINDER_DAY, attempts=1, claim_token="dead")
        )
    assert deliver_at(app, REMINDER_DAY.add(minutes=1)).failed == 0, "a live claim is respected"
    report = deliver_at(app, REMINDER_DAY.add(minutes=11))
    assert (report.sent, report.failed) == (0, 1), "it may have arrived: never sent a second time"
    assert webhook.bodies == []
    with app.session() as s:
        failure = s.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "delivery_failure")
        ).scalar_one()
    assert "结果未知" in failure.body and failure.recipient == "市招商局（经合办）"


def test_nothing_is_lost_or_doubled_when_the_check_process_is_killed(tmp_path, database_url, webhook):
    """Kill -9 a `shanhai remind` process mid-run, run it again: every key queued once, every message sent once."""
    env = {
        **os.environ,
        "SHANHAI_HOME": str(tmp_path / "home"),
        "SHANHAI_DATABASE_URL": database_url,
        "SHANHAI_SECRET_KEY": "test",
    }
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    env["SHANHAI_APPRISE_CONFIG"] = str(app.settings.apprise_config)
    app.sync(as_of=REMINDER_DAY)
    webhook.status = 200
    # slow every delivery so the kill lands while the run is busy
    script = textwrap.dedent(f"""
        import time, pendulum
        import shanhai.notifications.transport as t
        real = t.deliver
        def slow(*a, **k):
            real(*a, **k)
            time.sleep(30)
        t.deliver = slow
        from shanhai.app import App
        from shanhai.notifications.checking import check_obligation
        from shanhai.notifications.delivery import deliver_outbox
        as_of = pendulum.parse("{REMINDER_DAY.isoformat()}")
        app = App()
        check_obligation(app, None, as_of=as_of)
        print("queued", flush=True)
        app.clock = lambda: as_of
        deliver_outbox(app)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout.readline().strip() == "queued"
    deadline = pendulum.now().add(seconds=30)
    while not webhook.bodies and pendulum.now() < deadline:
        threading.Event().wait(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    queued_before = keys(app)
    again = check_obligation(app, None, as_of=REMINDER_DAY)
    assert again.queued == 0 and keys(app) == queued_before, "nothing queued twice"
    deliver_at(app, REMINDER_DAY.add(minutes=11))  # past the dead worker's lease
    with app.session() as s:
        states = Counter(s.execute(select(Delivery.status)).scalars())
        reported = s.execute(
            select(func.count()).where(OutboxMessage.kind == "delivery_failure")
        ).scalar_one()
    assert states.get("pending", 0) == states.get("sending", 0) == 0, "nothing left hanging"
    assert len(webhook.bodies) == 1, "the message in flight when the process died was not sent twice"
    assert reported == 1, "its unknown outcome is reported to the coordinator: nothing lost silently"


def test_a_weekly_digest_goes_out_once_a_week(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    first = send_digest(app, audience="coordinator", as_of=REMINDER_DAY)
    again = send_digest(app, audience="coordinator", as_of=REMINDER_DAY.add(days=2))
    next_week = send_digest(app, audience="coordinator", as_of=REMINDER_DAY.add(days=7))
    assert first.queued == 1 and again.queued == 0 and next_week.queued == 1
    with app.session() as s:
        digest = (
            s.execute(select(OutboxMessage).where(OutboxMessage.kind == "digest").order_by(OutboxMessage.id))
            .scalars()
            .first()
        )
    assert digest.recipient == "市招商局（经合办）"
    assert "联席会议" in digest.body
    assert digest.title == "【山海协作】每周督办摘要（2026年第49周）" and digest.dedup_key == "digest:coordinator:2026-W49"
    # read in the office's chat: no command line, but the one that imports next year's holiday notice
    # (the coordinator runs the system; from mid-November it is told to, issue "next year's calendar")
    assert "shanhai " not in digest.body.replace("shanhai holidays import", ""), "no other command line"


def test_a_monthly_digest_names_its_month_and_one_held_until_the_send_hour_says_today(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    early = send_digest(app, audience="supervisor", as_of=REMINDER_DAY.subtract(hours=2))  # Tue 08:00
    assert early.queued == 0 and early.summary.endswith("（未到发送时间：摘要将于今天北京时间 09:00 起发出）")
    sent = send_digest(app, audience="supervisor", as_of=REMINDER_DAY)
    assert sent.queued == 1 and sent.title == "每月逾期通报（2026年12月）"


def test_reminders_from_several_obligation_runs_reach_a_unit_as_one_message(tmp_path, database_url, webhook):
    """Each obligation has its own scheduled check; the county still gets one message listing everything."""
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    december_first = pendulum.datetime(2026, 12, 1, 9, 30, tz="Asia/Shanghai")  # 30 days before 12-31
    queued = [
        check_obligation(app, ob, as_of=december_first).queued for ob in ("joint-meeting", "high-level-visit")
    ]
    assert all(queued), "each run queues its own messages"
    report = deliver_at(app, december_first)
    assert report.sent == 2, "both queued messages count as sent…"
    assert len(webhook.bodies) == 1, "…in one message to 泰顺县"
    text = webhook.bodies[0]["message"]
    assert "联席会议" in text and "高层互访" in text


def test_a_digest_due_on_a_holiday_goes_out_on_the_next_working_day(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    national_day = pendulum.datetime(2026, 10, 1, 9, 30, tz="Asia/Shanghai")  # the 1st of the month, off
    assert send_digest(app, audience="supervisor", as_of=national_day).queued == 0
    assert (
        send_digest(app, audience="supervisor", as_of=national_day.add(days=6)).queued == 0
    )  # 10-07 still off
    assert send_digest(app, audience="supervisor", as_of=national_day.add(days=7)).queued == 1  # Thu 10-08
    assert send_digest(app, audience="supervisor", as_of=national_day.add(days=9)).queued == 0  # once a month


def test_nothing_is_delivered_on_a_weekend_not_even_a_retry(tmp_path, database_url, webhook):
    app = make_app(tmp_path, database_url, {"taishun": webhook.port})
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    saturday = pendulum.datetime(2026, 12, 5, 10, tz="Asia/Shanghai")
    held = deliver_at(app, saturday)
    assert (held.sent, held.held) == (0, 1) and webhook.bodies == []
    assert held.summary.endswith("；未到发送时间，1 条将于下一个工作日 2026-12-07（周一）北京时间 09:00 起发送")
    early = deliver_at(app, saturday.add(days=2, hours=-2))  # Monday 08:00
    assert early.summary.endswith("；未到发送时间，1 条将于今天北京时间 09:00 起发送"), "a working day: today"
    assert deliver_at(app, saturday.add(days=2)).sent == 1  # Monday 10:00
    assert len(webhook.bodies) == 1


def test_two_units_sharing_one_chat_each_get_their_own_message(tmp_path, database_url, webhook):
    config = tmp_path / "apprise.yaml"
    config.write_text(
        f'urls:\n  - "json://127.0.0.1:{webhook.port}/shared":\n      - tag: taishun, lucheng\n',
        encoding="utf-8",
    )
    app = App(
        settings=Settings(
            home=tmp_path / "home", database_url=database_url, apprise_config=config, secret_key="test"
        )
    )
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    assert deliver_at(app, REMINDER_DAY).sent == 2
    heads = sorted(b["message"].split("：", 1)[0] for b in webhook.bodies)
    assert heads == ["泰顺县（牵头单位）", "鹿城区（牵头单位）"], "each message is addressed to its own unit"


def test_a_thread_that_raises_fails_the_concurrency_harness():
    with pytest.raises(ZeroDivisionError):
        in_parallel(2, lambda: 1 / 0)


def test_a_robots_per_minute_limit_holds_across_delivery_processes(tmp_path, database_url, webhook):
    """Every flow run is a new process: the robot's budget is read from the outbox's own claims, so two
    delivery processes at once still send at most the limit within a minute (3 here; DingTalk's 20)."""
    codes = ["taishun", "yongjia", "wencheng", "cangnan", "pingyang"]
    config = tmp_path / "apprise.yaml"
    config.write_text(
        f'urls:\n  - "json://127.0.0.1:{webhook.port}/robot":\n      - tag: {", ".join(codes)}\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "SHANHAI_HOME": str(tmp_path / "home"),
        "SHANHAI_DATABASE_URL": database_url,
        "SHANHAI_SECRET_KEY": "test",
        "SHANHAI_APPRISE_CONFIG": str(config),
    }
    app = App(settings=Settings(home=tmp_path / "home", database_url=database_url, apprise_config=config,
                                secret_key="test"))
    check_obligation(app, "joint-meeting", as_of=REMINDER_DAY)
    script = textwrap.dedent(f"""
        import pendulum
        import shanhai.notifications.transport as t
        t.DEFAULT_RATE_LIMITS = {{"json": ((3, 60.0),)}}
        from shanhai.app import App
        from shanhai.notifications.delivery import deliver_outbox
        now = pendulum.parse("{REMINDER_DAY.isoformat()}")
        report = deliver_outbox(App(clock=lambda: now), sleep=lambda s: None)
        print(report.sent, report.deferred, flush=True)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    sent = sum(int(o[0]) for o in outputs)
    assert len(webhook.bodies) == sent == 3, outputs
    assert sum(int(o[1]) for o in outputs) >= 2, "the rest wait for the next run, none is dropped"
    with app.session() as s:
        states = Counter(
            s.execute(select(Delivery.status).where(Delivery.channel_key != "local")).scalars()
        )
    assert states == {"sent": 3, "pending": 2}


def test_an_acknowledged_occurrence_stops_the_weekly_repeats_to_that_unit_only(tmp_path, database_url):
    """泰顺县 acknowledges (签收) its overdue 2026 plan on its link: the next weekly repeat goes to 鹿城区 and
    the coordinator, not to 泰顺县 (the supervisors had the item once, at its escalation)."""
    from shanhai.models.acknowledgements import acknowledge
    from shanhai.models.tables import Occurrence

    def plan_items_for(result, recipient):
        return [i for m in result.messages if m["recipient"] == recipient for i in m["items"]
                if i["obligation"] == "next-year-plan" and i["scope"] == "泰顺-鹿城"]

    app = make_app(tmp_path, database_url)
    week_1 = pendulum.datetime(2026, 11, 16, 10, tz="Asia/Shanghai")  # repeat_1 of the plan due Mon 11-02
    first = check_obligation(app, "next-year-plan", as_of=week_1)
    assert [i["stage"] for i in plan_items_for(first, "泰顺县")] == ["repeat_1"]
    with app.session() as s:
        occ = s.execute(select(Occurrence.id).where(
            Occurrence.obligation_id == "next-year-plan", Occurrence.scope == "泰顺-鹿城", Occurrence.period == "2026"
        )).scalar_one()
        acknowledge(session=s, occurrence_id=occ, unit_code="taishun", stage="repeat_1", stage_rank=301,
                    actor="link:taishun", at=week_1)
    week_2 = check_obligation(app, "next-year-plan", as_of=week_1.add(weeks=1))
    assert plan_items_for(week_2, "泰顺县") == [], "the unit that acknowledged is not nagged weekly"
    for others in ("鹿城区", "市招商局（经合办）"):
        assert [i["stage"] for i in plan_items_for(week_2, others)] == ["repeat_2"], others
    assert plan_items_for(week_2, "市山海协作工程工作领导小组") == [], "no weekly repeats to the supervisors"


def test_workers_with_their_own_homes_share_the_key_that_names_channels(tmp_path, database_url, webhook):
    """No SHANHAI_SECRET_KEY: the key generated into the database at the first sync is every worker's, so a
    delivery queued by one worker's check is sent by another worker (its own SHANHAI_HOME), not failed."""
    def worker(home: str, secret: str | None = None) -> App:
        config = tmp_path / "apprise.yaml"
        config.write_text(f'urls:\n  - "json://127.0.0.1:{webhook.port}/hook":\n      - tag: taishun\n',
                          encoding="utf-8")
        return App(settings=Settings(home=tmp_path / home, database_url=database_url, apprise_config=config,
                                     secret_key=secret))

    check_obligation(worker("checker"), "joint-meeting", as_of=REMINDER_DAY)
    report = deliver_at(worker("sender"), REMINDER_DAY)
    assert (report.sent, report.failed) == (1, 0), report.summary
    assert not (tmp_path / "checker" / "secret_key").exists(), "the key lives in the database, not in a home"


def test_rotating_the_key_strands_nothing_pending(tmp_path, database_url, webhook):
    """Queued under "old", delivered after the rotation to "new,old": the channel is still recognised."""
    config = tmp_path / "apprise.yaml"
    config.write_text(f'urls:\n  - "json://127.0.0.1:{webhook.port}/hook":\n      - tag: taishun\n',
                      encoding="utf-8")

    def app(secret: str) -> App:
        return App(settings=Settings(home=tmp_path / "home", database_url=database_url, apprise_config=config,
                                     secret_key=secret))

    check_obligation(app("old-key"), "joint-meeting", as_of=REMINDER_DAY)
    report = deliver_at(app("new-key,old-key"), REMINDER_DAY)
    assert (report.sent, report.failed) == (1, 0), report.summary

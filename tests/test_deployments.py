"""prefect.yaml is generated from the catalogue and cannot drift; the flows' plain helpers; `shanhai up`'s
process handling. No Prefect server here (the end-to-end test is tests/test_flows_e2e.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import yaml

from shanhai import REPO_ROOT
from shanhai.cli.deployments import deployment_specs, render_prefect_yaml
from shanhai.flows.common import artifact_key, check_run_name, dated_run_name, status_rows
from tests.conftest import REAL_CATALOGUE, make_app


def _catalogue():
    from shanhai.models.catalogue import load_catalogue

    return load_catalogue(REAL_CATALOGUE)


def test_checked_in_prefect_yaml_is_the_rendered_one():
    text = (REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert text == render_prefect_yaml(_catalogue()), (
        "prefect.yaml differs from the catalogue: run `python -m shanhai.cli.deployments` and commit it"
    )


def test_one_scheduled_deployment_per_obligation_plus_the_support_flows():
    cat = _catalogue()
    doc = yaml.safe_load(render_prefect_yaml(cat))
    deps = {d["name"]: d for d in doc["deployments"]}
    assert len(deps) == len(doc["deployments"])  # unique names
    titles = {ob.title for ob in cat.obligations.values()}
    assert set(deps) == titles | {"发件箱投递", "每周督办摘要", "每月逾期通报"}, "Chinese names in the Prefect UI"
    jm = deps["联席会议"]
    assert jm["entrypoint"] == "shanhai.flows.check:check_obligation_flow"
    assert jm["parameters"] == {"obligation": "joint-meeting"}
    assert jm["work_pool"] == {"name": "shanhai"}
    assert jm["description"].startswith("联席会议") and "三(二)" in jm["description"]
    assert jm["schedules"] == [{"cron": "5 9 * * *", "timezone": "Asia/Shanghai"}]
    assert deps["发件箱投递"]["schedules"][0]["cron"] == "*/10 * * * *"
    # digests run daily and send once per week/month, on its first working day
    assert deps["每周督办摘要"]["schedules"][0]["cron"] == "30 9 * * *"
    assert deps["每月逾期通报"]["schedules"][0]["cron"] == "30 9 * * *"
    assert all(d["schedules"][0]["timezone"] == "Asia/Shanghai" for d in deps.values())
    # no build, push or pull: the worker imports the installed package by module name
    assert doc["build"] is None and doc["push"] is None
    assert doc["pull"] == []


def test_the_checks_follow_the_configured_send_hour():
    doc = yaml.safe_load(render_prefect_yaml(_catalogue(), send_hour=10))
    crons = {d["name"]: d["schedules"][0]["cron"] for d in doc["deployments"]}
    assert crons["联席会议"] == "5 10 * * *", "a check before the send hour would never send anything"
    assert crons["每周督办摘要"] == "30 10 * * *"


def test_entrypoints_name_flows_of_the_package_by_module():
    code = (
        "import sys; from prefect.flows import load_flow_from_entrypoint;"
        "[print(load_flow_from_entrypoint(e).name) for e in sys.argv[1:]];"
        "print(sorted(m for m in sys.modules if m in ('check', 'deliver', 'digest')))"
    )
    entrypoints = sorted({spec["entrypoint"] for spec in deployment_specs(_catalogue())})
    assert all(":" in e and not e.endswith(".py") and "/" not in e for e in entrypoints)
    done = subprocess.run(
        [sys.executable, "-c", code, *entrypoints], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert sorted(names[:-1]) == sorted(["职责检查", "发件箱投递", "每月逾期通报", "每周督办摘要"])
    assert names[-1] == "[]", "no flow file is loaded as a stray top-level module"


def test_the_plain_cli_modules_do_not_import_prefect():
    code = (
        "import sys, shanhai.cli.main, shanhai.cli.up, shanhai.cli.deployments, shanhai.flows.common;"
        "sys.exit('prefect' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=60).returncode == 0


def test_run_names_are_for_a_person(tmp_path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    assert check_run_name("joint-meeting", "2026-11-30T10:00:00+08:00", app) == "联席会议 · 2026-11-30"
    # the local (Asia/Shanghai) date, not UTC's
    assert check_run_name("joint-meeting", "2026-11-29T20:00:00Z", app) == "联席会议 · 2026-11-30"
    assert check_run_name("joint-meeting", "2026-11-29", app) == "联席会议 · 2026-11-29"
    # an unknown obligation or a bad date never breaks the name (the flow reports the error)
    assert check_run_name("no-such-duty", "2026-11-29", app) == "no-such-duty · 2026-11-29"
    assert check_run_name("joint-meeting", "tomorrow", app) == "联席会议 · tomorrow"
    assert (
        dated_run_name("发件箱投递", "2026-11-30T01:10:00Z", with_time=True)
        == "发件箱投递 · 2026-11-30 09:10"
    )


def test_artifact_keys_take_lowercase_letters_digits_and_dashes():
    assert artifact_key("status", "joint-meeting") == "status-joint-meeting"
    assert artifact_key("Digest", "coordinator", "summary") == "digest-coordinator-summary"
    assert artifact_key("status", "a_b.c") == "status-a-b-c"


def test_status_rows_have_one_row_per_item_with_chinese_headers():
    items = [
        {
            "id": 1,
            "obligation": "joint-meeting",
            "title": "联席会议",
            "clause": "三(二)",
            "scope": "泰顺-鹿城",
            "period": "2026",
            "due": "2026-12-31",
            "status": "behind_pace",
            "light": "yellow",
            "progress": {"done": 0, "required": 2},
            "escalation_level": 0,
            "pending": False,
        }
    ]
    [row] = status_rows(items)
    assert row["范围"] == "泰顺-鹿城" and row["状态"] == "进度滞后" and row["截止日期"] == "2026-12-31"
    assert row["待审核"] == ""


def test_stack_stops_its_process_groups(tmp_path):
    from shanhai.cli.processes import Stack

    stack = Stack()
    child = stack.start(
        "sleeper",
        ["sh", "-c", "sleep 60 & sleep 60"],  # a grandchild in the same group must go too
        env={"PATH": "/usr/bin:/bin"},
        log_path=tmp_path / "sleeper.log",
        cwd=tmp_path,
    )
    pgid = child.proc.pid
    stack.stop(timeout=5)
    assert child.proc.poll() is not None
    # the killed grandchild is reaped by init asynchronously: give it a bounded moment to vanish
    deadline = time.monotonic() + 10
    while (left := _live_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes left in the group: {left}"


def _live_in_group(pgid: int) -> list[str]:
    """Processes of the group that are not zombies (a zombie is dead, waiting to be reaped)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1] == str(pgid) and not line.split()[2].startswith("Z")]


# --------------------------------------------------------------------------- how runs end (no server)


def _result(state_name: str, counts: dict[str, int], summary: str):
    from datetime import datetime

    from shanhai.notifications.checking import CheckResult

    return CheckResult(
        obligation_id="joint-meeting", title="联席会议", as_of=datetime(2026, 11, 30, 2), dry_run=False,
        items=[], counts=counts, messages=[], queued=3, state_name=state_name, summary=summary,
    )  # fmt: skip


def test_a_check_that_found_overdue_duties_fails_with_its_counts_and_a_tag():
    from shanhai.flows.common import check_outcome

    out = check_outcome(_result("Overdue", {"overdue": 4, "behind_pace": 1}, "已逾期 4 项，进度滞后 1 项；新写入发件箱 3 条"))
    assert out.failed and out.tags == ("已逾期",) and out.verdict == "Overdue"
    assert out.message == "已逾期 4 项，进度滞后 1 项；新写入发件箱 3 条", "the counts, said once"
    # judged by its history (no period this year): still a failure, said so
    past = check_outcome(_result("Overdue", {}, "本年度无期次；历史期次：已逾期 2 项；新写入发件箱 0 条"))
    assert past.failed and past.message == "本年度无期次；历史期次：已逾期 2 项；新写入发件箱 0 条"


def test_checks_that_found_nothing_overdue_complete_with_their_counts():
    from shanhai.flows.common import check_outcome

    behind = check_outcome(_result("BehindPace", {"behind_pace": 1, "on_track": 4}, "进度滞后 1 项，进展正常 4 项；新写入发件箱 1 条"))
    assert not behind.failed and behind.tags == ("进度滞后",)
    assert behind.message == "进度滞后 1 项，进展正常 4 项；新写入发件箱 1 条"
    assert check_outcome(_result("DueSoon", {"due_soon": 1}, "x")).tags == ("即将到期",)
    for verdict in ("AllOnTrack", "AllDone", "NoOccurrences"):
        out = check_outcome(_result(verdict, {}, "按期完成 5 项；新写入发件箱 0 条"))
        assert (out.failed, out.tags, out.message) == (False, (), "按期完成 5 项；新写入发件箱 0 条")


def test_the_check_artifact_states_its_conclusion_in_chinese_and_the_time_in_beijing_time():
    from dataclasses import replace

    from shanhai.flows.common import check_markdown
    from tests.conftest import at

    result = replace(_result("Overdue", {"overdue": 4}, "已逾期 4 项；新写入发件箱 3 条"), as_of=at(2026, 11, 30, 10))
    lines = check_markdown(result).splitlines()
    assert lines[0] == "# 联席会议 · 2026-11-30"
    assert lines[2] == "**结论：已逾期（Overdue）**：已逾期 4 项；新写入发件箱 3 条"
    assert lines[4] == "评估时点 2026-11-30 10:00（北京时间）；新写入发件箱 3 条。"


def test_a_digest_fails_for_overdue_duties_or_for_a_failed_delivery():
    from shanhai.flows.common import digest_outcome
    from shanhai.notifications.delivery import DeliveryReport

    behind = _result("BehindPace", {"behind_pace": 1}, "进度滞后 1 项；新写入发件箱 1 条")
    sent = digest_outcome(behind, DeliveryReport(sent=1))
    assert (sent.failed, sent.tags, sent.verdict) == (False, ("进度滞后",), "BehindPace")
    undelivered = digest_outcome(behind, DeliveryReport(failed=1))
    assert (undelivered.failed, undelivered.tags, undelivered.verdict) == (True, ("进度滞后", "投递失败"), "DeliveryFailed")
    assert "投递失败 1 条" in undelivered.message
    overdue = _result("Overdue", {"overdue": 2}, "已逾期 2 项；新写入发件箱 1 条")
    both = digest_outcome(overdue, DeliveryReport(failed=1))
    assert (both.failed, both.tags, both.verdict) == (True, ("已逾期", "投递失败"), "Overdue")
    assert digest_outcome(behind) == digest_outcome(behind, None)


def test_only_failed_deliveries_fail_a_delivery_run():
    from shanhai.flows.common import delivery_outcome
    from shanhai.notifications.delivery import DeliveryReport

    failed = delivery_outcome(DeliveryReport(sent=3, failed=2))
    assert failed.failed and failed.tags == ("投递失败",) and failed.verdict == "DeliveryFailed"
    assert failed.message.startswith("投递失败 2 条：已发送 3 条")
    retrying = delivery_outcome(DeliveryReport(retrying=1))
    assert (retrying.failed, retrying.tags, retrying.verdict) == (False, ("待重试",), "Retrying")
    for report, verdict in ((DeliveryReport(sent=1), "Sent"), (DeliveryReport(held=2), "Held"), (DeliveryReport(), "Idle")):
        out = delivery_outcome(report)
        assert (out.failed, out.tags, out.verdict) == (False, (), verdict)


def test_the_engine_traceback_of_a_returned_failed_state_is_dropped_but_a_real_error_keeps_its_own():
    import logging

    from prefect.exceptions import FailedRun

    from shanhai.flows.states import ENGINE_EXIT, _ReturnedFailureFilter

    def record(msg, exc):
        return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, msg, None, (type(exc), exc, None))

    keep = _ReturnedFailureFilter().filter
    assert not keep(record(ENGINE_EXIT, FailedRun("已逾期 1 项")))
    assert keep(record(ENGINE_EXIT, ValueError("boom")))
    assert keep(record("Encountered exception during execution", FailedRun("x")))


def test_the_local_stack_schedules_only_the_next_run_and_prefect_reads_the_settings(tmp_path):
    from shanhai.cli.prefect_admin import prefect_env

    env = prefect_env(tmp_path, 4321, base={"PATH": "/usr/bin:/bin"})
    code = (
        "from prefect.settings import get_current_settings as g; s = g();"
        "sch = s.server.services.scheduler;"
        "print(sch.min_runs, sch.max_runs, sch.min_scheduled_time.total_seconds(),"
        " s.server.services.late_runs.after_seconds.total_seconds(), s.worker.heartbeat_seconds)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "0.0", "300.0", "300.0"]
    # the environment wins over these defaults
    env = prefect_env(tmp_path, 4321, base={"PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "3"})
    assert env["PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS"] == "3"


def test_upcoming_runs_take_the_label_their_flow_names_runs_with():
    from shanhai.cli.prefect_runs import run_label

    specs = {spec["name"]: spec["description"] for spec in deployment_specs(_catalogue())}
    assert run_label(specs["联席会议"], "x") == "联席会议"
    # the labels the flows name their runs with (flows.deliver.DELIVERY, flows.digest.WEEKLY/MONTHLY)
    from shanhai.flows.deliver import DELIVERY
    from shanhai.flows.digest import MONTHLY, WEEKLY

    assert run_label(specs["发件箱投递"], "x") == DELIVERY
    assert run_label(specs["每周督办摘要"], "x") == WEEKLY
    assert run_label(specs["每月逾期通报"], "x") == MONTHLY
    assert run_label(None, "deliver-outbox") == run_label("", "deliver-outbox") == "deliver-outbox"


def _run(state, tags=()):
    from uuid import uuid4

    from prefect.client.schemas.objects import FlowRun

    return FlowRun(flow_id=uuid4(), state=state, tags=list(tags))


def test_a_run_is_the_days_check_unless_cancelled_crashed_or_failed_by_an_error():
    from prefect.states import Cancelled, Completed, Crashed, Failed, Pending, Running, Scheduled

    from shanhai.cli.prefect_runs import counts_as_the_days_check

    for state in (Scheduled(), Pending(), Running(), Completed()):
        assert counts_as_the_days_check(_run(state))
    assert counts_as_the_days_check(_run(Failed(message="已逾期 1 项"), ["shanhai", "已逾期"]))
    for state in (Failed(message="Flow run encountered an exception"), Cancelled(), Crashed()):
        assert not counts_as_the_days_check(_run(state, ["shanhai"]))
    assert not counts_as_the_days_check(_run(None))


def test_stopping_without_a_server_still_stops_every_process(tmp_path):
    from shanhai.cli.processes import Stack
    from shanhai.cli.up import stop_stack

    stack = Stack()
    env = {"PATH": "/usr/bin:/bin"}
    server = stack.start("server", ["sleep", "60"], env=env, log_path=tmp_path / "s.log", cwd=tmp_path)
    worker = stack.start("worker", ["sleep", "60"], env=env, log_path=tmp_path / "w.log", cwd=tmp_path)
    assert stop_stack(stack, worker, None) == 0
    assert server.proc.poll() is not None and worker.proc.poll() is not None and stack.children == []


def _deployments(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, "SHANHAI_HOME": str(tmp_path / "home"), "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE), **env}
    return subprocess.run([sys.executable, "-m", "shanhai.cli.deployments", *args], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_the_deployments_module_reports_a_bad_setting_or_catalogue_in_one_line(tmp_path):
    bad = tmp_path / "catalogue"
    bad.mkdir()
    (bad / "broken.yaml").write_text("documents: [\n", encoding="utf-8")
    for args, env, says in [
        (["--check"], {"SHANHAI_SEND_HOUR": "25"}, "SHANHAI_SEND_HOUR"),
        (["--check"], {"SHANHAI_CATALOGUE_DIR": str(bad)}, "broken.yaml"),
        (["--chek"], {}, "未知参数"),
    ]:
        result = _deployments(tmp_path, *args, **env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith("错误 error: ") and says in result.stderr, result.stderr
        assert "内部错误" not in result.stderr, result.stderr

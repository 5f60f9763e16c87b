"""End to end: prefect.yaml deployed to a real Prefect server, deployments run by a real process worker,
and what the Prefect UI shows of them (in Debian's chromium).

The session's server (conftest ``prefect_server``) is started once; this module's ``stack`` creates the
`shanhai` process work pool, runs `prefect --no-prompt deploy --all` from the repo root and starts one
worker subprocess on a seeded application database, shared by the tests here.

Seed: every joint meeting before 2026 held twice; in 2026 every pairing but one held its first
meeting (the pace milestone is one by 06-30). At 2026-11-30, 31 days before the 12-31 deadline:
four pairings on track, one behind pace and nothing overdue, so the joint-meeting check ends a green
`Completed`. The other obligations have no records: the next-year-plan check finds the 2026 plans (due
Monday 11-02, Saturday 10-31 rolled forward) overdue and ends a red `Failed` tagged 已逾期.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from shanhai import REPO_ROOT
from shanhai.models.localtime import TZ_NAME
from shanhai.models.orchestration import (
    CHECK_FLOW,
    DELIVER_DEPLOYMENT,
    WEEKLY_DIGEST_DEPLOYMENT,
    check_deployment,
)
from tests.conftest import REAL_CATALOGUE, at, make_app, make_record, screenshot_dir

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(300)]

AS_OF = "2026-11-30T10:00:00+08:00"
RUN_TIMEOUT = 150.0
CLEAN, OVERDUE = "joint-meeting", "next-year-plan"


def _check(obligation: str) -> str:
    """The check deployment of an obligation of the real catalogue (named by its title, in Chinese)."""
    from shanhai.models.catalogue import load_catalogue

    return check_deployment(load_catalogue(REAL_CATALOGUE).obligations[obligation].title)
SCREENSHOTS = screenshot_dir()
# The deployment page's default filter of the classic UI (served at /): Prefect's standard state names
# but Scheduled. The default UI (/v2) filters the same page by state type (all but SCHEDULED).
CLASSIC_DEFAULT_NAMES = [
    "Late", "Resuming", "AwaitingRetry", "AwaitingConcurrencySlot", "Pending", "Paused", "Suspended",
    "Running", "Retrying", "Completed", "Cached", "Cancelled", "Cancelling", "Crashed", "Failed", "TimedOut",
]  # fmt: skip


def _seed(home: Path) -> tuple[str, list[str]]:
    """The application database the worker's flow runs will read; returns (url, 2026 scopes)."""
    from shanhai.models.tables import Occurrence

    url = f"sqlite:///{home / 'shanhai.db'}"
    when = at(2026, 11, 30, 10)
    app = make_app(home, url, sync_at=when)
    with app.session() as session:
        occs = session.execute(
            select(Occurrence.scope, Occurrence.period).where(
                Occurrence.obligation_id == CLEAN, Occurrence.period_start <= when.date()
            )
        ).all()
    this_year = sorted(scope for scope, period in occs if period == "2026")
    assert len(this_year) >= 2, occs
    for scope, period in occs:
        if period != "2026":
            make_record(app, CLEAN, scope, f"{period}-09-15", count=2)
    for scope in this_year[1:]:  # the first pairing has held no meeting this year: behind pace
        make_record(app, CLEAN, scope, "2026-05-15")
    from shanhai.db import get_engine

    get_engine(url).dispose()  # the worker's processes write to it next
    return url, this_year


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@dataclass
class LocalStack:
    api: str
    home: Path
    stack: Any
    worker: Any
    log: Path
    this_year: list[str]
    runs: dict[str, Any] = field(default_factory=dict)  # the finished check runs, by obligation

    def client(self):
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api)

    def wait_final(self, client, flow_run_id):
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            if self.worker.proc.poll() is not None:
                pytest.fail(f"the worker exited ({self.worker.proc.returncode}):\n{_tail(self.log)}", pytrace=False)
            time.sleep(0.5)
        pytest.fail(f"flow run {flow_run_id} not finished after {RUN_TIMEOUT:.0f} s:\n{_tail(self.log)}", pytrace=False)


@pytest.fixture(scope="module")
def stack(prefect_server, tmp_path_factory):
    """The pool, every deployment of prefect.yaml and one process worker (limit 2) on a seeded database."""
    from shanhai.cli.prefect_admin import deploy_all, ensure_work_pool, start_worker
    from shanhai.cli.processes import Stack

    tmp = tmp_path_factory.mktemp("e2e")
    home = tmp / "home"
    url, this_year = _seed(home)
    api = prefect_server.api_url
    ensure_work_pool(api)
    assert ensure_work_pool(api) is False  # idempotent: the second call finds it
    before = (REPO_ROOT / "prefect.yaml").read_bytes()
    deploy_all(env=prefect_server.env, log_path=tmp / "deploy.log")
    assert (REPO_ROOT / "prefect.yaml").read_bytes() == before, "prefect deploy must not rewrite prefect.yaml"
    worker_env = {
        **prefect_server.env,
        # relative, as in a unit file: read against the repository, not the run's temporary folder
        "SHANHAI_HOME": os.path.relpath(home, REPO_ROOT),
        "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE),
        "SHANHAI_SECRET_KEY": "test-secret",
    }
    processes = Stack()
    log = tmp / "worker.log"
    try:
        worker = start_worker(processes, env=worker_env, log_path=log, limit=2)
        yield LocalStack(api=api, home=home, stack=processes, worker=worker, log=log, this_year=this_year)
    finally:
        processes.stop()
    assert "Traceback" not in log.read_text(errors="replace"), _tail(log, 80)


@pytest.fixture(scope="module")
def checked(stack) -> LocalStack:
    """The clean and the overdue check, run side by side on the worker to their final states."""
    if stack.runs:
        return stack
    with stack.client() as client:
        t0 = time.monotonic()
        created = {
            ob: client.create_flow_run_from_deployment(
                client.read_deployment_by_name(_check(ob)).id, parameters={"as_of": AS_OF}
            )
            for ob in (CLEAN, OVERDUE)
        }
        stack.runs = {ob: stack.wait_final(client, run.id) for ob, run in created.items()}
    print(f"\ntwo checks finished in {time.monotonic() - t0:.1f} s (submit to final state)", file=sys.stderr)
    return stack


def _artifacts(client, *run_ids) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flt = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=list(run_ids)))
    return {a.key: a for a in client.read_artifacts(artifact_filter=flt)}


def _ids(client, **filters) -> set:
    from prefect.client.schemas.filters import FlowRunFilter

    return {r.id for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(**filters))}


def test_deployed_check_runs_on_a_process_worker(checked):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from shanhai.cli.deployments import deployment_specs

    with checked.client() as client:
        assert client.read_work_pool("shanhai").type == "process"
        names = {d.name for d in client.read_deployments()}
        expected = {spec["name"] for spec in deployment_specs(make_app(checked.home, "sqlite://").catalogue)}
        assert expected <= names
        dep = client.read_deployment_by_name(_check(CLEAN))
        assert dep.work_pool_name == "shanhai"
        assert dep.parameters == {"obligation": CLEAN}
        [sched] = dep.schedules
        assert (sched.schedule.cron, sched.schedule.timezone) == ("5 9 * * *", TZ_NAME)

        run = checked.runs[CLEAN]
        assert (run.state.type.value, run.state.name) == ("COMPLETED", "Completed"), f"{run.state!r}"
        assert "进度滞后 1 项" in run.state.message
        assert "进度滞后" in run.tags and "已逾期" not in run.tags
        assert run.name == "联席会议 · 2026-11-30"

        artifacts = _artifacts(client, run.id)
        table = artifacts[f"status-{CLEAN}"]
        assert table.type == "table"
        rows = json.loads(table.data) if isinstance(table.data, str) else table.data
        assert len(rows) == len(checked.this_year)  # one row per occurrence the check saw (2026's)
        assert sorted(r["范围"] for r in rows) == checked.this_year
        assert sorted(r["状态"] for r in rows) == ["进展正常"] * (len(checked.this_year) - 1) + ["进度滞后"]
        summary = artifacts[f"reminders-{CLEAN}"]
        assert summary.type == "markdown"
        assert "BehindPace" in summary.data  # the engine's verdict, as the artifact shows it

        # only the one coarse task ran (no task per occurrence)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
        assert [t.name.split("-")[0] for t in tasks] == ["检查事项 check"]


def test_a_check_that_finds_overdue_duties_ends_red_tagged_and_filterable(checked):
    from prefect.client.schemas.filters import (
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateName,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )

    overdue, clean = checked.runs[OVERDUE], checked.runs[CLEAN]
    # a standard Failed: red in both UIs, counted by the dashboard, its message gives the counts
    assert (overdue.state.type.value, overdue.state.name) == ("FAILED", "Failed"), f"{overdue.state!r}"
    assert overdue.state.message.startswith("已逾期 5 项"), overdue.state.message  # the five pairings' plans
    assert "已逾期" in overdue.tags
    assert overdue.name == "下一年度合作计划备案 · 2026-11-30"
    with checked.client() as client:
        assert "Overdue" in _artifacts(client, overdue.id)[f"reminders-{OVERDUE}"].data

        both = {overdue.id, clean.id}
        deps = FlowRunFilterDeploymentId(any_=[overdue.deployment_id, clean.deployment_id])
        # each deployment page lists its run under the default filter of either UI
        classic = FlowRunFilterState(name=FlowRunFilterStateName(any_=CLASSIC_DEFAULT_NAMES))
        assert _ids(client, deployment_id=deps, state=classic) == both
        default = FlowRunFilterState(type=FlowRunFilterStateType(not_any_=["SCHEDULED"]))
        assert _ids(client, deployment_id=deps, state=default) == both
        # the state filter (Failed) and the tag filter (已逾期) pick the overdue check, not the clean one
        failed = FlowRunFilterState(name=FlowRunFilterStateName(any_=["Failed"]))
        assert _ids(client, deployment_id=deps, state=failed) == {overdue.id}
        assert _ids(client, deployment_id=deps, tags=FlowRunFilterTags(all_=["已逾期"])) == {overdue.id}
        # the dashboard's "failed or crashed runs" counts it
        red = FlowRunFilterState(type=FlowRunFilterStateType(any_=["FAILED", "CRASHED"]))
        assert overdue.id in _ids(client, deployment_id=deps, state=red)


def test_digest_with_overdue_items_fails_and_an_idle_delivery_completes(stack):
    with stack.client() as client:
        digest = client.create_flow_run_from_deployment(
            client.read_deployment_by_name(WEEKLY_DIGEST_DEPLOYMENT).id, parameters={"as_of": AS_OF}
        )
        deliver = client.create_flow_run_from_deployment(
            client.read_deployment_by_name(DELIVER_DEPLOYMENT).id
        )
        digest = stack.wait_final(client, digest.id)
        deliver = stack.wait_final(client, deliver.id)
        # everything else in the catalogue has no records: the coordinator's digest reports overdue duties
        assert (digest.state.type.value, digest.state.name) == ("FAILED", "Failed"), digest.state
        assert digest.state.message.startswith("已逾期 ") and "已逾期" in digest.tags
        assert digest.name == "每周督办摘要 · 2026-11-30"
        # no channel is configured: every message stays in the local outbox, nothing fails
        assert (deliver.state.type.value, deliver.state.name) == ("COMPLETED", "Completed"), deliver.state
        assert "失败 0 条" in deliver.state.message and "投递失败" not in deliver.tags
        assert deliver.name.startswith("发件箱投递 · "), "delivery runs on the real clock"
        keys = set(_artifacts(client, digest.id, deliver.id))
        assert {"digest-coordinator", "digest-coordinator-summary", "outbox-delivery"} <= keys


def test_triggering_the_checks_twice_on_one_day_runs_each_once(stack):
    from prefect.states import Cancelled

    from shanhai.cli.prefect_runs import trigger_checks

    titles = {"high-level-visit": "高层互访", "aid-funds": "年度帮扶资金到位"}
    first = trigger_checks(stack.api, titles, AS_OF)
    assert set(first.created) == set(titles) and not first.existing
    again = trigger_checks(stack.api, titles, AS_OF)
    assert not again.created and again.existing == first.created  # the same runs, found by their key
    with stack.client() as client:
        run = client.read_flow_run(first.created["aid-funds"])
        assert run.idempotency_key == "shanhai-up:aid-funds:2026-11-30"
        assert "shanhai-up" in run.tags and run.parameters["as_of"] == AS_OF
        # a run cancelled before it ran (a stop while it waited) is no check: the next start makes one
        client.set_flow_run_state(run.id, Cancelled(message="test"), force=True)
        third = trigger_checks(stack.api, titles, AS_OF)
        assert list(third.created) == ["aid-funds"] and list(third.existing) == ["high-level-visit"]
        assert client.read_flow_run(third.created["aid-funds"]).idempotency_key.endswith(":2026-11-30:1")
        for run_id in third.runs.values():
            stack.wait_final(client, run_id)


def test_todays_scheduled_check_that_already_ran_is_not_run_again(stack):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.states import Completed

    from shanhai.cli.prefect_runs import trigger_checks

    ob = "transfer-measures"
    with stack.client() as client:
        dep = client.read_deployment_by_name(_check(ob))
        # what the scheduler makes: the 09:05 run of a day (here 2026-11-29, so nothing depends on today)
        window = {"start_time": at(2026, 11, 29, 0).isoformat(), "end_time": at(2026, 11, 29, 23).isoformat()}
        # (the client retries the 503 a busy SQLite answers with)
        client.request("POST", "/deployments/{id}/schedule", path_params={"id": dep.id}, json=window)
        [scheduled] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[dep.id]))
        )
        assert scheduled.auto_scheduled
        client.set_flow_run_state(scheduled.id, Completed(message="ran at 09:05"), force=True)
        after_it = scheduled.expected_start_time + timedelta(hours=1)
        found = trigger_checks(stack.api, {ob: "产业梯度转移举措"}, None, now=after_it)
        assert found.existing == {ob: scheduled.id} and not found.created


def test_stopping_and_restarting_leave_no_run_running_pending_or_waiting(stack):
    """Like Ctrl-C on `shanhai up` with checks in flight, then a start after a stack killed with -9.

    Stops this module's worker: keep it the module's last test that runs flows."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import Running, Scheduled

    from shanhai.cli.prefect_runs import (
        MISSED_MESSAGE,
        ORPHAN_MESSAGE,
        STOPPED_MESSAGE,
        _pool_runs,
        settle_previous_runs,
        trigger_checks,
    )
    from shanhai.cli.up import stop_stack
    from shanhai.models.catalogue import load_catalogue

    obligations = load_catalogue(REAL_CATALOGUE).obligations
    titles = {o: obligations[o].title for o in ("park-plan", "park-management", "income-projects",
                                                 "work-conference", "village-projects")}
    triggered = trigger_checks(stack.api, titles, AS_OF)
    assert len(triggered.created) == 5  # more than the worker's limit: some wait, some run
    with stack.client() as client:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not _pool_runs(client, types=["RUNNING"]):
            assert time.monotonic() < deadline, _tail(stack.log)
            time.sleep(0.2)

        settled = stop_stack(stack.stack, stack.worker, stack.api)  # Ctrl-C
        assert settled >= 1
        now = datetime.now(UTC)
        assert not _pool_runs(client, types=["RUNNING", "PENDING", "CANCELLING"])
        assert not _pool_runs(client, scheduled_before=now)
        states = [client.read_flow_run(i).state for i in triggered.created.values()]
        assert {s.type for s in states} <= {StateType.CANCELLED, StateType.COMPLETED, StateType.FAILED}
        assert any(s.type == StateType.CANCELLED and s.message == STOPPED_MESSAGE for s in states)

        # a stack killed with -9 leaves its run Running; the scheduled runs of the days it was down wait
        dep = client.read_deployment_by_name(_check("park-plan")).id
        later = now + timedelta(days=2)
        orphan = client.create_flow_run_from_deployment(dep, state=Scheduled(scheduled_time=later))
        client.set_flow_run_state(orphan.id, Running(), force=True)
        missed = client.create_flow_run_from_deployment(dep, state=Scheduled(scheduled_time=now - timedelta(days=3)))
        upcoming = client.create_flow_run_from_deployment(dep, state=Scheduled(scheduled_time=later))
        assert settle_previous_runs(stack.api, now=now) == (1, 1)
        assert (client.read_flow_run(orphan.id).state.type, client.read_flow_run(orphan.id).state.message) == (
            StateType.CRASHED,
            ORPHAN_MESSAGE,
        )
        assert client.read_flow_run(missed.id).state.message == MISSED_MESSAGE
        assert client.read_flow_run(upcoming.id).state.type == StateType.SCHEDULED


# --------------------------------------------------------------------------- the Prefect UI, in chromium

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is missing: apt-get install chromium fonts-noto-cjk", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1400, "height": 900}, timezone_id=TZ_NAME, locale="zh-CN"
        )
        try:
            yield context.new_page()
        finally:
            browser.close()


def _ui(api: str) -> str:
    return api.removesuffix("/api")


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(x)) for x in css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")[:3])


def _settle(page) -> None:
    """Let the page finish its first requests (the UI fills in parts of a page as they answer)."""
    page.wait_for_load_state("networkidle", timeout=15_000)


def _badge(page, run_name: str, state: str):
    """The state badge inside the card of the run with this name."""
    card = page.locator("div", has=page.get_by_text(run_name, exact=True)).filter(
        has=page.get_by_text(state, exact=True)
    ).last
    return card.get_by_text(state, exact=True).first


@pytest.mark.browser
def test_the_prefect_ui_lists_the_checks_and_marks_the_overdue_one(checked, page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ui = _ui(checked.api)
    overdue, clean = checked.runs[OVERDUE], checked.runs[CLEAN]

    # the default UI (/v2): the overdue check's deployment page lists it, red, with its tag
    page.goto(f"{ui}/v2/deployments/deployment/{overdue.deployment_id}")
    page.get_by_text(overdue.name, exact=True).first.wait_for(timeout=30_000)
    badge = _badge(page, overdue.name, "Failed")
    badge.wait_for()
    text_rgb = _rgb(badge.evaluate("e => getComputedStyle(e.closest('[class*=state-]') || e).color"))
    assert "No runs found" not in page.inner_text("body")
    assert page.get_by_text("已逾期", exact=True).first.is_visible()
    assert text_rgb[0] > text_rgb[1] + 60 and text_rgb[0] > text_rgb[2] + 60, f"not red: {text_rgb}"
    _settle(page)
    page.screenshot(path=str(SCREENSHOTS / "prefect-deployment-overdue.png"))

    # the clean check's page: green Completed
    page.goto(f"{ui}/v2/deployments/deployment/{clean.deployment_id}")
    badge = _badge(page, clean.name, "Completed")
    badge.wait_for(timeout=30_000)
    text_rgb = _rgb(badge.evaluate("e => getComputedStyle(e.closest('[class*=state-]') || e).color"))
    assert text_rgb[1] > text_rgb[0] + 40, f"not green: {text_rgb}"
    _settle(page)
    page.screenshot(path=str(SCREENSHOTS / "prefect-deployment-clean.png"))

    # the classic UI (/): its default filter lists standard state names, which ours are
    page.goto(f"{ui}/deployments/deployment/{overdue.deployment_id}")
    page.get_by_text(overdue.name, exact=True).first.wait_for(timeout=30_000)
    assert "No runs found" not in page.inner_text("body")
    page.get_by_text("Failed", exact=True).first.wait_for()
    _settle(page)
    page.screenshot(path=str(SCREENSHOTS / "prefect-deployment-classic.png"))

    # the runs page filtered by the tag lists the overdue check and not the clean one
    page.goto(f"{ui}/v2/runs?tags={quote('已逾期')}")
    page.get_by_text(overdue.name, exact=True).first.wait_for(timeout=30_000)
    assert page.get_by_text(clean.name, exact=True).count() == 0
    _settle(page)
    page.screenshot(path=str(SCREENSHOTS / "prefect-runs-overdue.png"))

    # the dashboard counts it among the failed runs (an explicit range: "past day" ends at the last minute)
    start, end = ((datetime.now(UTC) + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in (-1, 1))
    page.goto(f"{ui}/v2/dashboard?rangeType=range&start={start}&end={end}")
    page.get_by_text("Flow Runs", exact=True).first.wait_for(timeout=30_000)
    page.get_by_text(CHECK_FLOW, exact=True).first.wait_for(timeout=30_000)  # the failed runs' flow
    assert "0 failed or crashed" not in page.inner_text("body")
    _settle(page)
    page.screenshot(path=str(SCREENSHOTS / "prefect-dashboard.png"))

"""End to end: prefect.yaml deployed to a real Prefect server, a deployment run by a real process worker.

The session's server (conftest ``prefect_server``) is started once; this module creates the `shanhai`
process work pool, runs `prefect --no-prompt deploy --all` from the repo root, starts a worker
subprocess on a seeded application database and runs the joint-meeting check for 2026-11-30.

Seed: every joint meeting before 2026 held twice; in 2026 every pairing but one held its first
meeting (the pace milestone is one by 06-30). At 2026-11-30, 31 days before the 12-31 deadline:
four pairings on track, one behind pace, so the run must end in Completed named "BehindPace".
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from shanhai import REPO_ROOT
from tests.conftest import REAL_CATALOGUE, at, make_app, make_record

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(300)]

AS_OF = "2026-11-30T10:00:00+08:00"
RUN_TIMEOUT = 150.0


def _seed(home: Path) -> tuple[str, list[str]]:
    """The application database the worker's flow runs will read; returns (url, 2026 scopes)."""
    from shanhai.models.tables import Occurrence

    url = f"sqlite:///{home / 'shanhai.db'}"
    when = at(2026, 11, 30, 10)
    app = make_app(home, url, sync_at=when)
    with app.session() as session:
        occs = session.execute(
            select(Occurrence.scope, Occurrence.period).where(
                Occurrence.obligation_id == "joint-meeting", Occurrence.period_start <= when.date()
            )
        ).all()
    this_year = sorted(scope for scope, period in occs if period == "2026")
    assert len(this_year) >= 2, occs
    for scope, period in occs:
        if period != "2026":
            make_record(app, "joint-meeting", scope, f"{period}-09-15", count=2)
    for scope in this_year[1:]:  # the first pairing has held no meeting this year: behind pace
        make_record(app, "joint-meeting", scope, "2026-05-15")
    from shanhai.db import get_engine

    get_engine(url).dispose()  # the worker's processes write to it next
    return url, this_year


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _wait_final(client, flow_run_id, worker, log: Path):
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and run.state.is_final():
            return run
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{_tail(log)}", pytrace=False)
        time.sleep(0.5)
    pytest.fail(
        f"flow run {flow_run_id} not finished after {RUN_TIMEOUT:.0f} s:\n{_tail(log)}", pytrace=False
    )


def test_deployed_check_runs_on_a_process_worker(prefect_server, tmp_path):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    from shanhai.cli.deployments import deployment_specs
    from shanhai.cli.prefect_admin import deploy_all, ensure_work_pool, start_worker
    from shanhai.cli.processes import Stack

    api = prefect_server.api_url
    home = tmp_path / "home"
    url, this_year = _seed(home)

    ensure_work_pool(api)
    assert ensure_work_pool(api) is False  # idempotent: the second call finds it
    before = (REPO_ROOT / "prefect.yaml").read_bytes()
    deploy_all(env=prefect_server.env, log_path=tmp_path / "deploy.log")
    assert (REPO_ROOT / "prefect.yaml").read_bytes() == before, "prefect deploy must not rewrite prefect.yaml"

    worker_env = {
        **prefect_server.env,
        "SHANHAI_HOME": str(home),
        "SHANHAI_DATABASE_URL": url,
        "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE),
        "SHANHAI_SECRET_KEY": "test-secret",
    }
    stack = Stack()
    worker_log = tmp_path / "worker.log"
    try:
        worker = start_worker(stack, env=worker_env, log_path=worker_log, limit=2)
        with SyncPrefectClient(api) as client:
            assert client.read_work_pool("shanhai").type == "process"
            names = {d.name for d in client.read_deployments()}
            expected = {spec["name"] for spec in deployment_specs(make_app(home, url).catalogue)}
            assert expected <= names

            dep = client.read_deployment_by_name("check-obligation/joint-meeting")
            assert dep.work_pool_name == "shanhai"
            assert dep.parameters == {"obligation": "joint-meeting"}
            [sched] = dep.schedules
            assert (sched.schedule.cron, sched.schedule.timezone) == ("5 9 * * *", "Asia/Shanghai")

            t0 = time.monotonic()
            created = client.create_flow_run_from_deployment(dep.id, parameters={"as_of": AS_OF})
            run = _wait_final(client, created.id, worker.proc, worker_log)
            elapsed = time.monotonic() - t0

            assert run.state.is_completed(), f"{run.state!r}\n{_tail(worker_log)}"
            assert run.state.name == "BehindPace", f"{run.state!r}\n{_tail(worker_log)}"
            assert "进度滞后 1 项" in run.state.message
            assert run.name == "联席会议 · 2026-11-30"

            artifacts = {
                a.key: a
                for a in client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
                )
            }
            table = artifacts["status-joint-meeting"]
            assert table.type == "table"
            rows = json.loads(table.data) if isinstance(table.data, str) else table.data
            assert len(rows) == len(this_year)  # one row per occurrence the check saw (2026's)
            assert sorted(r["范围"] for r in rows) == this_year
            assert sorted(r["状态"] for r in rows) == ["进展正常"] * (len(this_year) - 1) + ["进度滞后"]
            summary = artifacts["reminders-joint-meeting"]
            assert summary.type == "markdown"
            assert "BehindPace" in summary.data

            # only the one coarse task ran (no task per occurrence)
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            assert [t.name.split("-")[0] for t in tasks] == ["检查事项 check"]

            # the support flows, side by side on the same worker: the coordinator's digest (everything
            # else in the catalogue has no records: overdue) and the outbox delivery (no channel is
            # configured, so every message stays in the local outbox and nothing is sent)
            digest = client.create_flow_run_from_deployment(
                client.read_deployment_by_name("weekly-digest/weekly-digest").id, parameters={"as_of": AS_OF}
            )
            deliver = client.create_flow_run_from_deployment(
                client.read_deployment_by_name("deliver-outbox/deliver-outbox").id
            )
            digest = _wait_final(client, digest.id, worker.proc, worker_log)
            deliver = _wait_final(client, deliver.id, worker.proc, worker_log)
            assert (digest.state.type.value, digest.state.name) == ("COMPLETED", "Overdue"), digest.state
            assert digest.name == "每周督办摘要 · 2026-11-30"
            assert (deliver.state.type.value, deliver.state.name) == ("COMPLETED", "Idle"), deliver.state
            assert deliver.name.startswith("发件箱投递 · "), "delivery runs on the real clock"
            keys = {
                a.key
                for a in client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        flow_run_id=ArtifactFilterFlowRunId(any_=[digest.id, deliver.id])
                    )
                )
            }
            assert {"digest-coordinator", "digest-coordinator-summary", "outbox-delivery"} <= keys
        print(f"\ncheck run finished in {elapsed:.1f} s (submit to final state)", file=sys.stderr)
    finally:
        stack.stop()
    assert "Traceback" not in worker_log.read_text(errors="replace")

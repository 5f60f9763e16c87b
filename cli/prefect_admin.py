"""Talking to a Prefect server for `shanhai up`: its settings, start it, wait for it, the work pool,
deploy, a worker (the runs themselves: `prefect_runs`). Prefect is imported only inside the functions
that talk to the server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from shanhai import REPO_ROOT
from shanhai.cli.processes import Child, Stack, StartupError, open_log

WORK_POOL = "shanhai"
WORKER_LIMIT = 4  # concurrent flow runs (each one a Python process)
HEALTH_TIMEOUT = 120.0

# Settings of the local stack's server and worker (each may be overridden from the environment).
STACK_SETTINGS = {
    # The scheduler pre-creates runs (with random adjective-animal names until they start) up to
    # max(3 runs, 1 hour) ahead by default: ~110 Scheduled runs for 32 deployments, burying the flow
    # pages. Only the next run of each schedule: created when the previous one becomes due.
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": "PT0S",  # an ISO 8601 duration
    # The checks triggered together wait their turn at the worker for a minute or so; marking them
    # Late after the default 15 s makes the late-runs service write them all at once, which SQLite
    # answers with "database is locked" (logged, retried). Five minutes still flags a stopped worker.
    "PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS": "300",
    # The worker's heartbeat (over its WebSocket channel) is persisted by the server as a read then a
    # write in one deferred SQLite transaction: when any other write commits in between, which is likely
    # while the day's checks run four at a time, it fails with "database is locked" and a traceback in
    # the server log (the next heartbeat succeeds). Heartbeats every 5 minutes instead of 30 s leave
    # only the one sent when the worker connects, before the checks start, in a start's busy minutes.
    # The server marks the worker offline after three missed heartbeats (15 minutes).
    "PREFECT_WORKER_HEARTBEAT_SECONDS": "300",
}
DEPLOY_TIMEOUT = 600.0


def prefect_argv(*args: str) -> list[str]:
    """The prefect CLI of this interpreter (the venv's), whatever is on PATH."""
    return [sys.executable, "-m", "prefect", *args]


def prefect_env(prefect_home: Path, port: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of every Prefect process of the stack: one home, one API, no telemetry."""
    env = dict(os.environ if base is None else base)
    env.pop("PREFECT_PROFILE", None)
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
    )
    for name, value in STACK_SETTINGS.items():
        env.setdefault(name, value)
    return env


def start_server(stack: Stack, *, env: dict[str, str], port: int, log_path: Path) -> Child:
    argv = prefect_argv("server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off")
    return stack.start("Prefect server", argv, env=env, log_path=log_path, cwd=REPO_ROOT)


def wait_healthy(api_url: str, server: Child | None = None, timeout: float = HEALTH_TIMEOUT) -> float:
    """Poll /health until the API answers; seconds waited. Raises StartupError if it never does."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if server is not None and not server.alive():
            raise StartupError(
                f"Prefect 服务器启动失败（退出码 {server.proc.returncode}），日志 {server.log_path}：\n"
                f"{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise StartupError(f"Prefect 服务器 {timeout:.0f} 秒内未就绪：{api_url}")


def ensure_work_pool(api_url: str, name: str = WORK_POOL) -> bool:
    """Create the process work pool if missing; True when it was created."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with SyncPrefectClient(api_url) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type="process",
                    description="山海协作工程督办：本机进程执行 Shanhai flows",
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
        except ObjectAlreadyExists:
            return False
    return True


def deploy_all(*, env: dict[str, str], log_path: Path, prefect_file: Path | None = None) -> None:
    """`prefect --no-prompt deploy --all` from the repo root (output to the log)."""
    argv = prefect_argv("--no-prompt", "deploy", "--all")
    if prefect_file is not None:
        argv += ["--prefect-file", str(prefect_file)]
    with open_log(log_path, argv) as log:
        # run() kills the child if we are interrupted; its own session keeps Ctrl-C away from it
        done = subprocess.run(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=DEPLOY_TIMEOUT,
            start_new_session=True,
        )
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])
        raise StartupError(f"prefect deploy 失败（退出码 {done.returncode}），日志 {log_path}：\n{tail}")


def deploy_if_changed(
    api_url: str, *, env: dict[str, str], log_path: Path, prefect_file: Path | None
) -> bool:
    """`prefect deploy --all` unless the same file was deployed before and the server still has every one
    of its deployments (a warm start then skips the ~20 s it costs); True when it deployed."""
    import hashlib

    import yaml

    path = prefect_file or REPO_ROOT / "prefect.yaml"
    text = path.read_text(encoding="utf-8")
    stamp = Path(env["PREFECT_HOME"]) / "deployed.sha256"
    fingerprint = hashlib.sha256(f"{api_url}\n{text}".encode()).hexdigest()
    names = {d["name"] for d in yaml.safe_load(text).get("deployments") or []}
    if stamp.exists() and stamp.read_text().strip() == fingerprint and names <= _deployed_names(api_url):
        return False
    deploy_all(env=env, log_path=log_path, prefect_file=prefect_file)
    stamp.write_text(fingerprint)
    return True


def _deployed_names(api_url: str) -> set[str]:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    with SyncPrefectClient(api_url) as client:
        found = client.read_deployments(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[WORK_POOL])))
    return {d.name for d in found}


def start_worker(stack: Stack, *, env: dict[str, str], log_path: Path, limit: int = WORKER_LIMIT) -> Child:
    argv = prefect_argv(
        "worker",
        "start",
        "--pool",
        WORK_POOL,
        "--type",
        "process",
        "--limit",
        str(limit),
        "--name",
        "shanhai-local",
    )
    return stack.start("Prefect worker", argv, env=env, log_path=log_path, cwd=REPO_ROOT)

"""`shanhai up` (what `make run` runs): the whole stack on one machine, stopped cleanly with Ctrl-C.

A Prefect server (SQLite under SHANHAI_HOME/prefect unless PREFECT_API_DATABASE_CONNECTION_URL says
otherwise), the `shanhai` process work pool, every deployment of prefect.yaml, one process worker,
the catalogue and the demo history, today's checks triggered, and the portal when there is one.
Subprocess output goes to SHANHAI_HOME/logs; each child runs in its own process group, so Ctrl-C
reaches only this process, which stops the children in order (worker before server) and waits.

Prefect is imported only inside the functions that talk to the server, never at module level.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from shanhai import REPO_ROOT

WORK_POOL = "shanhai"
CHECK_FLOW = "check-obligation"
WORKER_LIMIT = 4  # concurrent flow runs (each one a Python process)
HEALTH_TIMEOUT = 120.0
DEPLOY_TIMEOUT = 600.0


class StartupError(RuntimeError):
    """Something did not come up; the message says what and where its log is."""


class _Stop(BaseException):  # like KeyboardInterrupt: no `except Exception` on the way swallows it
    """Raised by the SIGINT/SIGTERM handler to unwind to the clean shutdown."""


def _private(path: str, flags: int) -> int:
    """``open(..., opener=_private)``: a new file is readable by its owner only (0600)."""
    return os.open(path, flags, 0o600)


def _say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- processes


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path
    log: IO

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class Stack:
    """The children of one `shanhai up`, stopped in reverse start order."""

    children: list[Child] = field(default_factory=list)

    pid_file: Path | None = None  # process groups recorded here, reaped by the next start if orphaned

    def start(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path, cwd: Path) -> Child:
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = open(log_path, "a", encoding="utf-8", opener=_private)  # noqa: SIM115  (closed in stop())
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n")
        log.flush()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: the terminal's Ctrl-C does not reach it
        )
        child = Child(name, proc, log_path, log)
        self.children.append(child)
        self._record()
        return child

    def _record(self) -> None:
        if self.pid_file is not None:
            self.pid_file.write_text("".join(f"{c.proc.pid}\n" for c in self.children))

    def stop(self, timeout: float = 20.0) -> None:
        for child in reversed(self.children):
            stop_process_group(child.proc, timeout=timeout)
            child.log.close()
        self.children.clear()
        self._record()


def stop_process_group(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the child's process group, wait, then SIGKILL whatever is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    # the group may outlive its leader (flow-run subprocesses of a worker)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def reap_orphans(pid_file: Path) -> int:
    """Stop the process groups a previous run recorded and left behind (it was killed with SIGKILL)."""
    try:
        pids = [int(line) for line in pid_file.read_text().split()]
    except (OSError, ValueError):
        return 0
    reaped = 0
    for pid in reversed(pids):  # the worker before the server it reports to
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "prefect" not in cmdline and "uvicorn" not in cmdline:
            continue  # the pid was reused by something else: not ours
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            if sig == signal.SIGTERM:
                for _ in range(40):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.25)
        reaped += 1
    pid_file.unlink(missing_ok=True)
    return reaped


def prefect_argv(*args: str) -> list[str]:
    """The prefect CLI of this interpreter (the venv's), whatever is on PATH."""
    return [sys.executable, "-m", "prefect", *args]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as uvicorn binds: a port in TIME_WAIT after the last stop is free, a listening one is not
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def choose_port(configured_url: str, default: int) -> int:
    port = urlsplit(configured_url).port or default
    return port if port_is_free(port) else free_port()


# --------------------------------------------------------------------------- Prefect server


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
    # The checks triggered together wait their turn at the worker for a minute or so; marking them
    # Late after the default 15 s makes the late-runs service write them all at once, which SQLite
    # answers with "database is locked" (logged, retried). Five minutes still flags a stopped worker.
    env.setdefault("PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS", "300")
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
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8", opener=_private) as log:
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n")
        log.flush()
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


def trigger_checks(api_url: str, obligation_ids: list[str], as_of: str | None = None) -> int:
    """One run of each obligation's check deployment, now; the number of runs created."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Scheduled

    params = {"as_of": as_of} if as_of else {}
    created = 0
    with SyncPrefectClient(api_url) as client:
        for ob_id in obligation_ids:
            try:
                dep = client.read_deployment_by_name(f"{CHECK_FLOW}/{ob_id}")
            except ObjectNotFound:
                continue
            client.create_flow_run_from_deployment(dep.id, parameters=params, tags=["shanhai-up"])
            created += 1
        # checks only queue; one delivery run shortly after sends what they queued, one message per unit
        try:
            deliver = client.read_deployment_by_name("deliver-outbox/deliver-outbox")
        except ObjectNotFound:
            return created
        when = datetime.now(UTC) + timedelta(minutes=2)
        client.create_flow_run_from_deployment(
            deliver.id, parameters=params, tags=["shanhai-up"], state=Scheduled(scheduled_time=when)
        )
    return created


# --------------------------------------------------------------------------- portal


def portal_target() -> list[str] | None:
    """uvicorn arguments for the portal, or None while shanhai.portal has no app yet."""
    try:
        if importlib.util.find_spec("shanhai.portal.app") is None:
            return None
        module = importlib.import_module("shanhai.portal.app")
    except Exception:  # noqa: BLE001  (a half-written portal must not stop the stack)
        return None
    if hasattr(module, "app"):
        return ["shanhai.portal.app:app"]
    if hasattr(module, "create_app"):
        return ["--factory", "shanhai.portal.app:create_app"]
    return None


# --------------------------------------------------------------------------- the command


def _prepare_prefect_file(catalogue, prefect_home: Path, send_hour: int = 9) -> Path | None:
    """None when the checked-in prefect.yaml matches the catalogue; else a freshly rendered copy."""
    from shanhai.cli.deployments import prefect_yaml_path, render_prefect_yaml

    text = render_prefect_yaml(catalogue, send_hour)
    checked_in = prefect_yaml_path()
    if checked_in.exists() and checked_in.read_text(encoding="utf-8") == text:
        return None
    _say(
        f"  注意：{checked_in} 与事项目录不一致，按事项目录重新生成后部署（python -m shanhai.cli.deployments 可更新它）。"
    )
    path = prefect_home / "prefect.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _lock_home(home: Path) -> IO | None:
    """An exclusive lock on SHANHAI_HOME/up.lock (released when the process ends), or None if taken."""
    import fcntl

    handle = open(home / "up.lock", "a+")  # noqa: SIM115  (held for the life of the stack)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def run_stack(settings=None, as_of: str | None = None) -> int:
    """Bring the stack up, wait for Ctrl-C or SIGTERM, stop it; the process exit code."""
    from shanhai.app import App, parse_as_of
    from shanhai.settings import get_settings

    settings = settings or get_settings()
    home = settings.home_dir
    prefect_home = home / "prefect"
    logs = home / "logs"
    prefect_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    logs.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: logs may quote signed links

    lock = _lock_home(home)
    if lock is None:
        _say(f"错误 error: 已有一个 shanhai up 在使用 {home}（{home / 'up.lock'}）；请先停止它。")
        return 1
    stack = Stack(pid_file=home / "up.pids")
    if reap_orphans(stack.pid_file):
        _say("  已停止上次异常退出时遗留的 Prefect 进程。")
    shutting_down = False

    def on_signal(signum, _frame):
        if not shutting_down:  # a second Ctrl-C while stopping changes nothing: we are on it
            raise _Stop(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    code = 0
    try:
        t0 = time.monotonic()
        app = App(settings)
        try:
            when = parse_as_of(as_of)
            catalogue = app.catalogue  # a broken catalogue stops us before anything starts
            app.calendar  # noqa: B018
        except ValueError as exc:  # CatalogueError, HolidayFileError and a bad as_of are ValueErrors
            raise StartupError(f"无法启动：\n{exc}") from exc

        port = choose_port(settings.prefect_ui_url, 4200)
        env = prefect_env(prefect_home, port)
        env["SHANHAI_HOME"] = str(home)  # workers and flow runs share this database and secrets
        api_url = env["PREFECT_API_URL"]
        ui_url = f"http://127.0.0.1:{port}"
        if f":{port}" not in settings.prefect_ui_url:
            _say(f"  注意：{settings.prefect_ui_url} 的端口已被占用，改用 {ui_url}")
        env["SHANHAI_PREFECT_UI_URL"] = ui_url

        _say(f"启动 Prefect 服务器（数据 {prefect_home}，日志 {logs}）…")
        server = start_server(stack, env=env, port=port, log_path=logs / "prefect-server.log")

        # while the server boots: the application database, the catalogue and the demo history
        from shanhai.cli.demo import load_demo_history

        app.sync(as_of=when)

        n_demo = load_demo_history(app, as_of=when)
        _say(
            f"  事项目录：{len(catalogue.obligations)} 项职责已载入（{app.database_url}）；"
            + (f"演示历史新增 {n_demo} 条记录。" if n_demo else "演示历史此前已载入。")
        )
        from shanhai.cli.output import board
        from shanhai.cli.views import board_grid

        _say("")
        board(board_grid(app, as_of=when), when)
        _say("")

        waited = wait_healthy(api_url, server)
        _say(f"  Prefect 服务器就绪（{waited:.0f} 秒）：{ui_url}")
        created = ensure_work_pool(api_url)
        _say(f"  工作池 {WORK_POOL}（process）" + ("已创建。" if created else "已存在。"))

        start_worker(stack, env=env, log_path=logs / "prefect-worker.log")
        _say("部署 prefect.yaml（prefect deploy --all）…")
        prefect_file = _prepare_prefect_file(catalogue, prefect_home, settings.send_hour)
        deploy_all(env=env, log_path=logs / "prefect-deploy.log", prefect_file=prefect_file)
        n_deployments = len(catalogue.obligations) + 3
        _say(
            f"  已部署 {n_deployments} 个部署（每项职责每天 {settings.send_hour:02d}:05 检查；发件箱每 10 分钟投递；周报、月报）。"
        )

        n_runs = trigger_checks(api_url, list(catalogue.obligations), as_of)
        _say(f"  已触发今日检查 {n_runs} 次，由工作进程执行（最多同时 {WORKER_LIMIT} 个）。")

        portal = portal_target()
        portal_line = "（门户尚未提供：shanhai.portal 还没有 app）"
        if portal:
            portal_port = choose_port(settings.portal_url, 8600)
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                *portal,
                "--host",
                "127.0.0.1",
                "--port",
                str(portal_port),
            ]
            stack.start(
                "portal",
                argv,
                env={**env, "SHANHAI_PORTAL_URL": f"http://127.0.0.1:{portal_port}"},
                log_path=logs / "portal.log",
                cwd=REPO_ROOT,
            )
            portal_line = f"http://127.0.0.1:{portal_port}"

        _say("")
        _say(f"山海 Shanhai 已启动（{time.monotonic() - t0:.0f} 秒）")
        _say(f"  Prefect 界面 UI : {ui_url}")
        _say(f"  门户 portal     : {portal_line}")
        _say(f"  数据 home       : {home}")
        _say(f"  日志 logs       : {logs}")
        _say(f"  命令行使用本服务器：export PREFECT_API_URL={api_url} PREFECT_HOME={prefect_home}")
        _say("按 Ctrl-C 停止。")

        while True:
            for child in stack.children:
                if not child.alive():
                    raise StartupError(
                        f"{child.name} 意外退出（退出码 {child.proc.returncode}），日志 {child.log_path}：\n"
                        f"{child.log_tail()}"
                    )
            time.sleep(1)
    except _Stop:
        _say("\n正在停止…")
    except StartupError as exc:
        _say(f"错误 error: {exc}")
        code = 1
    finally:
        shutting_down = True
        try:
            stack.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.close()
    if code == 0:
        _say("已停止：Prefect 服务器与工作进程均已退出。")
    return code


def up_command(as_of: str | None = None) -> None:
    """Entry point for `shanhai up` (and `make run`)."""
    code = run_stack(as_of=as_of)
    if code:
        raise SystemExit(code)

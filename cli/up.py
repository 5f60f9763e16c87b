"""`shanhai up` (what `make run` runs): the whole stack on one machine, stopped cleanly with Ctrl-C.

A Prefect server (SQLite under SHANHAI_HOME/prefect unless PREFECT_API_DATABASE_CONNECTION_URL says
otherwise), the `shanhai` process work pool, every deployment of prefect.yaml, one process worker,
the catalogue and the demo history, and today's checks triggered (once a day: a second start the same
day finds them). It says when every check of the day has finished and which found overdue duties, then
runs the delivery of what they queued.
Stopping (Ctrl-C, SIGTERM) cancels this stack's in-flight runs through the API before the worker and
the server stop, so no run stays Running. Subprocess output goes to SHANHAI_HOME/logs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import IO

from shanhai import REPO_ROOT
from shanhai.cli.prefect_admin import (
    WORK_POOL,
    WORKER_LIMIT,
    deploy_all,
    ensure_work_pool,
    prefect_env,
    start_server,
    start_worker,
    wait_healthy,
)
from shanhai.cli.prefect_runs import (
    Progress,
    Triggered,
    checks_progress,
    deliver_now,
    name_upcoming_runs,
    settle_previous_runs,
    settle_runs,
    trigger_checks,
)
from shanhai.cli.processes import Child, Stack, StartupError, choose_port, reap_orphans
from shanhai.cli.user_commands import ensure_first_account

PROGRESS_EVERY = 2.0  # seconds between two looks at the day's checks
NAMING_EVERY = 30.0  # the scheduler adds the next run of a schedule when the previous one is due


class _Stop(BaseException):  # like KeyboardInterrupt: no `except Exception` on the way swallows it
    """Raised by the SIGINT/SIGTERM handler to unwind to the clean shutdown."""


def _say(text: str) -> None:
    print(text, flush=True)


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


def _say_triggered(triggered: Triggered) -> None:
    if triggered.created:
        _say(f"  已触发今日检查 {len(triggered.created)} 次，由工作进程执行（最多同时 {WORKER_LIMIT} 个）。")
    if triggered.existing:
        _say(f"  今日已有检查 {len(triggered.existing)} 项（已运行或正在运行），不再重复触发。")


def _say_progress(progress: Progress, titles: dict[str, str], seconds: float) -> None:
    _say(f"今日检查已全部结束（{progress.total} 项，启动后 {seconds:.0f} 秒）。")
    if progress.overdue:
        names = "、".join(titles.get(o, o) for o in progress.overdue)
        _say(f"  发现逾期 {len(progress.overdue)} 项（界面中为红色 Failed，标签 已逾期）：{names}")
    if progress.errors:
        names = "、".join(titles.get(o, o) for o in progress.errors)
        _say(f"  未完成 {len(progress.errors)} 项（出错、崩溃或被取消，见 Prefect 界面中的运行日志）：{names}")


def stop_stack(stack: Stack, worker: Child | None, api_url: str | None) -> int:
    """Cancel the in-flight runs, stop the worker, cancel what it picked up meanwhile, stop the rest.

    `api_url` is None when the server is gone (nothing to tell it); the number of runs cancelled."""
    settled = 0
    for step in range(2):
        if api_url is not None:
            try:
                settled += settle_runs(api_url)
            except Exception as exc:  # noqa: BLE001  (the processes must stop whatever the API says)
                _say(f"  注意：未能取消进行中的运行：{exc}")
        if step == 0 and worker is not None and worker in stack.children:
            stack.stop_one(worker)
    stack.stop()
    return settled


def start_portal(stack: Stack, *, env: dict[str, str], configured: str, log_path: Path) -> str:
    """The portal beside the Prefect server, on the configured port or a free one; its URL is what the
    worker's and flows' links point at (SHANHAI_PORTAL_URL in env)."""
    import sys
    from urllib.parse import urlsplit

    port = choose_port(configured, 8600)
    local = urlsplit(configured).hostname in (None, "127.0.0.1", "localhost")
    # an address the units reach (a LAN name, a reverse proxy) is kept as it is; a local one follows the port
    url = f"http://127.0.0.1:{port}" if local else configured.rstrip("/")
    env["SHANHAI_PORTAL_URL"] = url
    argv = [sys.executable, "-m", "uvicorn", "--factory", "shanhai.portal.app:create_app",
            "--host", "127.0.0.1" if local else "0.0.0.0", "--port", str(port)]
    stack.start("门户 portal", argv, env=env, log_path=log_path, cwd=REPO_ROOT)
    return url


def loaded_line(app, n_demo: int) -> str:
    """What was loaded and into which database (its password masked: this goes to `make run`'s output)."""
    return (
        f"  事项目录：{len(app.catalogue.obligations)} 项职责已载入（{app.database_location}）；"
        + (f"演示历史新增 {n_demo} 条记录。" if n_demo else "演示历史此前已载入。")
    )


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
    pid_file = home / "up.pids"
    stack = Stack(pid_file=pid_file)
    if reap_orphans(pid_file):
        _say("  已停止上次异常退出时遗留的 Prefect 进程。")
    shutting_down = False

    def on_signal(signum, _frame):
        if not shutting_down:  # a second Ctrl-C while stopping changes nothing: we are on it
            raise _Stop(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    code = 0
    server = worker = None
    api_url: str | None = None
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
        portal_url = start_portal(stack, env=env, configured=settings.portal_url, log_path=logs / "portal.log")
        first_account = ensure_first_account(app)
        _say(loaded_line(app, n_demo))
        from shanhai.cli.output import board
        from shanhai.models.queries import board_grid

        _say("")
        board(board_grid(app, as_of=when), when)
        _say("")

        waited = wait_healthy(api_url, server)
        _say(f"  Prefect 服务器就绪（{waited:.0f} 秒）：{ui_url}")
        created = ensure_work_pool(api_url)
        _say(f"  工作池 {WORK_POOL}（process）" + ("已创建。" if created else "已存在。"))
        crashed, missed = settle_previous_runs(api_url)
        if crashed or missed:
            _say(f"  上次遗留的运行：{crashed} 个标记为 Crashed（进程已不在），{missed} 个往日计划运行已取消。")

        worker = start_worker(stack, env=env, log_path=logs / "prefect-worker.log")
        _say("部署 prefect.yaml（prefect deploy --all）…")
        prefect_file = _prepare_prefect_file(catalogue, prefect_home, settings.send_hour)
        deploy_all(env=env, log_path=logs / "prefect-deploy.log", prefect_file=prefect_file)
        n_deployments = len(catalogue.obligations) + 3
        _say(
            f"  已部署 {n_deployments} 个部署（每项职责每天 {settings.send_hour:02d}:05 检查；发件箱每 10 分钟投递；周报、月报）。"
        )

        titles = {ob_id: ob.title for ob_id, ob in catalogue.obligations.items()}
        triggered = trigger_checks(api_url, titles, as_of)
        _say_triggered(triggered)

        _say("")
        _say(f"山海 Shanhai 已启动（{time.monotonic() - t0:.0f} 秒）")
        _say(f"  Prefect 界面 UI : {ui_url}")
        _say(f"  门户 portal     : {portal_url}（提醒中的链接指向此地址；单位需能访问，见 README「门户」）")
        if first_account:
            _say(f"  门户账号        : {first_account[0]} / {first_account[1]}（协调方；仅显示这一次，shanhai user 管理账号）")
        _say(f"  数据 home       : {home}")
        _say(f"  日志 logs       : {logs}")
        _say(f"  命令行使用本服务器：export PREFECT_API_URL={api_url} PREFECT_HOME={prefect_home}")
        _say("按 Ctrl-C 停止。")

        waiting, last_look, last_naming = bool(triggered.runs), 0.0, 0.0
        while True:
            for child in stack.children:
                if not child.alive():
                    raise StartupError(
                        f"{child.name} 意外退出（退出码 {child.proc.returncode}），日志 {child.log_path}：\n"
                        f"{child.log_tail()}"
                    )
            if waiting and time.monotonic() - last_look >= PROGRESS_EVERY:
                last_look = time.monotonic()
                try:
                    progress = checks_progress(api_url, triggered.runs)
                except Exception:  # noqa: BLE001  (a busy server answers next time; the stack runs on)
                    continue
                if progress.done:
                    waiting = False
                    _say("")
                    _say_progress(progress, titles, time.monotonic() - t0)
                    try:
                        if triggered.created and deliver_now(api_url):
                            _say("  已触发一次发件箱投递，发送今日检查写入发件箱的消息。")
                    except Exception as exc:  # noqa: BLE001  (the 10-minute schedule delivers them anyway)
                        _say(f"  注意：未能触发发件箱投递（每 10 分钟的计划投递仍会发送）：{exc}")
            if time.monotonic() - last_naming >= NAMING_EVERY:
                last_naming = time.monotonic()
                with contextlib.suppress(Exception):  # cosmetic: never a reason to stop the stack
                    name_upcoming_runs(api_url)
            time.sleep(0.5)
    except _Stop:
        _say("\n正在停止…")
    except StartupError as exc:
        _say(f"错误 error: {exc}")
        code = 1
    finally:
        shutting_down = True
        try:
            live = server is not None and server.alive()
            settled = stop_stack(stack, worker, api_url if live else None)
            if settled:
                _say(f"  已取消进行中或等待中的运行 {settled} 个（Cancelled）。")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.close()
    if code == 0:
        _say("已停止：Prefect 服务器、工作进程与门户均已退出。")
    return code


def up_command(as_of: str | None = None) -> None:
    """Entry point for `shanhai up` (and `make run`)."""
    code = run_stack(as_of=as_of)
    if code:
        raise SystemExit(code)

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shanhai import work_dir
from shanhai.cli.prefect_admin import (
    WORK_POOL,
    WORKER_LIMIT,
    deploy_if_changed,
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
from shanhai.cli.user_commands import ensure_first_accounts

PROGRESS_EVERY = 2.0  # seconds between two looks at the day's checks
NAMING_EVERY = 30.0  # the scheduler adds the next run of a schedule when the previous one is due
QUIET_PROVISIONAL = "ignore:工作日历:RuntimeWarning"  # `up` says it once; its children log it, no warning


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
    stack.start("门户 portal", argv, env=env, log_path=log_path, cwd=work_dir())
    return url


def loaded_line(app, n_demo: int) -> str:
    """What was loaded and into which database (its password masked: this goes to `make run`'s output)."""
    return (
        f"  事项目录：{len(app.catalogue.obligations)} 项职责已载入（{app.database_location}）；"
        + (f"演示历史新增 {n_demo} 条记录。" if n_demo else "演示历史此前已载入。")
    )


@dataclass
class Running:
    """What the stack has started, for the watch loop, the announcement and the stop."""

    home: Path
    env: dict[str, str]
    api_url: str
    ui_url: str
    server: Child
    portal_url: str = ""
    worker: Child | None = None
    triggered: Triggered = field(default_factory=Triggered)
    titles: dict[str, str] = field(default_factory=dict)
    queued_before: int = 0


def run_stack(settings=None, as_of: str | None = None) -> int:
    """Bring the stack up, wait for Ctrl-C or SIGTERM, stop it; the process exit code."""
    from shanhai.settings import get_settings

    settings = settings or get_settings()
    home = settings.home_dir
    for folder in (home / "prefect", home / "logs"):  # private: logs may quote signed links
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = _lock_home(home)
    if lock is None:
        _say(f"错误 error: 已有一个 shanhai up 在使用 {home}（{home / 'up.lock'}）；请先停止它。")
        return 1
    stack = Stack(pid_file=home / "up.pids")
    if reap_orphans(home / "up.pids"):
        _say("  已停止上次异常退出时遗留的 Prefect 进程。")
    stopping = [False]

    def on_signal(signum, _frame):
        if not stopping[0]:  # a second Ctrl-C while stopping changes nothing: we are on it
            raise _Stop(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    code, running = 0, None
    try:
        t0 = time.monotonic()
        app, when = _load(settings, as_of)
        running = _start_server(stack, settings)
        _start(stack, running, app, when, as_of)
        _watch(stack, running, t0)
    except _Stop:
        _say("\n正在停止…")
    except StartupError as exc:
        _say(f"错误 error: {exc}")
        code = 1
    finally:
        stopping[0] = True
        try:
            _stop(stack, running, home)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.close()
    if code == 0:
        _say("已停止：Prefect 服务器、工作进程与门户均已退出。")
    return code


def _stop(stack: Stack, running: Running | None, home: Path) -> None:
    from shanhai.running import remove_running_stack

    remove_running_stack(home)
    server = running.server if running else None
    live = server is not None and server.alive()
    settled = stop_stack(stack, running.worker if running else None, running.api_url if running and live else None)
    if settled:
        _say(f"  已取消进行中或等待中的运行 {settled} 个（Cancelled）。")


def _load(settings, as_of: str | None):
    """The app and the as-of instant; a broken catalogue or holiday file stops us before anything starts."""
    import logging

    from shanhai.app import App, parse_as_of

    # `up` says a provisional year once, in one line (_say_provisional), not the calendar's paragraph
    logging.getLogger("shanhai.working_days").setLevel(logging.ERROR)
    app = App(settings)
    try:
        when = parse_as_of(as_of)
        app.catalogue  # noqa: B018
        app.calendar  # noqa: B018
    except ValueError as exc:  # CatalogueError, HolidayFileError and a bad as_of are ValueErrors
        raise StartupError(f"无法启动：\n{exc}") from exc
    return app, when


def _start(stack: Stack, running: Running, app, when, as_of: str | None) -> None:
    """Database and demo, portal, work pool, worker, deployments, today's checks; then say so."""
    from shanhai.app import App
    from shanhai.cli.demo import load_demo_history
    from shanhai.models.queries import awaiting_delivery

    t0, home, settings, catalogue = time.monotonic(), running.home, app.settings, app.catalogue
    app.sync(as_of=when)  # while the server boots: the application database, the catalogue, the demo
    n_demo = load_demo_history(app, as_of=when)
    running.portal_url = start_portal(stack, env=running.env, configured=settings.portal_url,
                                      log_path=home / "logs" / "portal.log")
    _write_addresses(running)
    app = App(settings.model_copy(update={"portal_url": running.portal_url}))
    accounts = ensure_first_accounts(app)
    _say(loaded_line(app, n_demo))
    _say_board(app, when)
    _prepare_prefect(stack, running, catalogue, settings.send_hour)
    running.titles = {ob_id: ob.title for ob_id, ob in catalogue.obligations.items()}
    running.queued_before = awaiting_delivery(app)
    running.triggered = trigger_checks(running.api_url, running.titles, as_of)
    _say_triggered(running.triggered)
    _say_ready(running, time.monotonic() - t0, accounts, app, when)


def _start_server(stack: Stack, settings) -> Running:
    home = settings.home_dir
    port = choose_port(settings.prefect_ui_url, 4200)
    env = prefect_env(home / "prefect", port)
    env["SHANHAI_HOME"] = str(home)  # workers and flow runs share this database and secrets
    env.setdefault("PYTHONWARNINGS", QUIET_PROVISIONAL)  # said once by `up`, not as a warning per process
    ui_url = f"http://127.0.0.1:{port}"
    if f":{port}" not in settings.prefect_ui_url:
        _say(f"  注意：{settings.prefect_ui_url} 的端口已被占用，改用 {ui_url}")
    env["SHANHAI_PREFECT_UI_URL"] = ui_url
    _say(f"启动 Prefect 服务器（数据 {home / 'prefect'}，日志 {home / 'logs'}）…")
    server = start_server(stack, env=env, port=port, log_path=home / "logs" / "prefect-server.log")
    return Running(home=home, env=env, api_url=env["PREFECT_API_URL"], ui_url=ui_url, server=server)


def _write_addresses(running: Running) -> None:
    from shanhai.running import write_running_stack

    write_running_stack(
        running.home,
        portal_url=running.portal_url,
        prefect_ui_url=running.ui_url,
        prefect_api_url=running.api_url,
        prefect_home=str(running.home / "prefect"),
    )


def _say_board(app, when) -> None:
    from shanhai.cli.output import board
    from shanhai.models.queries import board_grid

    _say("")
    board(board_grid(app, as_of=when), when)
    _say("")


def _prepare_prefect(stack: Stack, running: Running, catalogue, send_hour: int) -> None:
    logs = running.home / "logs"
    waited = wait_healthy(running.api_url, running.server)
    _say(f"  Prefect 服务器就绪（{waited:.0f} 秒）：{running.ui_url}")
    created = ensure_work_pool(running.api_url)
    _say(f"  工作池 {WORK_POOL}（process）" + ("已创建。" if created else "已存在。"))
    crashed, missed = settle_previous_runs(running.api_url)
    if crashed or missed:
        _say(f"  上次遗留的运行：{crashed} 个标记为 Crashed（进程已不在），{missed} 个往日计划运行已取消。")
    running.worker = start_worker(stack, env=running.env, log_path=logs / "prefect-worker.log")
    prefect_file = _prepare_prefect_file(catalogue, running.home / "prefect", send_hour)
    from shanhai.cli.deployments import deployment_specs

    n_deployments = len(deployment_specs(catalogue, send_hour))
    if deploy_if_changed(running.api_url, env=running.env, log_path=logs / "prefect-deploy.log",
                         prefect_file=prefect_file):
        _say(f"  已部署 {n_deployments} 个部署（每项职责每天 {send_hour:02d}:05 检查；发件箱每 10 分钟投递；周报、月报、年度考核）。")
    else:
        _say(f"  部署未变（{n_deployments} 个），跳过 prefect deploy。")


def _say_ready(running: Running, seconds: float, accounts, app, when) -> None:
    home = running.home
    _say("")
    _say(f"山海 Shanhai 已启动（{seconds:.0f} 秒）")
    _say(f"  Prefect 界面 UI : {running.ui_url}")
    _say(f"  门户 portal     : {running.portal_url}（提醒中的链接指向此地址；单位需能访问，见 README「门户」）")
    _say(f"  数据 home       : {home}")
    _say(f"  日志 logs       : {home / 'logs'}")
    _say_provisional(app, when)
    _say_try_it(running, accounts, app)
    _say(
        f"  另开终端使用本服务：export SHANHAI_HOME={home} SHANHAI_PORTAL_URL={running.portal_url} "
        f"PREFECT_API_URL={running.api_url} PREFECT_HOME={home / 'prefect'}"
        "（同一 SHANHAI_HOME 下的命令已自动使用这些地址）"
    )
    _say("按 Ctrl-C 停止。")


def _say_provisional(app, when) -> None:
    from shanhai.models.localtime import local_date

    year = local_date(when).year
    years = [y for y in (year, year + 1) if app.calendar.source(y) == "provisional"]
    if years:
        named = "、".join(f"{y} 年" for y in years)
        _say(f"  注意：{named}的放假安排未导入，暂用按法律推算的临时日历（不含调休）；通知发布后运行 "
             "shanhai holidays import 通知.txt")


def _say_try_it(running: Running, accounts, app) -> None:
    """One line per role: what a newcomer opens first (README「十分钟上手」)."""
    from shanhai.notifications.sample_link import sample_report_link

    _say("试一试 try it：")
    sample = sample_report_link(app, as_of=app.clock())
    if sample is not None:
        _say(f"  承办单位（{sample.unit}，{sample.title} · {sample.scope}）：{sample.url}")
    base = running.portal_url.rstrip("/")
    for role, (name, password) in accounts.items():
        shown = f"{name} / {password}（仅显示这一次）" if password else f"{name}（密码见首次启动时的输出；shanhai user 管理账号）"
        page = "/queue" if role == "coordinator" else "/overdue"
        label = "协调方（核验队列）" if role == "coordinator" else "领导小组（逾期总览）"
        _say(f"  {label}：{base}/login?next={page}  账号 {shown}")


def _watch(stack: Stack, running: Running, t0: float) -> None:
    """Until Ctrl-C: children alive, the day's checks followed to their end, upcoming runs named."""
    waiting, last_look, last_naming, seen = bool(running.triggered.runs), 0.0, 0.0, -1
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
                progress = checks_progress(running.api_url, running.triggered.runs)
            except Exception:  # noqa: BLE001  (a busy server answers next time; the stack runs on)
                continue
            if progress.finished != seen and not progress.done:
                seen = progress.finished
                _say(f"  今日检查进行中：已完成 {progress.finished}/{progress.total}，发现逾期 {len(progress.overdue)} 项")
            if progress.done:
                waiting = False
                _finish_checks(running, progress, time.monotonic() - t0)
        if time.monotonic() - last_naming >= NAMING_EVERY:
            last_naming = time.monotonic()
            with contextlib.suppress(Exception):  # cosmetic: never a reason to stop the stack
                name_upcoming_runs(running.api_url)
        time.sleep(0.5)


def _finish_checks(running: Running, progress: Progress, seconds: float) -> None:
    from shanhai.app import App
    from shanhai.models.queries import awaiting_delivery

    _say("")
    _say_progress(progress, running.titles, seconds)
    queued = awaiting_delivery(App()) - running.queued_before
    if not running.triggered.created or queued <= 0:
        return
    try:
        if deliver_now(running.api_url):
            _say(f"  今日检查写入发件箱 {queued} 条待投递，已触发一次发件箱投递。")
    except Exception as exc:  # noqa: BLE001  (the 10-minute schedule delivers them anyway)
        _say(f"  注意：未能触发发件箱投递（每 10 分钟的计划投递仍会发送）：{exc}")


def up_command(as_of: str | None = None) -> None:
    """Entry point for `shanhai up` (and `make run`)."""
    code = run_stack(as_of=as_of)
    if code:
        raise SystemExit(code)

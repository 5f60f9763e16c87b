"""Shared fixtures and helpers for the Shanhai test suite.

Everything a test needs is built in code; nothing depends on today's date.

Databases
    ``database_url``      a fresh, migrated database per test, run once on SQLite and once on
                          PostgreSQL (parametrized ``sqlite`` / ``postgres``). Use it in every test
                          that touches the database, and only there.
    ``postgres_cluster``  the session's throwaway PostgreSQL cluster (started on first use,
                          stopped and removed at the end). Missing server binaries FAIL the
                          test with a clear message (``make test`` installs them), never skip.

Time
    ``at(2026, 7, 1)``    an aware instant in Asia/Shanghai (12:00 unless ``hour`` is given).

Catalogues (YAML written to a directory by the test)
    ``make_catalogue(dir, obligations=[...], ...)``  units, roles, two pairings (泰顺-鹿城,
                          永嘉-瓯海), one park and a document file; returns ``dir``.
    ``make_obligation(id, kind, **fields)``  one catalogue entry with sensible defaults per kind.
    ``REAL_CATALOGUE``    the document's catalogue (``calendar/`` in the repo).

Apps, records and counts
    ``make_app(home, database_url, catalogue_dir, sync_at=None)``  an :class:`App` on explicit
                          settings (optionally synced at an instant).
    ``make_record(app, obligation, scope, on, ...)``  a completion record through the model layer.
    ``status_of(app, obligation, scope, period, as_of=...)``  one occurrence's Evaluation.
    ``count_rows(url, Model)``  rows in a table.

CLI
    ``run_cli(args, home=..., database_url=..., catalogue_dir=..., env=...)``  the ``shanhai``
                          command in-process (typer's CliRunner) with SHANHAI_HOME,
                          SHANHAI_DATABASE_URL and SHANHAI_CATALOGUE_DIR set.
    ``cli``               the same, bound to ``tmp_path`` and ``database_url``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pendulum
import pytest
import yaml

from shanhai import REPO_ROOT
from tests.webhook_receiver import WebhookReceiver

TZ = "Asia/Shanghai"
REAL_CATALOGUE = REPO_ROOT / "calendar"


# --------------------------------------------------------------------------- time


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An aware instant in Asia/Shanghai; noon unless told otherwise."""
    return pendulum.datetime(year, month, day, hour, minute, tz=TZ)


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresCluster:
    port: int
    base: Path

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb). "
            "The suite runs on a real PostgreSQL that it starts itself: install them with "
            "`make system-deps` (Debian package `postgresql`) or run `make test`.",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server tools as the postgres user then.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the whole session (trust auth, fsync off)."""
    bindir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="shanhai-pg-"))  # under /tmp: the postgres user must reach it
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()

    def run(cmd: list[str]) -> None:
        proc = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = (base / "server.log").read_text(errors="replace") if (base / "server.log").exists() else ""
            pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}\n{log}", pytrace=False)

    try:
        run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--locale=C", "--no-sync"])
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w",
             "start"])
        yield PostgresCluster(port=port, base=base)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


def _forget_engine(url: str) -> None:
    """shanhai.db caches an engine per URL: close its connections before the database goes away."""
    from shanhai import db

    db.get_engine(url).dispose()
    db._migrated.discard(url)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite database migrated once per session: each test gets a copy of the file (Alembic once, not
    per test)."""
    from shanhai.db import migrate

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    url = f"sqlite:///{path}"
    migrate(url)
    _forget_engine(url)  # closes the connections: the WAL is checkpointed into the file
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_cluster) -> str:
    """A PostgreSQL database migrated once per session, the template of each test's database."""
    from shanhai.db import migrate

    name = f"template_{uuid.uuid4().hex}"
    with postgres_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_cluster.url(name)
    migrate(url)
    _forget_engine(url)  # CREATE DATABASE … TEMPLATE needs it without connections
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh database migrated to the newest revision: a copy of the session's migrated SQLite file, or
    a new PostgreSQL database made from the session's migrated template."""
    if request.param == "sqlite":
        path = tmp_path / "shanhai-test.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        url = f"sqlite:///{path}"
        yield url
        _forget_engine(url)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    template = request.getfixturevalue("migrated_postgres")
    name = f"t_{uuid.uuid4().hex}"
    with cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = cluster.url(name)
    try:
        yield url
    finally:
        _forget_engine(url)
        with cluster.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- catalogues

UNITS: list[dict[str, Any]] = [
    {"name": "泰顺县", "code": "taishun", "short": "泰顺", "kind": "county"},
    {"name": "永嘉县", "code": "yongjia", "short": "永嘉", "kind": "county"},
    {"name": "鹿城区", "code": "lucheng", "short": "鹿城", "kind": "partner"},
    {"name": "瓯海区", "code": "ouhai", "short": "瓯海", "kind": "partner"},
    {"name": "龙湾区", "code": "longwan", "short": "龙湾", "kind": "partner"},
    {"name": "市招商局（经合办）", "code": "coordinator", "short": "经合办", "kind": "coordinator",
     "aliases": ["市招商局〈经合办〉"]},
    {"name": "市山海协作工程工作领导小组", "code": "supervisor", "short": "领导小组", "kind": "supervisor"},
    {"name": "市教育局", "code": "shi-jiaoyuju", "kind": "department"},
]
ROLES = {"coordinator": "市招商局（经合办）", "supervisor": "市山海协作工程工作领导小组"}
PAIRINGS: list[dict[str, Any]] = [
    {"name": "泰顺-鹿城", "county": "泰顺县", "partner": "鹿城区", "valid_from": 2018},
    {"name": "永嘉-瓯海", "county": "永嘉县", "partner": "瓯海区", "valid_from": 2018},
]
PARK = "泰顺-鹿城生态旅游文化产业园"
PARKS: list[dict[str, Any]] = [
    {"name": PARK, "short": "泰顺园", "pairing": "泰顺-鹿城", "host": "泰顺县", "kind": "eco_park"},
]
DOCUMENT = {"id": "test-doc", "number": "测试〔2026〕1号", "title": "测试文件", "issued": date(2024, 1, 1)}

_KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "annual_deadline": {"scope": "pairing", "due": "10-31"},
    "annual_count": {"scope": "pairing", "due": "12-31", "min_count": 1},
    "annual_quantity": {"scope": "city", "due": "12-31", "target": {"value": 40, "unit": "亿元"}},
    "cumulative_quantity": {"scope": "city", "due": date(2026, 12, 31), "target": {"value": 30, "unit": "个"}},
    "one_off": {"scope": "pairing", "due": date(2026, 7, 31)},
    "plan_vs_actual": {"scope": "park", "due": "12-31", "plan": "attachment1"},
}


def make_obligation(id: str, kind: str, **fields: Any) -> dict[str, Any]:  # noqa: A002
    """One catalogue entry; fields override the defaults (valid from 2025, both sides of the pairing lead)."""
    entry: dict[str, Any] = {
        "id": id,
        "title": fields.pop("title", id),
        "clause": "一(一)",
        "kind": kind,
        **_KIND_DEFAULTS[kind],
        "valid_from": 2025,
        "responsible": {"lead": ["结对双方"], "co": []},
    }
    entry.update(fields)
    return entry


# Presets for the duties the status tests walk through (the document's own shapes).
def joint_meeting(**fields: Any) -> dict[str, Any]:
    """≥2 joint meetings a year per pairing, ≥1 by 06-30, due 12-31."""
    return make_obligation(
        "joint-meeting", "annual_count", title="联席会议", min_count=2, pace=[{"by": "06-30", "count": 1}],
        **fields,
    )


def next_year_plan(**fields: Any) -> dict[str, Any]:
    """The next-year plan, per pairing, filed by 10-31 each year."""
    return make_obligation("next-year-plan", "annual_deadline", title="下一年度合作计划备案", **fields)


def industrial_investment(**fields: Any) -> dict[str, Any]:
    """≥40亿元 a year city-wide, of which 八大产业 ≥65% of projects and of funds."""
    return make_obligation(
        "industrial-investment", "annual_quantity", title="产业项目到位资金",
        shares=[{"category": "八大产业", "min": 0.65}], categories=["八大产业", "其他产业"],
        responsible={"lead": ["市招商局（经合办）"], "co": ["结对双方"]}, **fields,
    )


def park_investment_plan(**fields: Any) -> dict[str, Any]:
    """附件1-style plan vs actual for the park (plan rows come from make_catalogue's plans)."""
    return make_obligation("park-investment-plan", "plan_vs_actual", title="产业园年度投资计划完成", **fields)


def sales_outlets(**fields: Any) -> dict[str, Any]:
    """≥30 sales windows, cumulative from 2025, by 2026-12-31."""
    return make_obligation("sales-outlets", "cumulative_quantity", title="销售窗口和平台", **fields)


def plan_rows(year: int = 2026, government: int = 3000, attraction: int = 500) -> dict[str, Any]:
    """附件1-style plans for the fixture park (万元); the stated total matches the rows."""
    rows = [
        {"park": PARK, "year": year, "kind": "government", "projects": 5, "planned_total": 29000,
         "planned_completion": government},
        {"park": PARK, "year": year, "kind": "attraction", "projects": 1, "planned_total": 1000,
         "planned_completion": attraction},
    ]
    return {"stated_total_yi": 3.0, "rows": rows}


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def make_catalogue(
    directory: Path,
    obligations: Sequence[dict[str, Any]] = (),
    *,
    pairings: Sequence[dict[str, Any]] = PAIRINGS,
    units: Sequence[dict[str, Any]] = UNITS,
    parks: Sequence[dict[str, Any]] = PARKS,
    plans: dict[str, Any] | None = None,
    document: dict[str, Any] = DOCUMENT,
    holidays: dict[int, dict[str, Any]] | None = None,
) -> Path:
    """Write a small catalogue to ``directory``: units.yaml, pairings.yaml, policy.yaml
    (document + obligations + plans) and, if given, holidays.yaml. Returns ``directory``."""
    write_yaml(directory / "units.yaml", {"units": list(units), "roles": ROLES})
    write_yaml(directory / "pairings.yaml", {"pairings": list(pairings), "parks": list(parks)})
    policy: dict[str, Any] = {"document": document, "obligations": list(obligations)}
    if plans is not None:
        policy["plans"] = plans
    write_yaml(directory / "policy.yaml", policy)
    if holidays is not None:
        write_yaml(directory / "holidays.yaml", {"holidays": holidays})
    return directory


def records_catalogue(directory: Path) -> Path:
    """A catalogue whose four obligations take every kind of record: a date, a filed plan, an amount, a park's."""
    return make_catalogue(
        directory,
        [joint_meeting(), next_year_plan(), industrial_investment(), park_investment_plan()],
        plans=plan_rows(2026),
    )


def line_of(text: str, snippet: str) -> int:
    """The 1-based line on which ``snippet`` first occurs in ``text`` (for expected error lines)."""
    for n, line in enumerate(text.splitlines(), start=1):
        if snippet in line:
            return n
    raise AssertionError(f"{snippet!r} is not in the text")


# --------------------------------------------------------------------------- apps and records


def screenshot_dir() -> Path:
    """Where browser tests save their screenshots: var/screenshots (ignored by git) unless
    SHANHAI_SCREENSHOTS names another folder (`make screenshots` refreshes docs/screenshots, the README's)."""
    folder = Path(os.environ.get("SHANHAI_SCREENSHOTS") or REPO_ROOT / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The "real" clock of the apps tests build: a Monday after the send hour (tests never read today).
TEST_NOW = at(2026, 11, 30, 10)


def make_app(home: Path, database_url: str, catalogue_dir: Path = REAL_CATALOGUE, *, sync_at=None,
             now: datetime | None = None, **settings: Any):
    """An App on explicit settings (never the environment's) whose real clock reads ``now`` (default:
    ``sync_at``, else TEST_NOW); synced at ``sync_at`` if given."""
    from shanhai.app import App
    from shanhai.settings import Settings

    fixed = now or sync_at or TEST_NOW
    app = App(settings=Settings(home=home, database_url=database_url, catalogue_dir=catalogue_dir,
                                secret_key="test-secret", **settings), clock=lambda: fixed)
    if sync_at is not None:
        app.sync(as_of=sync_at)
    return app


def make_record(app, obligation: str, scope: str, on: date | str, *, as_of: datetime | None = None,
                **fields: Any) -> int:
    """Store a completion record through the model layer; as_of defaults to noon on its date."""
    from shanhai.models.records import record_completion

    on = date.fromisoformat(on) if isinstance(on, str) else on
    with app.session() as session:
        rec = record_completion(
            app.catalogue, session=session, obligation_id=obligation, scope=scope, on=on,
            as_of=as_of or at(on.year, on.month, on.day), evidence_dir=app.settings.evidence_dir, **fields,
        )
        return rec.id


def review(app, record_id: int, verdict: str, note: str | None = None) -> None:
    from shanhai.models.records import review_record

    with app.session() as session:
        review_record(session=session, record_id=record_id, verdict=verdict, actor="经合办", note=note)


def occurrence_id(app, obligation: str, scope: str, period: str) -> int:
    from sqlalchemy import select

    from shanhai.models.tables import Occurrence

    with app.session() as session:
        return session.execute(
            select(Occurrence.id).where(
                Occurrence.obligation_id == obligation, Occurrence.scope == scope, Occurrence.period == period
            )
        ).scalar_one()


def waive(app, obligation: str, scope: str, period: str, reason: str = "经领导小组同意") -> None:
    from shanhai.models.records import waive_occurrence

    occ = occurrence_id(app, obligation, scope, period)
    with app.session() as session:
        waive_occurrence(session=session, occurrence_id=occ, reason=reason, actor="经合办")


def status_of(app, obligation: str, scope: str, period: str, *, as_of: datetime):
    """The Evaluation of one occurrence at ``as_of``, computed as the listings compute it."""
    from shanhai.models.store import OccurrenceFilter, load_evaluations

    with app.session() as session:
        pairs = load_evaluations(
            session=session, as_of=as_of, cal=app.calendar,
            flt=OccurrenceFilter(obligation=obligation, scope=scope, everything=True),
        )
    found = [ev for occ, ev in pairs if occ.period == period]
    assert len(found) == 1, f"no single occurrence {obligation}/{scope}/{period} at {as_of}: {pairs}"
    return found[0]


def in_parallel(n: int, fn) -> list:
    """Run ``fn()`` in ``n`` threads released together; their results, in order. An exception in any
    thread fails the caller (a thread's error must never pass silently)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(n)

    def released():
        barrier.wait(timeout=60)
        return fn()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(released) for _ in range(n)]
        return [f.result(timeout=300) for f in futures]


def count_rows(database_url: str, model) -> int:
    from sqlalchemy import func, select

    from shanhai.db import get_engine

    with get_engine(database_url).connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


# --------------------------------------------------------------------------- CLI


def run_cli(args: Sequence[str], *, home: Path, database_url: str | None = None,
            catalogue_dir: Path = REAL_CATALOGUE, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002
    """Run ``shanhai ARGS`` in-process (``input``: its standard input); returns click's Result
    (exit_code, stdout, stderr, output)."""
    from typer.testing import CliRunner

    from shanhai.cli.main import app

    full_env = {
        "SHANHAI_HOME": str(home),
        "SHANHAI_CATALOGUE_DIR": str(catalogue_dir),
        "SHANHAI_DATABASE_URL": database_url or f"sqlite:///{home / 'unused.db'}",
        "SHANHAI_SECRET_KEY": "test-secret",
        **(env or {}),
    }
    return CliRunner().invoke(app, [str(a) for a in args], env=full_env, catch_exceptions=False, input=input)


@pytest.fixture
def cli(tmp_path, database_url):
    """``cli(*args, catalogue_dir=..., env=...)``: the command on this test's home and database."""

    def invoke(*args: Any, catalogue_dir: Path = REAL_CATALOGUE, env: dict[str, str] | None = None):
        return run_cli(args, home=tmp_path / "home", database_url=database_url, catalogue_dir=catalogue_dir,
                       env=env)

    invoke.database_url = database_url  # type: ignore[attr-defined]
    invoke.home = tmp_path / "home"  # type: ignore[attr-defined]
    return invoke


@pytest.fixture
def sh(cli, tmp_path):
    """``sh(*args)``: the command on a records catalogue (records_catalogue), initialised on 2026-03-02."""
    catalogue = records_catalogue(tmp_path / "calendar")

    def run(*args: Any):
        return cli(*args, catalogue_dir=catalogue)

    init = run("init", "--as-of", "2026-03-02")
    assert init.exit_code == 0, init.output
    run.database_url = cli.database_url  # type: ignore[attr-defined]
    return run


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A real HTTP webhook on 127.0.0.1 (tests/webhook_receiver.py)."""
    with WebhookReceiver() as receiver:
        yield receiver


# --------------------------------------------------------------------------- Prefect (tests marked `prefect`)
#
#   ``prefect_server``  ONE real Prefect server for the whole session (``prefect server start`` on a free
#                       port, SQLite in a temporary PREFECT_HOME, scheduler off so only the runs a test
#                       creates ever execute; ~12 s to start). Yields its API URL and the environment a
#                       Prefect CLI or worker subprocess needs to talk to it.


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    from shanhai.cli.prefect_admin import prefect_env, start_server, wait_healthy
    from shanhai.cli.processes import Stack, StartupError, free_port

    home = Path(tempfile.mkdtemp(prefix="shanhai-prefect-"))
    port = free_port()
    env = prefect_env(home, port)
    env["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = "false"
    stack = Stack()
    try:
        server = start_server(stack, env=env, port=port, log_path=home / "server.log")
        try:
            wait_healthy(env["PREFECT_API_URL"], server, timeout=90)
        except StartupError as exc:
            pytest.fail(f"the session's Prefect server did not start: {exc}", pytrace=False)
        yield PrefectServer(api_url=env["PREFECT_API_URL"], home=home, env=env)
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)

"""What the benchmarks stand on: a province-scale catalogue, bulk records, a throwaway PostgreSQL
cluster and a slow local webhook receiver. Everything lives in temporary directories."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CALENDAR = REPO / "calendar"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving_portal(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The portal in its own uvicorn process (as `shanhai portal` serves it), ready when its health check
    answers; yields its base URL and stops it afterwards."""
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "shanhai.portal.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:  # readiness: the health check answers
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the portal did not start: see {log_path}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


# --------------------------------------------------------------------------- catalogue


def province_catalogue(target: Path, pairings: int = 90) -> Path:
    """The real catalogue plus synthetic counties, partners, pairings and eco parks up to `pairings`."""
    target.mkdir(parents=True, exist_ok=True)
    for f in CALENDAR.glob("*.yaml"):
        shutil.copy(f, target / f.name)
    extra = pairings - 5  # the document's own five pairings stay
    lines = ["# synthetic province-scale units, pairings and parks (benchmarks only)", "units:"]
    for i in range(1, extra + 1):
        lines += [
            f"  - {{name: 山区县{i:03d}, code: bench-county-{i:03d}, kind: county}}",
            f"  - {{name: 强区{i:03d}, code: bench-partner-{i:03d}, kind: partner}}",
        ]
    lines.append("pairings:")
    for i in range(1, extra + 1):
        lines.append(
            f"  - {{name: 山区县{i:03d}-强区{i:03d}, county: 山区县{i:03d}, partner: 强区{i:03d}, "
            "valid_from: 2018, valid_until: null}"
        )
    lines.append("parks:")
    for i in range(1, extra + 1):
        lines.append(
            f"  - {{name: 山区县{i:03d}生态旅游文化产业园, pairing: 山区县{i:03d}-强区{i:03d}, "
            f"host: 山区县{i:03d}, kind: eco_park, core_area_km2: 2.0}}"
        )
    (target / "zz-bench-province.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


# --------------------------------------------------------------------------- records


def insert_records(app, *, today: date, per_occurrence: int = 2, seed: int = 2026) -> int:
    """Bulk-insert `per_occurrence` completion records into every occurrence already started.

    A realistic mix: mostly verified, some still submitted, a few rejected; amounts for amount
    targets, categories where the requirement has shares or a 附件1 plan.
    """
    from sqlalchemy import insert, select
    from sqlmodel import col

    from shanhai.models.requirement import parse_requirement
    from shanhai.models.tables import CompletionRecord, Occurrence

    rng = random.Random(seed)
    categories = {
        ob_id: list(ob.categories or [s.category for s in ob.shares or []])
        for ob_id, ob in app.catalogue.obligations.items()
    }
    now = datetime.now().astimezone()
    rows = []
    with app.session() as s:
        occs = s.execute(
            select(
                col(Occurrence.id),
                col(Occurrence.obligation_id),
                col(Occurrence.period_start),
                col(Occurrence.due),
                col(Occurrence.requirement),
            )
            .where(col(Occurrence.period_start) <= today)
            .order_by(col(Occurrence.id))
        ).all()
        for occ_id, ob_id, start, due, requirement in occs:
            req = parse_requirement(requirement)
            start = req.counts_from(start)  # a windowed duty (年中) counts records from its window only
            end = min(today, due)
            span = max(0, (end - start).days)
            for _ in range(per_occurrence):
                category, amount = None, None
                if req.plan:
                    category = rng.choice(sorted(req.plan))
                    amount = req.plan[category] // per_occurrence + rng.randint(-(10**6), 10**6)
                elif req.target_fen:
                    amount = req.target_fen // per_occurrence + rng.randint(-(10**7), 10**7)
                if categories.get(ob_id) and not req.plan:
                    category = rng.choice(categories[ob_id])
                roll = rng.random()
                state = "verified" if roll < 0.75 else ("submitted" if roll < 0.93 else "rejected")
                rows.append(
                    {
                        "occurrence_id": occ_id,
                        "date": start + timedelta(days=rng.randint(0, span)),
                        "count": 1,
                        "amount_fen": max(0, amount) if amount is not None else None,
                        "category": category,
                        "state": state,
                        "note": "bench",
                        "submitted_by": "bench",
                        "created_at": now,
                    }
                )
        if rows:
            s.execute(insert(CompletionRecord), rows)
    return len(rows)


def insert_ignore_rowcount(database_url: str) -> int:
    """What INSERT … ON CONFLICT DO NOTHING reports as rowcount through a Session on this database
    (1 expected for a row written), on a throwaway temporary table."""
    from sqlalchemy import Column, Integer, MetaData, Table
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlmodel import Session

    from shanhai.db import get_engine

    engine = get_engine(database_url)
    table = Table("bench_probe", MetaData(), Column("k", Integer, primary_key=True), prefixes=["TEMPORARY"])
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with Session(engine) as s:
        table.create(s.connection())
        rowcount = s.connection().execute(insert(table).values(k=1).on_conflict_do_nothing()).rowcount
        s.rollback()
    return rowcount


# --------------------------------------------------------------------------- PostgreSQL


class PostgresCluster:
    """initdb + pg_ctl in a temp dir, trust auth on 127.0.0.1; stop() removes everything."""

    def __init__(self, root: Path) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = bins[-1].parent
        self.dir = root / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.started = False
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)

    def start(self) -> str:
        self.dir.mkdir(parents=True)
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir.parent, 0o755)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )
        self.started = True
        return self.create_database("shanhai_bench")

    def create_database(self, name: str) -> str:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.started:
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            finally:
                self.started = False


# --------------------------------------------------------------------------- webhook receiver


class SlowWebhook:
    """A threaded HTTP receiver on 127.0.0.1; each request takes `delay` seconds, like a real endpoint."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.count += 1
                    hook.in_flight += 1
                    hook.max_in_flight = max(hook.max_in_flight, hook.in_flight)
                time.sleep(hook.delay)
                with hook.lock:
                    hook.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

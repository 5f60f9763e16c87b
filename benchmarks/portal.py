"""Portal page times at the demo's scale: the document's catalogue and `shanhai demo`'s history, the
portal served by uvicorn in its own process (as `shanhai portal` serves it), a logged-in coordinator.

Board page (`/`) latency, p50 and p95, with 1 and with 4 concurrent clients; and a reminder's link page
(`/report/{token}`, which also writes its form nonces) with 1 client.

    .venv/bin/python -m benchmarks.portal      # alone; `make bench` runs it with the others
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.fixtures import REPO, serving_portal

PASSWORD = "benchmark password"
REQUESTS = 60  # per client


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "no login form"
    done = client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"})
    assert done.status_code == 303, f"login failed: {done.status_code}"
    return client


def _load(base: str, path: str, clients: int, requests: int, *, login: bool = True) -> dict:
    sessions = [_client(base) if login else httpx.Client(base_url=base, timeout=30) for _ in range(clients)]
    for s in sessions:  # warm: templates compiled, caches filled, connections open
        warm = s.get(path)
        assert warm.status_code == 200, f"{path}: HTTP {warm.status_code}"
    times: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def work(s: httpx.Client) -> None:
        mine = []
        barrier.wait()
        for _ in range(requests):
            t = time.perf_counter()
            r = s.get(path)
            mine.append(time.perf_counter() - t)
            assert r.status_code == 200, r.status_code
        with lock:
            times.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    for s in sessions:
        s.close()
    ms = [t * 1000 for t in times]
    return {
        "clients": clients,
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(_percentile(ms, 95), 1),
        "max_ms": round(max(ms), 1),
        "throughput_rps": round(len(ms) / wall, 1),
    }


def run_portal(root: Path) -> dict:
    import warnings

    warnings.filterwarnings("ignore", message="工作日历")
    from sqlalchemy import func, select

    from shanhai.app import App
    from shanhai.cli.demo import load_demo_history
    from shanhai.db import get_engine
    from shanhai.models.accounts import add_user
    from shanhai.models.queries import status_items
    from shanhai.models.tables import CompletionRecord, Occurrence
    from shanhai.notifications.links import sign_report_link
    from shanhai.settings import Settings

    home = root / "portal-home"
    env = {**os.environ, "SHANHAI_HOME": str(home), "SHANHAI_SECRET_KEY": "bench",
           "SHANHAI_CATALOGUE_DIR": str(REPO / "calendar"), "SHANHAI_PREFECT_UI_URL": "http://127.0.0.1:9"}
    env.pop("SHANHAI_DATABASE_URL", None)
    app = App(Settings(home=home, secret_key="bench", catalogue_dir=REPO / "calendar"))
    now = datetime.now(UTC)
    app.sync(as_of=now)
    load_demo_history(app, as_of=now)
    with app.session() as session:
        add_user(session=session, name="bench", role="coordinator", password=PASSWORD, actor="bench")
        occurrences = session.execute(select(func.count()).select_from(Occurrence)).scalar_one()
        records = session.execute(select(func.count()).select_from(CompletionRecord)).scalar_one()
    first_open = next(i for i in status_items(app, as_of=now) if i["status"] not in ("done", "done_late", "waived"))
    try:
        with serving_portal(env, root / "portal-bench.log") as base:
            board_size = len(_client(base).get("/").content)
            coordinator = app.catalogue.unit(app.catalogue.roles.coordinator).code
            link = sign_report_link(base_url="", occurrence_id=first_open["id"], unit_code=coordinator,
                                    secret="bench", issued_at=now)
            return {
                "occurrences": occurrences,
                "records": records,
                "board_bytes": board_size,
                "board": [_load(base, "/", 1, REQUESTS), _load(base, "/", 4, REQUESTS)],
                "link_page": _load(base, link, 1, REQUESTS, login=False),
                # a unit's page now carries its own line of the latest closed year's assessment
                "unit_page": _load(base, "/units/lucheng", 1, REQUESTS),
                # the assessment page draws its charts on every request: a few requests suffice
                "assessment": _load(base, "/assessment", 1, 5),
            }
    finally:
        get_engine(app.database_url).dispose()


def report(result: dict) -> str:
    rows = [("board /", r) for r in result["board"]] + [("link /report/…", result["link_page"])]
    rows += [(name, result[key]) for name, key in (("unit /units/…", "unit_page"), ("/assessment", "assessment"))
             if key in result]
    lines = [
        f"4. portal page times (demo scale: {result['occurrences']} occurrences, {result['records']} records; "
        f"board page {result['board_bytes'] // 1024} KiB; uvicorn, 1 process)",
        f"{'page':<16}{'clients':>8}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'req/s':>8}",
    ]
    for name, r in rows:
        lines.append(
            f"{name:<16}{r['clients']:>8}{r['requests']:>10}{r['p50_ms']:>9}{r['p95_ms']:>9}{r['max_ms']:>9}"
            f"{r['throughput_rps']:>8}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="shanhai-bench-portal-"))
    try:
        out = run_portal(tmp)
        print(report(out))
        print(json.dumps(out, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

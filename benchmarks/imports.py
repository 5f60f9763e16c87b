"""Import throughput, side by side with a bare INSERT of the same rows, and the portal during an import.

A province-scale catalogue (90 pairings) on SQLite; CSV ledgers of 20,000 and 100,000 distinct
joint-meeting records. Each is imported with ``import_file`` (checks every row, short transactions, one
completing commit); the bare figure inserts the same rows with one executemany in one transaction. While
the 100,000-row file imports, a reminder's link page is fetched from a portal served by uvicorn in its own
process (as `shanhai portal` serves it), and its latencies and status codes are kept.

    .venv/bin/python -m benchmarks.imports     # alone; `make bench` runs it with the others
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from benchmarks.fixtures import serving_portal

SIZES = (20_000, 100_000)


def _ledger(app, path: Path, rows: int, *, tag: str) -> Path:
    """``rows`` joint-meeting records over every pairing and day of 2026 up to the as_of, notes distinct."""
    pairings = sorted(app.catalogue.pairings)
    lines = ["obligation,scope,date,note"]
    for i in range(rows):
        day = date(2026, 1, 1) + timedelta(days=(i // len(pairings)) % 300)
        lines.append(f"joint-meeting,{pairings[i % len(pairings)]},{day.isoformat()},{tag}-{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _bare_insert(app, records: list[dict]) -> float:
    """Seconds to INSERT the same rows in one transaction (then removed, untimed)."""
    from sqlalchemy import delete, insert
    from sqlmodel import col

    from shanhai.models.tables import CompletionRecord

    rows = [{**r, "submitted_by": "bare"} for r in records]
    t = time.perf_counter()
    with app.session() as session:
        session.execute(insert(CompletionRecord), rows)
    took = time.perf_counter() - t
    with app.session() as session:
        session.execute(delete(CompletionRecord).where(col(CompletionRecord.submitted_by) == "bare"))
    return took


def _portal_env(app) -> dict[str, str]:
    return {**os.environ, "SHANHAI_HOME": str(app.settings.home_dir), "SHANHAI_SECRET_KEY": "bench",
            "SHANHAI_DATABASE_URL": app.database_url, "SHANHAI_CATALOGUE_DIR": str(app.settings.catalogue_dir),
            "SHANHAI_PREFECT_UI_URL": "http://127.0.0.1:9"}


def _link(app, now) -> str:
    from shanhai.models.queries import status_items
    from shanhai.notifications.links import sign_report_link

    item = next(i for i in status_items(app, as_of=now) if i["obligation"] == "joint-meeting")
    unit = app.catalogue.unit(app.catalogue.roles.coordinator).code
    return sign_report_link(base_url="", occurrence_id=item["id"], unit_code=unit, secret="bench", issued_at=now)


POLL_EVERY_S = 0.05  # a clerk's pace, not a load test: the poller shares this process's GIL with the import


def _poll(base: str, path: str, stop: threading.Event, out: list) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.wait(POLL_EVERY_S):
            t = time.perf_counter()
            status = client.get(path).status_code
            out.append((time.perf_counter() - t, status))


def run_imports(root: Path) -> dict:
    from benchmarks.run import AS_OF, province_app
    from shanhai.db import get_engine

    app, _ = province_app(root / "import", None)
    app.clock = lambda: AS_OF  # the ledgers' dates are all before it
    result: dict = {"backend": "sqlite", "runs": []}
    try:
        with serving_portal(_portal_env(app), root / "portal-import.log") as base:
            link = _link(app, AS_OF)
            for rows in SIZES:
                result["runs"].append(_measure(app, root, base, link, rows))
    finally:
        get_engine(app.database_url).dispose()
    return result


def _measure(app, root: Path, base: str, link: str, rows: int) -> dict:
    """One ledger: a bare INSERT of its rows, then the import while the link page is fetched all along."""
    from benchmarks.run import AS_OF
    from shanhai.cli.import_rows import validate_rows
    from shanhai.cli.importer import _parse_cells, import_file
    from shanhai.cli.sheets import read_table

    path = _ledger(app, root / f"ledger-{rows}.csv", rows, tag=f"r{rows}")
    records, problems = validate_rows(app, read_table(path.read_bytes(), path.name), as_of=AS_OF,
                                      source=path.name, parse_cells=_parse_cells)
    assert not problems, problems[:3]
    bare = _bare_insert(app, records)
    stop = threading.Event()
    seen: list[tuple[float, int]] = []
    poller = threading.Thread(target=_poll, args=(base, link, stop, seen))
    poller.start()
    t, cpu = time.perf_counter(), time.thread_time()
    done = import_file(app, path, as_of=AS_OF)
    took, cpu = time.perf_counter() - t, time.thread_time() - cpu
    stop.set()
    poller.join()
    assert done.rows == rows and not done.already_at
    ms = sorted(s * 1000 for s, _ in seen)
    return {
        "rows": rows,
        "import_s": round(took, 2),
        "import_rows_per_s": round(rows / took),
        "import_cpu_s": round(cpu, 2),  # this thread's CPU time: what the import costs on a quiet machine
        "import_rows_per_cpu_s": round(rows / cpu),
        "bare_insert_s": round(bare, 2),
        "bare_rows_per_s": round(rows / bare),
        "link_requests": len(ms),
        "link_p50_ms": round(statistics.median(ms), 1) if ms else None,
        "link_max_ms": round(max(ms), 1) if ms else None,
        "link_statuses": sorted({s for _, s in seen}),
    }


def report(result: dict) -> str:
    lines = [
        f"5. import throughput ({result['backend']}; province catalogue; a link page fetched all along)",
        f"{'rows':>8}{'import s':>10}{'rows/s':>9}{'rows/cpu-s':>12}{'bare s':>8}{'bare rows/s':>13}{'link p50 ms':>13}"
        f"{'link max ms':>13}{'statuses':>10}",
    ]
    for r in result["runs"]:
        lines.append(
            f"{r['rows']:>8}{r['import_s']:>10}{r['import_rows_per_s']:>9}{r['import_rows_per_cpu_s']:>12}"
            f"{r['bare_insert_s']:>8}"
            f"{r['bare_rows_per_s']:>13}{r['link_p50_ms']!s:>13}{r['link_max_ms']!s:>13}"
            f"{','.join(map(str, r['link_statuses'])):>10}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import logging
    import shutil
    import warnings

    warnings.filterwarnings("ignore", message="工作日历")
    logging.getLogger("shanhai.working_days").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="shanhai-bench-import-"))
    try:
        out = run_imports(tmp)
        print(report(out))
        print(json.dumps(out, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

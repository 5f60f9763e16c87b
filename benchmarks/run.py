"""Shanhai benchmarks: sweep vs bare SQL read at province scale, notification fan-out,
CLI start-up, portal page times, import throughput. Prints a plain table and writes benchmarks/results.json.

    make bench        # or: .venv/bin/python -m benchmarks.run

Everything runs in a temporary directory (SQLite, an optional throwaway PostgreSQL cluster, a
local webhook receiver on 127.0.0.1) that is removed at the end. Exit status is non-zero only
when a benchmark itself fails; a PostgreSQL cluster that cannot be started is skipped with a note.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="工作日历")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import pendulum  # noqa: E402

from benchmarks.fixtures import (  # noqa: E402
    REPO,
    PostgresCluster,
    insert_ignore_rowcount,
    insert_records,
    province_catalogue,
)

AS_OF = pendulum.datetime(2026, 11, 30, 10, tz="Asia/Shanghai")  # Monday, after the send hour
PAIRINGS = 90  # a province's worth
RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def province_app(root: Path, database_url: str | None):
    from shanhai.app import App
    from shanhai.models.localtime import local_date
    from shanhai.settings import Settings

    catalogue = root / "catalogue"
    if not catalogue.exists():
        province_catalogue(catalogue, PAIRINGS)
    app = App(
        Settings(
            home=root / "home",
            database_url=database_url,
            catalogue_dir=catalogue,
            apprise_config=None,
            secret_key="bench",
        )
    )
    t = time.perf_counter()
    report = app.sync(as_of=AS_OF)
    sync_s = time.perf_counter() - t
    t = time.perf_counter()
    records = insert_records(app, today=local_date(AS_OF), per_occurrence=2)
    insert_s = time.perf_counter() - t
    setup = {
        "pairings": len(app.catalogue.pairings),
        "units": len(app.catalogue.units),
        "occurrences_stored": report.occurrences_added,
        "records_inserted": records,
        "sync_s": round(sync_s, 2),
        "insert_s": round(insert_s, 2),
    }
    return app, setup


# --------------------------------------------------------------------------- printing


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [["—" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = [title, line]
    for n, r in enumerate(cells):
        out.append(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if n == 0:
            out.append(line)
    return "\n".join(out)


def report(results: dict) -> str:
    m = results["machine"]
    parts = [f"machine: {m['nproc']} CPU · {m['cpu']} · Python {m['python']}"]
    for s in results["sweep"]:
        st = s["setup"]
        parts.append(
            f"{s['backend']}: {st['pairings']} pairings, {st['units']} units, {st['occurrences_stored']} occurrences, "
            f"{st['records_inserted']} records (sync {st['sync_s']}s, insert {st['insert_s']}s)"
        )
    parts.append("")
    parts.append(
        table(
            f"1. sweep vs bare SQL read (best of 5, as_of {AS_OF.isoformat()})",
            [
                "backend",
                "occ rows",
                "agg rec rows",
                "bare SQL ms",
                "load_evaluations ms",
                "ratio",
                "evaluate() ms",
                "check dry-run ms",
                "ratio",
            ],
            [
                [
                    s["backend"],
                    s["occurrence_rows"],
                    s["aggregated_record_rows"],
                    s["bare_sql_ms"],
                    s["load_evaluations_ms"],
                    s["ratio"],
                    s["evaluate_only_ms"],
                    s.get("check_dry_run_ms"),
                    s.get("check_ratio"),
                ]
                for s in results["sweep"]
            ],
        )
    )
    for s in results["sweep"]:
        spots = ", ".join(f"{h['where']} {h['own_ms']}" for h in s["load_evaluations_hot_spots"][:3])
        parts.append(f"  {s['backend']} load_evaluations own-time leaders (profiled ms): {spots}")
        if "check_breakdown" in s:
            parts.append(
                f"  {s['backend']} check dry-run, profiled cumulative ms: "
                + ", ".join(f"{k} {v}" for k, v in s["check_breakdown"].items())
            )
    parts.append("")
    parts.append(
        table(
            "2. notification fan-out (webhook 50 ms/request, deliver_outbox workers=8)",
            [
                "backend",
                "messages",
                "deliveries",
                "seconds",
                "sequential s",
                "eff. concurrency",
                "max in flight",
            ],
            [
                [
                    f["backend"],
                    f["messages_queued"],
                    f["sent"],
                    f["seconds"],
                    f["sequential_bound_s"],
                    f["effective_concurrency"],
                    f["receiver_max_in_flight"],
                ]
                for f in results["fanout"]
            ],
        )
    )
    c = results["cli"]
    parts.append("")
    parts.append(
        table(
            "3. CLI start-up (best of 5 wall time)",
            ["what", "value"],
            [
                ["shanhai --help", f"{c['help_ms']} ms"],
                ["shanhai obligations --json", f"{c['obligations_json_ms']} ms"],
                ["python -c pass", f"{c['bare_python_ms']} ms"],
                ["import shanhai.cli.main (-X importtime)", f"{c['import_shanhai_cli_main_ms']} ms"],
                [
                    "  then import shanhai.app (obligations needs it)",
                    f"{c['import_shanhai_app_ms_after_cli']} ms",
                ],
                ["  then load_catalogue(calendar/)", f"{c['load_catalogue_ms']} ms"],
                ["prefect imported by the CLI module", c["prefect_imported_by_cli_module"]],
                ["prefect imported by obligations --json", c["prefect_imported_by_obligations_command"]],
            ],
        )
    )
    if "portal" in results:
        from benchmarks.portal import report as portal_report

        parts.append("")
        parts.append(portal_report(results["portal"]))
    if "imports" in results:
        from benchmarks.imports import report as imports_report

        parts.append("")
        parts.append(imports_report(results["imports"]))
    if results["notes"]:
        parts.append("")
        parts += [f"note: {n}" for n in results["notes"]]
    return "\n".join(parts)


# --------------------------------------------------------------------------- main


def main() -> int:
    logging.getLogger("shanhai.working_days").setLevel(logging.ERROR)  # the provisional 2027, once per run
    from benchmarks.cli_startup import run_cli
    from benchmarks.fanout import run_fanout
    from benchmarks.sweep import run_sweep
    from shanhai.db import get_engine

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="shanhai-bench-"))
    results: dict = {"machine": machine(), "as_of": AS_OF.isoformat(), "sweep": [], "fanout": [], "notes": []}
    print(
        f"machine: {results['machine']['nproc']} CPU · {results['machine']['cpu']} · Python "
        f"{results['machine']['python']}",
        flush=True,
    )
    pg: PostgresCluster | None = None
    urls: list[str] = []
    failed = False
    try:
        # 1. sweep, SQLite
        print("sweep on SQLite …", flush=True)
        app, setup = province_app(root / "sqlite", None)
        urls.append(app.database_url)
        results["sweep"].append({**run_sweep(app, AS_OF, label="sqlite"), "setup": setup})

        # PostgreSQL, optional
        pg_url = None
        try:
            pg = PostgresCluster(root)
            pg_url = pg.start()
            urls.append(pg_url)
        except Exception as exc:  # no binaries, not root, port taken …: skip, say so
            results["notes"].append(
                f"PostgreSQL skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            )
            if pg is not None:
                pg.stop()
            pg = None
        if pg_url:
            print("sweep on PostgreSQL …", flush=True)
            # separate database per part: the sweep's and the fan-out's outboxes must not mix
            pg_app, pg_setup = province_app(root / "pg-sweep", pg_url)
            results["sweep"].append({**run_sweep(pg_app, AS_OF, label="postgresql"), "setup": pg_setup})

        # 2. fan-out (the document's own catalogue, fresh databases)
        print("fan-out on SQLite …", flush=True)
        results["fanout"].append(run_fanout(root / "fanout-sqlite", None, AS_OF, label="sqlite"))
        if pg_url and pg is not None:
            print("fan-out on PostgreSQL …", flush=True)
            fan_url = pg.create_database("shanhai_fanout")
            urls.append(fan_url)
            results["fanout"].append(run_fanout(root / "fanout-pg", fan_url, AS_OF, label="postgresql"))
        fan_urls = {"sqlite": None, "postgresql": urls[-1] if pg_url else None}
        for f in results["fanout"]:
            if f["messages_queued"] == 0:
                url = fan_urls[f["backend"]] or f"sqlite:///{root / 'fanout-sqlite' / 'home' / 'shanhai.db'}"
                rowcount = insert_ignore_rowcount(url)
                results["notes"].append(
                    f"fan-out on {f['backend']}: check_obligation queued nothing (planned messages were "
                    f"not written to the outbox), so nothing was delivered; INSERT … ON CONFLICT DO NOTHING "
                    f"reports rowcount {rowcount} here (shanhai.db.insert_ignore counts returned keys)"
                )
            elif f["receiver_max_in_flight"] <= 1 and f["sent"] > 1:
                results["notes"].append(
                    f"fan-out on {f['backend']}: deliveries reached the webhook one at a time (max in flight 1)"
                )

        # 3. CLI
        print("CLI start-up …", flush=True)
        cli_home = root / "cli-home"
        cli_home.mkdir()
        results["cli"] = run_cli(REPO, cli_home)
        if (
            results["cli"]["prefect_imported_by_cli_module"]
            or results["cli"]["prefect_imported_by_obligations_command"]
        ):
            results["notes"].append("Prefect is imported by the CLI where it is not needed")
        # 4. portal page times at the demo's scale
        print("portal pages …", flush=True)
        from benchmarks.portal import run_portal

        results["portal"] = run_portal(root)
        # 5. import throughput beside a bare INSERT, a link page fetched all along
        print("imports on SQLite …", flush=True)
        from benchmarks.imports import run_imports

        results["imports"] = run_imports(root)
        if any(r["link_statuses"] != [200] for r in results["imports"]["runs"]):
            results["notes"].append("a link page did not answer 200 during an import")
    except Exception:
        failed = True
        traceback.print_exc()
    finally:
        for url in urls:
            with contextlib.suppress(Exception):
                get_engine(url).dispose()
        if pg is not None:
            try:
                pg.stop()
            except Exception as exc:
                print(f"warning: could not stop PostgreSQL: {exc}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
    if failed:
        return 1
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    print()
    print(report(results))
    print(f"\n(total {results['elapsed_s']} s; results in {RESULTS.relative_to(REPO)})")
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

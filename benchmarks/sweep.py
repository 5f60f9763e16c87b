"""Sweep vs a bare SQL read of the same rows (a sweep should cost close to the read it is built on)."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

T = TypeVar("T")

OCCURRENCES_SQL = (
    "SELECT id, obligation_id, scope, period, period_start, due, requirement FROM occurrence "
    "WHERE period_start <= {p} ORDER BY obligation_id, scope, period"
)
TOTALS_SQL = (
    "SELECT occurrence_id, date, category, state, SUM(count), COALESCE(SUM(amount_fen), 0) "
    "FROM completionrecord WHERE state != 'rejected' "
    "AND occurrence_id IN (SELECT id FROM occurrence WHERE period_start <= {p}) "
    "GROUP BY occurrence_id, date, category, state"
)
WAIVED_SQL = "SELECT occurrence_id FROM waiver WHERE occurrence_id IN (SELECT id FROM occurrence WHERE period_start <= {p})"


def best_of(fn: Callable[[], T], repeat: int = 5) -> tuple[float, T]:
    """Best wall time in ms over `repeat` runs, and the last result."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000, result


def bare_read(engine, today: date) -> tuple[int, int]:
    """The same rows load_evaluations reads, through the bare DB-API cursor, fetchall."""
    placeholder = "?" if engine.dialect.name == "sqlite" else "%s"
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute(OCCURRENCES_SQL.format(p=placeholder), (today.isoformat(),))
        occ = cur.fetchall()
        cur.execute(TOTALS_SQL.format(p=placeholder), (today.isoformat(),))
        totals = cur.fetchall()
        cur.execute(WAIVED_SQL.format(p=placeholder), (today.isoformat(),))
        cur.fetchall()
        cur.close()
        conn.rollback()
    finally:
        conn.close()
    return len(occ), len(totals)


def sweep(app, as_of: datetime) -> int:
    from sqlmodel import Session

    from shanhai.db import get_engine
    from shanhai.models.store import OccurrenceFilter, load_evaluations

    with Session(get_engine(app.database_url)) as session:
        pairs = load_evaluations(
            session=session, as_of=as_of, cal=app.calendar, flt=OccurrenceFilter(everything=True)
        )
        session.rollback()
    return len(pairs)


def check(app, as_of: datetime) -> int:
    from shanhai.notifications.checking import check_obligation

    result = check_obligation(app, None, as_of=as_of, dry_run=True)
    return len(result.messages)


def hot_spots(fn: Callable[[], object], top: int = 6) -> list[dict]:
    """Own-time leaders of one profiled run (for the report: where the time goes)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        short = _short(path)
        rows.append({"where": f"{short}:{line}:{name}", "own_ms": tottime * 1000, "cum_ms": cumtime * 1000})
    rows.sort(key=lambda r: r["own_ms"], reverse=True)
    return [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in rows[:top]]


def _short(path: str) -> str:
    from benchmarks.fixtures import REPO

    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/lib/python3" in path:
        return path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return path.replace(str(REPO), "").lstrip("/")


def breakdown(fn: Callable[[], object], names: tuple[str, ...]) -> dict[str, float]:
    """Profiled cumulative ms of the named functions (shanhai's own) in one run, and the total."""
    prof = cProfile.Profile()
    prof.enable()
    t = time.perf_counter()
    fn()
    total = time.perf_counter() - t
    prof.disable()
    out = {"total (profiled)": round(total * 1000, 1)}
    for (path, _line, name), (_cc, _nc, _tt, cumtime, _callers) in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
        if name in names and "site-packages" not in path:
            key = f"{_short(path)}:{name}"
            out[key] = round(out.get(key, 0) + cumtime * 1000, 1)
    return out


def evaluate_only(app, as_of: datetime, repeat: int = 5) -> float:
    """The pure status engine alone on the inputs load_evaluations hands it (captured once)."""
    import shanhai.models.store as store

    captured: dict[str, Any] = {}
    original = store.evaluate

    def capture(*args, **kwargs):
        captured.update(args=args, kwargs=kwargs)
        return original(*args, **kwargs)

    store.evaluate = capture
    try:
        sweep(app, as_of)
    finally:
        store.evaluate = original
    ms, _ = best_of(lambda: original(*captured["args"], **captured["kwargs"]), repeat)
    return ms


def run_sweep(app, as_of: datetime, *, label: str, with_check: bool = True, repeat: int = 5) -> dict:
    from shanhai.db import get_engine
    from shanhai.models.localtime import local_date

    today = local_date(as_of)
    engine = get_engine(app.database_url)
    sweep(app, as_of)  # warm: the working calendar's caches, SQLAlchemy's compiled-statement cache
    bare_ms, (occ_rows, total_rows) = best_of(lambda: bare_read(engine, today), repeat)
    sweep_ms, evaluated = best_of(lambda: sweep(app, as_of), repeat)
    out = {
        "backend": label,
        "occurrence_rows": occ_rows,
        "aggregated_record_rows": total_rows,
        "evaluated": evaluated,
        "bare_sql_ms": round(bare_ms, 2),
        "load_evaluations_ms": round(sweep_ms, 2),
        "ratio": round(sweep_ms / bare_ms, 2),
        "evaluate_only_ms": round(evaluate_only(app, as_of, repeat), 2),
        "load_evaluations_hot_spots": hot_spots(lambda: sweep(app, as_of)),
    }
    if with_check:
        check(app, as_of)
        check_ms, planned = best_of(lambda: check(app, as_of), repeat)
        out.update(
            check_dry_run_ms=round(check_ms, 2),
            check_ratio=round(check_ms / bare_ms, 2),
            planned_messages=planned,
            check_hot_spots=hot_spots(lambda: check(app, as_of)),
            check_breakdown=breakdown(
                lambda: check(app, as_of),
                (
                    "sync_catalogue",
                    "expected_occurrences",
                    "load_evaluations",
                    "evaluate",
                    "plan",
                    "_status_item",
                ),
            ),
        )
    return out

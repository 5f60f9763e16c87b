"""Notification fan-out: deliver_outbox against a slow local webhook vs the sequential lower bound."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

DELAY = 0.05  # seconds each webhook request takes
UNITS = 20  # units with channels (tags = unit codes from calendar/units.yaml)
CHANNELS_PER_UNIT = 4  # distinct webhook paths per unit, to get ~100 deliveries (bounded, all 127.0.0.1)


def write_apprise_config(path: Path, codes: list[str], port: int) -> Path:
    lines = ["urls:"]
    for code in codes:
        for k in range(CHANNELS_PER_UNIT):
            lines += [f'  - "json://127.0.0.1:{port}/hook/{code}/{k}":', f"      - tag: {code}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_fanout(root: Path, database_url: str | None, as_of: datetime, *, label: str) -> dict:
    from sqlalchemy import func, select
    from sqlmodel import col

    from benchmarks.fixtures import CALENDAR, SlowWebhook
    from shanhai.app import App
    from shanhai.models.tables import Delivery
    from shanhai.notifications.checking import check_obligation
    from shanhai.notifications.delivery import deliver_outbox
    from shanhai.settings import Settings

    hook = SlowWebhook(DELAY)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = App(Settings(home=root / "home", catalogue_dir=CALENDAR))
        codes = [u.code for u in probe.catalogue.units.values()][:UNITS]
        config = write_apprise_config(root / "apprise.yaml", codes, hook.port)
        app = App(
            Settings(
                home=root / "home",
                database_url=database_url,
                catalogue_dir=CALENDAR,
                apprise_config=config,
                secret_key="bench",
            )
        )
        queued = check_obligation(app, None, as_of=as_of, dry_run=False).queued
        with app.session() as s:
            pending = s.execute(select(func.count()).where(col(Delivery.status) == "pending")).scalar_one()
        t = time.perf_counter()
        app.clock = lambda: as_of
        report = deliver_outbox(app)
        seconds = time.perf_counter() - t
        bound = report.sent * DELAY
        return {
            "backend": label,
            "messages_queued": queued,
            "deliveries_pending": pending,
            "sent": report.sent,
            "failed": report.failed,
            "retrying": report.retrying,
            "kept_local": report.kept_local,
            "requests_received": hook.count,
            "seconds": round(seconds, 3),
            "sequential_bound_s": round(bound, 3),
            "effective_concurrency": round(bound / seconds, 2) if report.sent and seconds else None,
            "receiver_max_in_flight": hook.max_in_flight,
            "workers": 8,
        }
    finally:
        hook.close()

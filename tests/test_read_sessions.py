"""Read-only sessions (the portal's pages): on SQLite they take no write lock, so a page being read
never holds up a writer, and what they loaded stays readable after they close."""

from __future__ import annotations

import time

from shanhai.models.audit import audit
from shanhai.models.ics import unit_calendar
from shanhai.models.tables import AuditEntry, Occurrence
from tests.conftest import at, count_rows, make_app, make_catalogue, next_year_plan


def test_a_writer_is_not_held_up_by_an_open_read_session(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "cat", [next_year_plan()]),
                   sync_at=at(2026, 10, 20))
    before = count_rows(database_url, AuditEntry)
    with app.read_session() as reading:
        occurrence = reading.get(Occurrence, 1)
        started = time.monotonic()
        with app.session() as writing:  # a write lock taken up front would wait out the busy timeout here
            audit(session=writing, actor="test", action="test.write", entity="test", entity_id="1")
        assert time.monotonic() - started < 5
    assert occurrence is not None and occurrence.obligation_id == "next-year-plan"  # still readable
    assert count_rows(database_url, AuditEntry) == before + 1


def test_nothing_written_in_a_read_session_is_kept(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "cat", [next_year_plan()]),
                   sync_at=at(2026, 10, 20))
    before = count_rows(database_url, AuditEntry)
    with app.read_session() as session:
        audit(session=session, actor="test", action="test.write", entity="test", entity_id="1")
        session.flush()
    assert count_rows(database_url, AuditEntry) == before


def _hold_write_lock(database_url: str):
    import sqlite3

    from sqlalchemy.engine import make_url

    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of writing
    return holder


def test_a_reading_command_does_not_wait_for_a_writer_when_nothing_needs_syncing(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'shanhai.db'}"  # SQLite only: a server has no file-wide write lock
    from shanhai.models.queries import status_items

    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "cat", [next_year_plan()]),
                   sync_at=at(2026, 10, 20))
    fresh = make_app(tmp_path / "home", database_url, app.settings.catalogue_dir, now=at(2026, 10, 20, 15))
    holder = _hold_write_lock(database_url)
    try:
        started = time.monotonic()
        report = fresh.sync(as_of=at(2026, 10, 1))  # a preview of an earlier day, later the same real day
        items = status_items(fresh, as_of=at(2026, 10, 1), scope=None, obligation=None, year=None,
                             everything=True)
        assert fresh.tracking_from().year == 2026
        assert time.monotonic() - started < 5
    finally:
        holder.rollback()
        holder.close()
    assert not report.changed and items


def test_a_sync_with_something_to_write_still_writes(tmp_path, database_url):
    from shanhai.models.tables import CatalogueState

    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "cat", [next_year_plan()]),
                   sync_at=at(2026, 10, 20))
    later = make_app(tmp_path / "home", database_url, app.settings.catalogue_dir, now=at(2026, 10, 22))
    later.sync(as_of=at(2026, 10, 22))  # the real clock moved on: the high-water mark follows it
    with later.read_session() as session:
        assert session.get(CatalogueState, "catalogue").high_water.isoformat() == "2026-10-22"


def test_a_units_calendar_is_read_while_a_writer_holds_the_lock(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "cat", [next_year_plan()]),
                   sync_at=at(2026, 10, 20))
    with app.session() as writing:
        audit(session=writing, actor="test", action="test.write", entity="test", entity_id="1")
        writing.flush()  # the write lock is held until this block ends
        started = time.monotonic()
        raw = unit_calendar(app, "泰顺县", as_of=at(2026, 10, 20))
        assert time.monotonic() - started < 5
    assert b"BEGIN:VEVENT" in raw

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

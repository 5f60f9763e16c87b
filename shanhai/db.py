"""Engines, sessions and migrations for the application database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from shanhai.migrations import HEAD

READ_ONLY = "shanhai_read_only"
# How long a SQLite writer waits for another process's write lock before giving up with "database is
# locked" (the CLI then says, in one line, that the database is busy and to try again).
SQLITE_BUSY_SECONDS = 30
# How long a PostgreSQL connection attempt waits for the server (libpq's connect_timeout; a
# connect_timeout in the URL wins): a dead or firewalled server fails in seconds, in one line, instead
# of hanging on the operating system's TCP timeout (minutes).
PG_CONNECT_SECONDS = 10


@cache
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            _create_private(Path(path))
        busy = SQLITE_BUSY_SECONDS
        engine = create_engine(url, connect_args={"timeout": busy, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            # pysqlite's own BEGIN handling breaks SAVEPOINTs; we emit BEGIN ourselves (below)
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # IMMEDIATE takes the write lock up front, so two concurrent runs queue behind each other
            # instead of failing when a read transaction tries to become a write transaction. A
            # read-only session (read_scope) takes no lock: in WAL mode it reads a consistent snapshot
            # while others write, and many readers (the portal's pages) run side by side.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    from sqlalchemy.engine import make_url

    connect_args = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": PG_CONNECT_SECONDS}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


# PostgreSQL's "try again later": a lock wait given up, too many connections, a statement timeout
_PG_BUSY_STATES = {"55P03", "53300", "57014"}
_SQLITE_BUSY = ("database is locked", "database is busy", "database table is locked")


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "busy, try again shortly" (another writer holds the lock, the
    pool or server has no connection to spare), not a fault: the portal answers 503, the CLI one line."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _PG_BUSY_STATES:
        return True
    first = (str(orig or exc).strip().splitlines() or [""])[0]
    return any(reason in first for reason in _SQLITE_BUSY)


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error is the disk (or quota) running out: SQLite's SQLITE_FULL, PostgreSQL's
    class 53100 (disk_full) or an ENOSPC its server reports."""
    from sqlalchemy import exc as sa_exc

    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "53100":
        return True
    text = str(orig or exc)
    return "database or disk is full" in text or "No space left on device" in text


def _create_private(path: Path) -> None:
    """Create a new SQLite file private (0600; a new folder 0700): it holds signed links and names.
    SQLite gives its -wal and -shm files the database file's mode."""
    import os
    from contextlib import suppress

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def insert_ignore(
    session: Session, model, rows: dict[str, Any] | list[dict[str, Any]], *, on_key: bool = False
) -> int:
    """INSERT … ON CONFLICT DO NOTHING (one row or many); the number of rows this call wrote.

    A concurrent transaction inserting the same key makes this one wait for it, then write nothing:
    of racing processes exactly one is told it wrote the row. ``on_key``: ignore a conflict on the
    primary key only (another unique column still fails loudly)."""
    from sqlalchemy.dialects import postgresql, sqlite

    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = model.__table__
    target = list(table.primary_key.columns) if on_key else None
    stmt = (
        (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        .on_conflict_do_nothing(index_elements=target)
        .returning(*table.primary_key.columns)  # row counts of ON CONFLICT are unreliable across drivers
    )
    result = session.connection().execute(stmt, rows if isinstance(rows, list) else [rows])
    return len(result.all())


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error (nothing partial)."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope(url: str) -> Iterator[Session]:
    """A session for reading only: never committed; closing it ends the transaction (the pool rolls
    back), and what it loaded stays readable."""
    engine = get_engine(url).execution_options(**{READ_ONLY: True})
    with Session(engine, expire_on_commit=False) as session:
        yield session


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


# pg_advisory_lock key for migrations: any fixed bigint, the same in every process ("shanhai" in ASCII)
MIGRATION_LOCK = 0x7368616E686169


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision (once per process and database).

    Concurrent first runs (three `init`s, or the 09:05 checks on a new database) upgrade one after the
    other: on PostgreSQL under an advisory lock, held on its own connection and released after; on SQLite
    the upgrade's BEGIN IMMEDIATE already takes the file's write lock. Whoever waited finds the schema at
    the head and does nothing."""
    with _migrate_lock:
        if url not in _migrated:
            if _current_revision(url) != HEAD:
                with _migration_lock(url):
                    if _current_revision(url) != HEAD:
                        _upgrade(url)
            _migrated.add(url)


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        conn.commit()  # no transaction stays open while the upgrade runs on another connection
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()


def _current_revision(url: str) -> str | None:
    from sqlalchemy import inspect, text

    # a read-only connection: on SQLite a plain BEGIN, so checking never waits for a writer
    engine = get_engine(url).execution_options(**{READ_ONLY: True})
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_revision(url: str) -> str | None:
    """The database's Alembic revision, None when it has never been migrated (creates nothing on a
    server database; for SQLite, look for the file first: opening it creates it)."""
    return _current_revision(url)


def _upgrade(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    import shanhai.migrations as migrations_pkg

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations_pkg.__file__).parent))
    cfg.attributes["engine"] = get_engine(url)
    command.upgrade(cfg, "head")

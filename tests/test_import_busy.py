"""A big import never takes the service down: it writes in short transactions under a batch that counts
nowhere until one last commit; a killed import leaves nothing counted and the next one works; link pages
answer (and forms submit) while an import is half-written; a locked database is a 503, never a 500."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from shanhai.models.tables import CompletionRecord, ImportBatch
from tests.conftest import at, count_rows, joint_meeting, make_app, make_catalogue, run_cli, status_of
from tests.portal_support import make_portal

PAIR = "泰顺-鹿城"


def ledger(path: Path, rows: int, *, tag: str, last_day: int = 300) -> Path:
    """``rows`` records of joint meetings of PAIR in 2026 (their notes tell them apart), on ``last_day``
    distinct dates: a joint meeting counts once per date, whoever reports it."""
    from datetime import date, timedelta

    lines = ["obligation,scope,date,note"]
    for i in range(rows):
        day = date(2026, 1, 1) + timedelta(days=i % last_day)
        lines.append(f"joint-meeting,{PAIR},{day.isoformat()},{tag}-{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def imported(database_url: str) -> tuple[int, int]:
    """(records of any import batch, incomplete batches), read beside the importer."""
    from shanhai.db import get_engine

    with get_engine(database_url).connect() as conn:
        written = conn.execute(
            select(func.count()).select_from(CompletionRecord).where(CompletionRecord.import_batch_id.is_not(None))
        ).scalar_one()
        pending = conn.execute(
            select(func.count()).select_from(ImportBatch).where(ImportBatch.completed_at.is_(None))
        ).scalar_one()
    return written, pending


class WriteLock:
    """Holds the database's write lock for records from outside the importer (its next chunk waits)."""

    def __init__(self, database_url: str):
        self.url = database_url

    def __enter__(self):
        if self.url.startswith("sqlite"):
            self.conn = sqlite3.connect(self.url.split("///", 1)[1], timeout=60, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self.conn.execute("LOCK TABLE completionrecord IN SHARE MODE")  # INSERTs wait
        return self

    def pending_batches(self) -> int:
        return self.conn.execute("SELECT count(*) FROM importbatch WHERE completed_at IS NULL").fetchone()[0]

    def __exit__(self, *exc):
        self.conn.rollback() if not self.url.startswith("sqlite") else self.conn.execute("ROLLBACK")
        self.conn.close()


def test_an_import_killed_midway_leaves_nothing_counted_and_the_next_import_works(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    home = tmp_path / "home"
    as_of = at(2026, 11, 2)
    app = make_app(home, database_url, catalogue, sync_at=as_of)
    path = ledger(tmp_path / "ledger.csv", 20_000, tag="ledger")
    env = {**os.environ, "SHANHAI_HOME": str(home), "SHANHAI_DATABASE_URL": database_url,
           "SHANHAI_CATALOGUE_DIR": str(catalogue), "SHANHAI_SECRET_KEY": "test-secret",
           "SHANHAI_IMPORT_CHUNK_ROWS": "10"}  # 2,000 short transactions: killed long before the end
    shanhai = Path(sys.executable).parent / "shanhai"
    proc = subprocess.Popen([str(shanhai), "import", str(path), "--as-of", "2026-11-02"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # the handshake: the importer has committed at least three chunks (watched in the database)
        deadline = time.monotonic() + 120
        while imported(database_url)[0] < 30:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the importer wrote no chunk in 2 minutes"
            time.sleep(0.01)
        with WriteLock(database_url) as lock:  # its next chunk waits here, so it is killed midway
            assert lock.pending_batches() == 1
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    written, pending = imported(database_url)
    assert written >= 30 and pending == 1, "the killed import left its half-written batch"

    # nothing of it counts or is listed
    assert status_of(app, "joint-meeting", PAIR, "2026", as_of=as_of).progress["done"] == 0
    listed = run_cli(["records", "--json"], home=home, database_url=database_url, catalogue_dir=catalogue)
    assert listed.exit_code == 0 and "ledger-" not in listed.stdout

    again = run_cli(["import", path, "--as-of", "2026-11-02"], home=home, database_url=database_url,
                    catalogue_dir=catalogue)
    assert again.exit_code == 0, again.output
    assert "已导入 20000 条记录" in again.stdout
    assert imported(database_url) == (20_000, 0)  # the abandoned batch and its rows are gone
    assert count_rows(database_url, ImportBatch) == 1
    assert status_of(app, "joint-meeting", PAIR, "2026", as_of=as_of).progress["done"] == 300  # its dates


def test_link_pages_answer_and_forms_submit_while_an_import_is_half_written(tmp_path, database_url, monkeypatch):
    """The import is held between two of its chunks (a handshake, no sleep): the portal, on the same
    database, shows the link page without the half-written rows and stores a record through its form."""
    from shanhai.cli.importer import import_file
    from shanhai.models import import_batches

    portal = make_portal(tmp_path, database_url, import_chunk_rows=50)
    path = ledger(tmp_path / "ledger.csv", 2_000, tag="halfway", last_day=250)
    chunks, paused, resume = [0], threading.Event(), threading.Event()
    real_write = import_batches.write_records

    def pause_then_write(**kwargs):
        chunks[0] += 1
        if chunks[0] == 4:  # three chunks committed; this one's transaction has not begun (no lock held)
            paused.set()
            assert resume.wait(timeout=120)
        real_write(**kwargs)

    monkeypatch.setattr(import_batches, "write_records", pause_then_write)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(import_file(portal.app, path, as_of=portal.clock.now)))
    worker.start()
    try:
        assert paused.wait(timeout=120), "the import never reached its fourth chunk"
        assert imported(database_url) == (150, 1)
        link = portal.link("joint-meeting")
        started = time.monotonic()
        page = portal.client.get(link)
        assert page.status_code == 200
        assert "halfway-" not in page.text
        sent = portal.submit_record(link, note="门户在导入期间提交")
    finally:
        resume.set()
        worker.join(timeout=300)
    assert sent.status_code == 303, sent.text
    assert time.monotonic() - started < 20
    assert done and done[0].rows == 2_000
    page = portal.client.get(link)
    assert "门户在导入期间提交" in page.text and "halfway-" in page.text


def test_a_locked_database_answers_503_with_retry_after_and_a_chinese_line(tmp_path, monkeypatch):
    """Another process holds SQLite's write lock past the busy timeout: a form POST is a 503 naming
    the cause in Chinese, with Retry-After; the link page (a read) still answers 200."""
    from shanhai import db

    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.3)
    url = f"sqlite:///{tmp_path / 'busy' / 'shanhai.db'}"
    portal = make_portal(tmp_path, url)
    try:
        link = portal.link()
        form = portal.report_form(link)
        with WriteLock(url):
            assert portal.client.get(link).status_code == 200
            answer = portal.client.post(f"{link}/record", data={**form, "date": "2026-10-19"},
                                        follow_redirects=False)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"].isdigit()
        assert "系统繁忙" in answer.text and "未保存任何内容" in answer.text
        assert count_rows(url, CompletionRecord) == 0
        # the lock gone, the same form goes through
        done = portal.client.post(f"{link}/record", data={**form, "date": "2026-10-19"}, follow_redirects=False)
        assert done.status_code == 303, done.text
    finally:
        db.get_engine(url).dispose()


def test_busy_means_a_lock_not_granted_in_time_on_either_database(database_url):
    """SQLite's "database is locked" and PostgreSQL's lock_timeout (55P03), each from a real lock, read
    as busy (503 / one line); a missing table does not."""
    from sqlalchemy.exc import OperationalError

    from shanhai.db import get_engine, is_busy

    engine = get_engine(database_url)
    if database_url.startswith("sqlite"):
        with WriteLock(database_url):
            waiter = sqlite3.connect(database_url.split("///", 1)[1], timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError) as raw:
                waiter.execute("BEGIN IMMEDIATE")
            waiter.close()
        assert is_busy(OperationalError("BEGIN IMMEDIATE", {}, raw.value))
    else:
        with engine.connect() as holder, engine.connect() as waiter:
            holder.execute(text("LOCK TABLE importbatch IN ACCESS EXCLUSIVE MODE"))
            waiter.execute(text("SET lock_timeout = '100ms'"))
            with pytest.raises(OperationalError) as caught:
                waiter.execute(text("SELECT count(*) FROM importbatch"))
            assert is_busy(caught.value)
    with engine.connect() as conn, pytest.raises(Exception) as other:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert not is_busy(other.value)


# --------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root only; unmounted after the test)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, name: str, *, leave: int = 0) -> Path:
    """Fill the disk with one file, then give back ``leave`` bytes."""
    filler = disk / name
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    try:
        with filler.open("r+b") as out:
            out.truncate(max(0, filler.stat().st_size - leave))
    except OSError:
        pass
    return filler


def test_on_a_full_disk_import_says_so_and_stores_nothing_and_the_next_import_works(tmp_path, small_disk):
    from shanhai import db

    home = small_disk / "home"
    url = f"sqlite:///{home / 'shanhai.db'}"
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting()])

    def sh(*args):
        return run_cli(list(args), home=home, database_url=url, catalogue_dir=catalogue,
                       env={"SHANHAI_IMPORT_CHUNK_ROWS": "500"})

    try:
        assert sh("init", "--as-of", "2026-11-02").exit_code == 0
        path = ledger(tmp_path / "ledger.csv", 5_000, tag="full")  # about 1 MB in the database
        filler = fill(small_disk, "filler", leave=256 * 1024)
        result = sh("import", path, "--as-of", "2026-11-02")
        assert result.exit_code == 1, result.output
        assert "磁盘空间不足" in result.stderr, result.stderr
        assert "savepoint" not in result.output and "Traceback" not in result.output
        filler.unlink()
        # what the failed import had written stays invisible (its clean-up needed the disk too)
        app = make_app(home, url, catalogue, now=at(2026, 11, 2))
        assert status_of(app, "joint-meeting", PAIR, "2026", as_of=at(2026, 11, 2)).progress["done"] == 0
        listed = sh("records", "--json")
        assert listed.exit_code == 0 and "full-" not in listed.stdout
        again = sh("import", path, "--as-of", "2026-11-02")
        assert again.exit_code == 0, again.output
        assert "已导入 5000 条记录" in again.stdout
        assert imported(url) == (5_000, 0) and count_rows(url, ImportBatch) == 1
    finally:
        db.get_engine(url).dispose()


def test_evidence_on_a_full_disk_leaves_no_temporary_file(tmp_path, small_disk, database_url):
    from shanhai.models.evidence import store_evidence

    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "calendar", [joint_meeting()]))
    app.migrate()
    evidence_dir = small_disk / "evidence"
    evidence_dir.mkdir()
    (evidence_dir / "ab").mkdir()
    source = tmp_path / "scan.pdf"
    source.write_bytes(b"%PDF-1.4\n" + os.urandom(512 * 1024))
    fill(small_disk, "filler")
    with pytest.raises(OSError) as full, app.session() as session:
        store_evidence(source, session=session, evidence_dir=evidence_dir, max_bytes=1 << 20)
    assert "No space left" in str(full.value)
    left = [p for p in evidence_dir.rglob("*") if p.is_file()]
    assert left == [], f"left behind: {left}"


def test_a_batch_left_by_another_host_is_removed_once_it_is_an_hour_old(tmp_path, database_url):
    """Another host's pid cannot be asked: its incomplete batch is taken for dead after an hour, and
    until then the same file is reported as being imported, not imported twice."""
    from datetime import timedelta

    from shanhai.cli.importer import import_file

    as_of = at(2026, 11, 2)
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "calendar", [joint_meeting()]),
                   sync_at=as_of)
    path = ledger(tmp_path / "ledger.csv", 50, tag="elsewhere")
    first = import_file(app, path, as_of=as_of)  # then made to look unfinished, on another host
    from sqlalchemy import update

    with app.session() as session:
        session.execute(update(ImportBatch).values(completed_at=None, owner="other-host:4242:abc",
                                                   imported_at=as_of - timedelta(minutes=5)))
    assert status_of(app, "joint-meeting", PAIR, "2026", as_of=as_of).progress["done"] == 0
    busy = import_file(app, path, as_of=as_of)
    assert busy.in_progress and busy.batch_id == first.batch_id and "正由另一进程导入" in busy.summary
    assert imported(database_url) == (50, 1)

    app.clock = lambda: as_of + timedelta(hours=2)
    again = import_file(app, path, as_of=as_of)
    assert not again.in_progress and again.already_at is None and again.rows == 50
    assert imported(database_url) == (50, 0) and count_rows(database_url, ImportBatch) == 1
    assert status_of(app, "joint-meeting", PAIR, "2026", as_of=as_of).progress["done"] == 50

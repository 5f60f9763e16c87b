"""Real processes at once on one database (SQLite and PostgreSQL): first runs on an empty database, the
09:05 fan-out right after a catalogue change, the same evidence recorded twice, the same waiver twice.

Each case starts N `shanhai` processes that import everything first and then wait at a barrier (a file
that appears), so their database work overlaps as it does when a scheduler starts them together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from shanhai.models.tables import (
    AuditEntry,
    CompletionRecord,
    EvidenceFile,
    Installation,
    Obligation,
    Occurrence,
    Waiver,
)
from tests.conftest import joint_meeting, make_catalogue, make_obligation, next_year_plan

AS_OF = "2026-06-01"

# Imports the whole command first, then waits for the go-file, then runs `shanhai ARGS`.
RUNNER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from shanhai.cli.main import main
    import shanhai.db, shanhai.models.store, shanhai.models.records, shanhai.notifications.checking  # noqa
    go = Path(sys.argv[1])
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    sys.argv = ["shanhai", *sys.argv[2:]]
    main()
    """
)


@dataclass(frozen=True)
class Done:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_together(commands: list[list[str]], *, home: Path, url: str, catalogue: Path, tmp_path: Path) -> list[Done]:
    """Start every command as its own process, release them together, wait for all."""
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "SHANHAI_HOME": str(home),
        "SHANHAI_DATABASE_URL": url,
        "SHANHAI_CATALOGUE_DIR": str(catalogue),
        "SHANHAI_SECRET_KEY": "test-secret",
    }
    env.pop("SHANHAI_APPRISE_CONFIG", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(go), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    time.sleep(3)  # every process has imported what it needs and waits
    go.touch()
    done = []
    for args, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=240)
        done.append(Done(args, p.returncode, out, err))
    for d in done:
        assert "Traceback" not in d.stderr, f"{d.args}:\n{d.stderr}"
    return done


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path) -> Iterator[str]:
    """A database nobody has initialised: a SQLite path with no file yet, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'shanhai.db'}"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"t_{uuid.uuid4().hex}"
    with cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield cluster.url(name)
    from shanhai import db

    db.get_engine(cluster.url(name)).dispose()
    db._migrated.discard(cluster.url(name))
    with cluster.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _count(url: str, model, *where) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    finally:
        engine.dispose()


def _audits(url: str) -> Counter:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(AuditEntry.action, AuditEntry.entity_id)).all()
    finally:
        engine.dispose()
    return Counter((a, e) for a, e in rows)


def _init(home: Path, url: str, catalogue: Path, tmp_path: Path) -> None:
    [done] = run_together([["init", "--as-of", AS_OF]], home=home, url=url, catalogue=catalogue, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr


def test_three_first_runs_at_once_on_an_empty_database_all_succeed(tmp_path, empty_url):
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])
    done = run_together(
        [["init", "--as-of", AS_OF]] * 3, home=tmp_path / "home", url=empty_url, catalogue=catalogue,
        tmp_path=tmp_path,
    )
    assert [d.returncode for d in done] == [0, 0, 0], [d.stderr for d in done]
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            keys = conn.execute(
                select(Occurrence.obligation_id, Occurrence.scope, Occurrence.period)
            ).all()
    finally:
        engine.dispose()
    assert "occurrence" in tables and len(versions) == 1, "one schema, at one revision"
    assert _count(empty_url, Installation) == 1
    assert keys and len(keys) == len(set(keys)), "every occurrence once"
    added = sum(1 for d in done if "事项 新增 2" in d.stdout)
    assert added == 1, "exactly one run reports loading the two obligations; the others find them there"
    audits = _audits(empty_url)
    assert audits[("obligation.added", "joint-meeting")] == 1
    assert audits[("obligation.added", "next-year-plan")] == 1


def test_status_and_remind_at_once_after_a_first_init_all_succeed(tmp_path, empty_url):
    """The first run is `init`; the scheduled runs start the moment it ends (and `remind` migrates too)."""
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])
    home = tmp_path / "home"
    _init(home, empty_url, catalogue, tmp_path)
    done = run_together(
        [["status", "--as-of", AS_OF], ["remind", "--as-of", AS_OF], ["remind", "--dry-run", "--as-of", AS_OF]],
        home=home, url=empty_url, catalogue=catalogue, tmp_path=tmp_path,
    )
    assert [d.returncode for d in done] == [0, 0, 0], [d.stderr for d in done]


def test_six_runs_right_after_a_catalogue_change_all_succeed_and_audit_each_change_once(tmp_path, empty_url):
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])
    home = tmp_path / "home"
    _init(home, empty_url, catalogue, tmp_path)
    occurrences_before = _count(empty_url, Occurrence)
    # the 09:05 fan-out: a new obligation and a changed one, and every check deployment starts at once
    make_catalogue(
        catalogue,
        [joint_meeting(), next_year_plan(due="10-15"), make_obligation("annual-review", "annual_deadline", due="11-30")],
    )
    commands = [
        ["status", "--as-of", AS_OF],
        ["status", "--json", "--as-of", AS_OF],
        ["remind", "--as-of", AS_OF],
        ["remind", "--obligation", "annual-review", "--as-of", AS_OF],
        ["remind", "--dry-run", "--as-of", AS_OF],
        ["board", "--as-of", AS_OF],
    ]
    done = run_together(commands, home=home, url=empty_url, catalogue=catalogue, tmp_path=tmp_path)
    assert [d.returncode for d in done] == [0] * 6, [d.stderr for d in done]
    audits = _audits(empty_url)
    assert audits[("obligation.added", "annual-review")] == 1, "added once, not once per racing process"
    assert audits[("obligation.changed", "next-year-plan")] == 1, "changed once"
    assert _count(empty_url, Obligation) == 3
    assert _count(empty_url, Occurrence) > occurrences_before
    assert audits[("occurrences.synced", "*")] == 2, "the first init's sync and one sync of the change"


def test_the_same_new_evidence_recorded_by_four_processes_is_stored_once(tmp_path, empty_url):
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])
    home = tmp_path / "home"
    _init(home, empty_url, catalogue, tmp_path)
    evidence = tmp_path / "same.pdf"
    evidence.write_bytes(b"%PDF-1.4 minutes of the joint meeting\n" * 100)
    record = ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-20", "--evidence",
              str(evidence), "--as-of", AS_OF, "--json"]
    # four meetings that day (their notes tell them apart: identical records would be one record)
    done = run_together([[*record, "--note", f"第{i}场"] for i in range(4)], home=home, url=empty_url,
                        catalogue=catalogue, tmp_path=tmp_path)
    assert [d.returncode for d in done] == [0] * 4, [d.stderr for d in done]
    ids = {json.loads(d.stdout)["id"] for d in done}
    assert len(ids) == 4 and _count(empty_url, CompletionRecord) == 4
    assert _count(empty_url, EvidenceFile) == 1
    stored = [p for p in (home / "evidence").rglob("*") if p.is_file()]
    assert len(stored) == 1, stored


def test_the_same_occurrence_waived_by_four_processes_is_waived_once_and_the_rest_are_told(tmp_path, empty_url):
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])
    home = tmp_path / "home"
    _init(home, empty_url, catalogue, tmp_path)
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            occ = conn.execute(
                select(Occurrence.id).where(Occurrence.obligation_id == "next-year-plan",
                                            Occurrence.scope == "泰顺-鹿城", Occurrence.period == "2026")
            ).scalar_one()
    finally:
        engine.dispose()
    done = run_together(
        [["waive", str(occ), "--reason", f"理由{i}"] for i in range(4)],
        home=home, url=empty_url, catalogue=catalogue, tmp_path=tmp_path,
    )
    codes = sorted(d.returncode for d in done)
    assert codes == [0, 1, 1, 1], [d.stderr for d in done]
    for d in done:
        if d.returncode:
            assert f"期次 {occ} 已于" in d.stderr and "豁免：理由" in d.stderr, d.stderr
            assert len(d.stderr.strip().splitlines()) == 1, d.stderr
    assert _count(empty_url, Waiver) == 1
    assert _count(empty_url, AuditEntry, AuditEntry.action == "occurrence.waived") == 1

"""Files under SHANHAI_HOME that hold signed links or personal data are created private: folders 0700,
files 0600 (the SQLite database and its -wal/-shm, evidence, the generated secret key, `shanhai up` logs)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from tests.conftest import run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_home_keeps_its_database_and_evidence_private_and_writes_no_key_file(tmp_path):
    from sqlalchemy import text

    from shanhai.db import get_engine

    home = tmp_path / "home"
    old = os.umask(0o022)  # the usual umask: files would be world-readable by default
    try:
        result = run_cli(["init", "--as-of", "2026-03-01"], home=home)
        assert result.exit_code == 0, result.output
        database = home / "unused.db"  # run_cli's default SQLite under home
        with get_engine(f"sqlite:///{database}").connect() as conn:
            conn.execute(text("SELECT 1"))
            files = [database, *(Path(f"{database}{s}") for s in ("-wal", "-shm"))]
            assert all(f.exists() for f in files)
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(home) == 0o700

        evidence = tmp_path / "会议纪要.pdf"
        evidence.write_bytes(b"%PDF-1.4 minutes")
        recorded = run_cli(["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-03-01",
                            "--as-of", "2026-03-01", "--evidence", str(evidence)], home=home)
        assert recorded.exit_code == 0, recorded.output
        stored = [p for p in (home / "evidence").rglob("*")]
        assert stored and {p.name: mode(p) for p in stored} == {
            p.name: (0o700 if p.is_dir() else 0o600) for p in stored
        }
        assert mode(home / "evidence") == 0o700

        # the generated key lives in the (private) database, shared by every worker: no key file
        assert not (home / "secret_key").exists()
    finally:
        os.umask(old)


def test_the_logs_of_shanhai_up_are_private(tmp_path):
    from shanhai.cli.processes import Stack

    stack = Stack()
    log = tmp_path / "home" / "logs" / "worker.log"
    try:
        stack.start("probe", [sys.executable, "-c", "print('link')"], env=dict(os.environ), log_path=log,
                    cwd=tmp_path)
    finally:
        stack.stop(timeout=5)
    assert mode(log.parent) == 0o700 and mode(log) == 0o600

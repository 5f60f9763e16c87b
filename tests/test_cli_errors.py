"""What a user sees when something is wrong: one line naming it, a non-zero exit, nothing stored.

Bad settings, a bad --as-of on every command that takes one, ids no database holds, a SQLite database
another process keeps locked, a catalogue with a duplicate key (which must never reach `init`, so history
is never deleted because a file was malformed), YAML alias bombs (refused fast, in little memory), and
the last-resort line of a bug, whose traceback goes to a private log."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from shanhai.cli.errors import BUSY, LOG_NAME
from shanhai.db import get_engine
from shanhai.models.tables import AuditEntry, CompletionRecord, Occurrence, Waiver
from tests.conftest import (
    PAIRINGS,
    PARKS,
    count_rows,
    joint_meeting,
    line_of,
    make_app,
    make_catalogue,
    next_year_plan,
    run_cli,
)

AS_OF = "2026-06-01"


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SHANHAI_SEND_HOUR", "25", "应不大于 23"),
        ("SHANHAI_SEND_HOUR", "abc", "不是整数"),
        ("SHANHAI_MAX_EVIDENCE_BYTES", "-1", "应不小于 1"),
        ("SHANHAI_SEND_TIMEOUT_SECONDS", "0", "应大于 0"),
        ("SHANHAI_SEND_TIMEOUT_SECONDS", "301", "应不大于 300"),
        ("SHANHAI_SEND_TIMEOUT_SECONDS", "ten", "不是数字"),
        ("SHANHAI_DATABASE_URL", "notaurl", "不是数据库地址"),
        ("SHANHAI_DATABASE_URL", "mysql://db/shanhai", "不支持的数据库驱动"),
        ("SHANHAI_DATABASE_URL", "postgresql+asyncpg://db/shanhai", "不支持的数据库驱动"),
        ("SHANHAI_DATABASE_URL", "postgresql://db", "缺少数据库名"),
        ("SHANHAI_SECRET_KEY", "", "为空"),
        ("SHANHAI_SECRET_KEY", " , ,", "只有逗号"),
        ("SHANHAI_HOME", "", "为空"),
        ("SHANHAI_PORTAL_URL", "ftp://example.org", "http://"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_creates_nothing(tmp_path, variable, value, says):
    home = tmp_path / "home"
    env = {"SHANHAI_DATABASE_URL": f"sqlite:///{home / 'shanhai.db'}", variable: value}
    for args in (["init", "--as-of", AS_OF], ["status"], ["obligations"], ["holidays", "2026"]):
        result = run_cli(args, home=home, env=env)
        assert result.exit_code == 1, (args, result.output)
        line = _one_line(result.stderr)
        assert line.startswith("错误 error: 环境变量有误") and variable in line and says in line, line
    assert not home.exists(), "nothing created"


def test_a_bad_database_url_never_shows_its_password(tmp_path):
    result = run_cli(["status"], home=tmp_path, env={"SHANHAI_DATABASE_URL": "postgresql://shanhai:s3cr3t@db:port/x"})
    assert result.exit_code == 1 and "s3cr3t" not in result.output and "***" in result.stderr


def test_an_empty_secret_key_is_named_and_never_echoed(tmp_path):
    result = run_cli(["status"], home=tmp_path, env={"SHANHAI_SECRET_KEY": ",  ,"})
    assert result.exit_code == 1 and "SHANHAI_SECRET_KEY：为空" in result.stderr


def test_a_missing_catalogue_folder_is_named_by_its_variable(tmp_path):
    result = run_cli(["obligations"], home=tmp_path, catalogue_dir=tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "SHANHAI_CATALOGUE_DIR" in result.stderr and str(tmp_path / "nowhere") in result.stderr


# --------------------------------------------------------------------------- options


AS_OF_COMMANDS = [
    ["init"], ["status"], ["board"], ["export", "{tmp}/out.xlsx"], ["ics", "泰顺县", "-o", "{tmp}/out.ics"], ["demo"],
    ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-01"], ["import", "{tmp}/records.csv"],
    ["remind"], ["remind", "--dry-run"], ["digest", "coordinator"],
]


@pytest.mark.parametrize("value", ["P1D", "9999-12-31", "2026-02-30", "2026-06-01T25:00"])
@pytest.mark.parametrize("args", AS_OF_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_refuses_a_bad_as_of_in_one_line_before_anything(tmp_path, args, value):
    home = tmp_path / "home"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    (tmp_path / "records.csv").write_text("obligation,scope,date\njoint-meeting,泰顺-鹿城,2026-05-01\n", encoding="utf-8")
    result = run_cli([*args, "--as-of", value], home=home, database_url=f"sqlite:///{home / 'shanhai.db'}")
    assert result.exit_code == 1, result.output
    assert _one_line(result.stderr).startswith("错误 error: --as-of："), result.stderr
    assert not home.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["records.csv"]


@pytest.fixture
def initialised(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])
    home = tmp_path / "home"

    def sh(*args, **kw):
        return run_cli(list(args), home=home, database_url=database_url, catalogue_dir=catalogue, **kw)

    assert sh("init", "--as-of", AS_OF).exit_code == 0
    assert sh("record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-01", "--as-of", AS_OF).exit_code == 0
    sh.catalogue, sh.url, sh.home = catalogue, database_url, home  # type: ignore[attr-defined]
    return sh


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["verify", HUGE], f"没有编号为 {HUGE} 的记录"),
        (["reject", HUGE, "--note", "不符"], f"没有编号为 {HUGE} 的记录"),
        (["waive", HUGE, "--reason", "理由"], f"没有编号为 {HUGE} 的期次"),
        (["outbox", "--show", HUGE], f"没有编号为 {HUGE} 的消息"),
        (["outbox", "--limit", HUGE], "--limit：应为 1 到 10000"),
        (["outbox", "--limit", "0"], "--limit：应为 1 到 10000"),
        (["status", "--year", HUGE], "--year："),
        (["holidays", "888"], "超出范围"),
    ],
)
def test_an_id_or_number_no_database_holds_is_one_line(initialised, args, says):
    before = count_rows(initialised.url, AuditEntry)
    result = initialised(*args)
    assert result.exit_code == 1 and says in _one_line(result.stderr), result.output
    assert count_rows(initialised.url, AuditEntry) == before


@pytest.mark.parametrize("arg", ["泰顺\x00鹿城", "\udcff\udcfe"], ids=["nul", "not-utf8"])
def test_an_argument_no_shell_can_pass_is_a_usage_error(initialised, arg):
    result = initialised("record", "joint-meeting", "--scope", arg, "--date", "2026-05-02", "--as-of", AS_OF)
    assert result.exit_code == 2 and "参数" in _one_line(result.stderr)
    assert count_rows(initialised.url, CompletionRecord) == 1


# --------------------------------------------------------------------------- a busy SQLite database


def test_a_sqlite_database_locked_by_another_process_says_busy_in_one_line(tmp_path, monkeypatch):
    """Another process holds the write lock longer than the busy timeout: writers say so and store
    nothing; readers go on (WAL)."""
    from shanhai import db

    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.3)
    path = tmp_path / "busy" / "shanhai.db"
    url = f"sqlite:///{path}"
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting(), next_year_plan()])

    def sh(*args):
        return run_cli(list(args), home=tmp_path / "home", database_url=url, catalogue_dir=catalogue)

    try:
        assert sh("init", "--as-of", AS_OF).exit_code == 0
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            for args in (
                ["waive", "1", "--reason", "理由"],
                ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-01", "--as-of", AS_OF],
                ["verify", "1"],
            ):
                started = time.monotonic()
                result = sh(*args)
                assert result.exit_code == 1, result.output
                assert _one_line(result.stderr) == f"错误 error: {BUSY}"
                assert time.monotonic() - started < 10
            assert sh("records", "--json").exit_code == 0, "a reader is not blocked by a writer"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert count_rows(url, Waiver) == 0 and count_rows(url, CompletionRecord) == 0
    finally:
        db.get_engine(url).dispose()


# --------------------------------------------------------------------------- the last resort


def test_a_bug_is_one_line_naming_a_private_log_that_holds_its_traceback(tmp_path, monkeypatch):
    import shanhai.models.queries as queries

    def broken(_catalogue):
        raise RuntimeError("a bug\nwith two lines")

    monkeypatch.setattr(queries, "obligation_items", broken)
    home = tmp_path / "home"
    result = run_cli(["obligations"], home=home)
    log = home.resolve() / "logs" / LOG_NAME
    assert result.exit_code == 2
    assert _one_line(result.stderr) == f"内部错误：RuntimeError: a bug with two lines（详见 {log}）"
    assert "Traceback" not in result.output
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "obligation_items" not in result.output
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700


# --------------------------------------------------------------------------- malformed catalogue files


DUPLICATE_PAIRINGS = """\
pairings:
  - {{name: 泰顺-鹿城, county: 泰顺县, partner: 鹿城区, valid_from: 2018}}
parks: {parks}
pairings:
  - {{name: 永嘉-瓯海, county: 永嘉县, partner: 瓯海区, valid_from: 2018}}
"""


def test_a_duplicate_key_stops_init_and_every_command_with_its_line_and_history_stays(initialised):
    """YAML would keep the last `pairings:` (dropping 泰顺-鹿城 and so its unstarted occurrences); the
    loader refuses the file, so `init` never gets to remove anything."""
    import json

    url = initialised.url
    before = {m.__name__: count_rows(url, m) for m in (Occurrence, CompletionRecord, Waiver, AuditEntry)}
    text = DUPLICATE_PAIRINGS.format(parks=json.dumps(PARKS, ensure_ascii=False))
    path = initialised.catalogue / "pairings.yaml"
    path.write_text(text, encoding="utf-8")
    where = f"{path}:{line_of(text, '永嘉-瓯海') - 1}"  # the second `pairings:`, line 4
    for args in (
        ["init", "--as-of", AS_OF],
        ["catalogue", "validate"],
        ["catalogue", "validate", str(initialised.catalogue)],
        ["status", "--as-of", AS_OF],
        ["remind", "--as-of", AS_OF],
        ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-02", "--as-of", AS_OF],
        ["obligations"],
        ["export", str(initialised.home / "x.xlsx"), "--as-of", AS_OF],
        ["records"],
        ["waive", "1", "--reason", "理由"],
    ):
        result = initialised(*args)
        assert result.exit_code == 1, (args, result.output)
        assert where in result.stderr and "pairings" in result.stderr and "written twice" in result.stderr, (
            args,
            result.stderr,
        )
        assert "Traceback" not in result.output
    after = {m.__name__: count_rows(url, m) for m in (Occurrence, CompletionRecord, Waiver, AuditEntry)}
    assert after == before, "nothing deleted, nothing added"
    # the file mended: init runs, and the occurrences of 泰顺-鹿城 were never touched
    from tests.conftest import write_yaml

    write_yaml(path, {"pairings": PAIRINGS, "parks": PARKS})
    assert initialised("init", "--as-of", AS_OF).exit_code == 0
    with get_engine(url).connect() as conn:
        scopes = set(conn.execute(select(Occurrence.scope)).scalars())
    assert {"泰顺-鹿城", "永嘉-瓯海"} <= scopes


BOMB = "bomb:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  {b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)  # 9**9 = 387 million values once expanded


# Runs `shanhai ARGS` and writes the process's peak resident memory (KiB) to the file named first.
PEAK = (
    "import atexit, resource, sys\n"
    "out = sys.argv[1]\n"
    "atexit.register(lambda: open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
    "sys.argv = ['shanhai', *sys.argv[2:]]\n"
    "from shanhai.cli.main import main\n"
    "main()\n"
)


def _measure(args: list[str], env: dict[str, str], peak_file: Path) -> tuple[int, str, float, int]:
    """Run `shanhai ARGS` as its own process: exit code, stderr, seconds, peak memory in MiB."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, str(peak_file), *args], env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - started
    return proc.returncode, proc.stderr, elapsed, int(peak_file.read_text()) // 1024


@pytest.mark.parametrize(
    ("where", "args"),
    [
        ("policy.yaml", ["catalogue", "validate"]),
        ("policy.yaml", ["init", "--as-of", AS_OF]),
        ("policy.yaml", ["obligations"]),
        ("holidays.yaml", ["holidays", "2026"]),
        ("channels.yaml", ["channels"]),
    ],
)
def test_a_yaml_alias_bomb_is_refused_in_well_under_a_second_and_little_memory(tmp_path, where, args):
    catalogue = make_catalogue(tmp_path / "cat", [joint_meeting()])
    target = tmp_path / "cat" / where
    if where == "channels.yaml":
        target = tmp_path / where
        target.write_text("version: 1\n" + BOMB, encoding="utf-8")
    elif where == "holidays.yaml":
        target.write_text("holidays: {}\n" + BOMB, encoding="utf-8")
    else:
        target.write_text(target.read_text(encoding="utf-8") + BOMB, encoding="utf-8")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "SHANHAI_HOME": str(home),
        "SHANHAI_CATALOGUE_DIR": str(catalogue),
        "SHANHAI_DATABASE_URL": f"sqlite:///{home / 'shanhai.db'}",
        "SHANHAI_APPRISE_CONFIG": str(tmp_path / "channels.yaml"),
        "SHANHAI_SECRET_KEY": "test-secret",
    }
    code, err, seconds, peak_mib = _measure(args, env, tmp_path / "peak")
    print(f"{where} {' '.join(args)}: refused in {seconds:.2f} s, peak {peak_mib} MiB")
    assert code == 1 and str(target) in err and "aliases" in err, err
    assert "Traceback" not in err
    assert seconds < 5, f"refused fast, not after expanding it ({seconds:.1f} s)"
    assert peak_mib < 400, f"{peak_mib} MiB"
    assert not (home / "shanhai.db").exists() or where == "channels.yaml"


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`shanhai obligations --json | head -1`: the closed pipe is not an error worth a message."""
    env = {**os.environ, "SHANHAI_HOME": str(tmp_path), "SHANHAI_SECRET_KEY": "test-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shanhai.cli.main", "obligations", "--json"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode in (0, 1) and err.strip() == "", err


def test_a_database_server_that_does_not_answer_is_one_line_with_its_password_masked(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://shanhai:s3cr3t@127.0.0.1:{port}/shanhai"
    for args in (["init", "--as-of", AS_OF], ["status"]):
        result = run_cli(args, home=tmp_path / "home", database_url=url)
        assert result.exit_code == 1, result.output
        line = _one_line(result.stderr)
        assert f"127.0.0.1:{port}" in line and "s3cr3t" not in line and "***" in line, line


def test_a_file_that_is_not_a_database_is_one_chinese_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "shanhai.db").write_bytes(b"this is a spreadsheet, not SQLite" * 100)
    result = run_cli(["status"], home=home, database_url=f"sqlite:///{home / 'shanhai.db'}")
    assert result.exit_code == 1, result.output
    line = _one_line(result.stderr)
    assert "数据库无法使用" in line and "shanhai.db" in line and "内部错误" not in line, line


def test_a_missing_installation_row_is_one_chinese_line(tmp_path, database_url):
    from sqlalchemy import text

    from shanhai.app import NotInitialised
    from shanhai.cli.errors import describe
    from shanhai.settings import Settings

    app = make_app(tmp_path, database_url)
    app.settings = Settings(home=tmp_path, database_url=database_url)  # the key lives in the database
    app.migrate()
    with app.session() as session:
        session.execute(text("DELETE FROM installation"))
    with pytest.raises(NotInitialised) as caught:
        app.signing_keys()
    assert "shanhai init" in describe(caught.value) and "installation" in describe(caught.value)


@pytest.mark.parametrize("value", ["2026W22", "20260601", "2026-152", "12:00", "2026-06", "2026-06-01T09", "明天"])
def test_as_of_takes_only_a_date_or_an_iso_datetime(value):
    from shanhai.app import parse_as_of

    with pytest.raises(ValueError, match="应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM"):
        parse_as_of(value)


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        ("2026-06-01", "2026-06-01T12:00:00+08:00"),
        (" 2026-06-01T09:30 ", "2026-06-01T09:30:00+08:00"),
        ("2026-06-01 09:30:15", "2026-06-01T09:30:15+08:00"),
        ("2026-06-01T01:30:00.250000+00:00", "2026-06-01T01:30:00.250000+00:00"),
        ("2026-06-01T01:30Z", "2026-06-01T01:30:00+00:00"),
    ],
)
def test_as_of_reads_a_date_as_noon_and_a_datetime_without_offset_as_shanghai_time(value, meant):
    from datetime import datetime

    from shanhai.app import parse_as_of

    assert parse_as_of(value) == datetime.fromisoformat(meant)
    assert parse_as_of(value).isoformat() == datetime.fromisoformat(meant).isoformat()


def test_a_database_server_that_accepts_but_never_answers_fails_fast_in_one_line(tmp_path, monkeypatch):
    import socket

    import shanhai.db

    monkeypatch.setattr(shanhai.db, "PG_CONNECT_SECONDS", 2)  # libpq's smallest
    with socket.socket() as silent:  # listens, accepts into the backlog, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://shanhai:s3cr3t@127.0.0.1:{silent.getsockname()[1]}/shanhai"
        started = time.monotonic()
        result = run_cli(["status"], home=tmp_path / "home", database_url=url)
        took = time.monotonic() - started
    assert result.exit_code == 1, result.output
    line = _one_line(result.stderr)
    assert "无法连接数据库" in line and "限定时间" in line and "s3cr3t" not in line, line
    assert took < 20, took



@pytest.mark.parametrize(
    "reason",
    ['value too long for type character varying(64)', "current transaction is aborted",
     'column "nope" does not exist'],
)
def test_a_database_bug_is_an_internal_error_not_a_wrong_database(reason):
    from sqlalchemy.exc import DataError, InternalError, ProgrammingError

    from shanhai.cli.errors import describe

    for kind in (DataError, InternalError, ProgrammingError):
        assert describe(kind("SELECT 1", {}, Exception(reason))) is None  # -> the internal-error line and its log


def test_a_file_that_is_not_a_database_or_a_missing_table_is_named_as_such():
    from sqlalchemy.exc import DatabaseError, ProgrammingError

    from shanhai.cli.errors import describe

    assert "数据库无法使用" in describe(DatabaseError("SELECT 1", {}, Exception("file is not a database")))
    missing = ProgrammingError("SELECT 1", {}, Exception('relation "occurrence" does not exist'))
    assert "请运行 shanhai init" in describe(missing)

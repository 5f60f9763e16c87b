"""A command other than init, up and demo on a home without a database says where it looked and creates
nothing (SPEC §7): no file, no folder, no table. Run from another folder, `shanhai status` used to make
an empty database where everything was red. Commands that read only files keep working anywhere."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.conftest import REPO_ROOT, run_cli

PAIR = "泰顺-鹿城"
NOTICE = REPO_ROOT / "tests" / "notices" / "2026.txt"
# a fresh machine: no secret, no database URL, no channel file (each of these could make a file)
FRESH = {"SHANHAI_SECRET_KEY": None, "SHANHAI_DATABASE_URL": None, "SHANHAI_APPRISE_CONFIG": None}

NEEDS_DATABASE = [
    ["status"], ["status", "--json"], ["board"], ["export", "{out}/status.xlsx"], ["ics", "泰顺县"],
    ["ics", "泰顺县", "-o", "{out}/taishun.ics"],
    ["record", "joint-meeting", "--scope", PAIR, "--date", "2026-03-01"], ["import", "{out}/records.csv"],
    ["verify", "1"], ["reject", "1", "--note", "理由"], ["waive", "1", "--reason", "理由"],
    ["remind"], ["remind", "--dry-run"], ["deliver"], ["digest", "coordinator"], ["digest", "supervisor", "--dry-run"],
    ["outbox"], ["outbox", "--show", "1"], ["records"], ["records", "--pending", "--json"],
    ["assessment", "--year", "2025", "--as-of", "2026-04-10", "--json"],
    ["assessment", "--year", "2025", "--as-of", "2026-04-10", "--format", "pdf", "-o", "{out}/assessment.pdf"],
]
FILES_ONLY = [
    ["catalogue", "validate"], ["obligations"], ["obligations", "--json"], ["plans"], ["holidays", "2026"],
    ["holidays", "2027", "--json"], ["holidays", "parse", str(NOTICE)], ["channels"], ["channels", "--json"],
    ["channels", "test"],
]


def _ids(args: list[str]) -> str:
    return "-".join(a for a in args[:3] if "{" not in a and "/" not in a)


@pytest.fixture
def elsewhere(tmp_path):
    """A folder outside the home with what the commands read (CSV, output folder)."""
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "records.csv").write_text(f"obligation,scope,date\njoint-meeting,{PAIR},2026-03-01\n", encoding="utf-8")
    return out


def _args(args: list[str], out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in args]


def _refused(result, where: str, home: Path) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line == (
        f"错误 error: 未找到数据库：{where}（SHANHAI_HOME={home}）。"
        "请先运行 shanhai init，或设置 SHANHAI_HOME / SHANHAI_DATABASE_URL 指向已有的数据。"
    )


@pytest.mark.parametrize("home_state", ["absent", "empty"])
@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=_ids)
def test_a_command_on_a_home_without_a_sqlite_database_says_where_it_looked_and_creates_nothing(
    tmp_path, elsewhere, args, home_state
):
    home = tmp_path / "home"
    if home_state == "empty":
        home.mkdir()
    before = sorted(elsewhere.iterdir())
    result = run_cli(_args(args, elsewhere), home=home, env=FRESH)
    _refused(result, str(home / "shanhai.db"), home)
    assert (not home.exists()) if home_state == "absent" else list(home.iterdir()) == []
    assert sorted(elsewhere.iterdir()) == before


def test_run_from_another_folder_a_relative_home_is_read_in_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = f"no-such-home-{uuid.uuid4().hex}"
    result = run_cli(["status"], home=tmp_path, env={**FRESH, "SHANHAI_HOME": relative})
    _refused(result, str(REPO_ROOT / relative / "shanhai.db"), REPO_ROOT / relative)
    assert list(tmp_path.iterdir()) == []
    assert not (REPO_ROOT / relative).exists()


@pytest.fixture
def empty_postgres(postgres_cluster):
    """A PostgreSQL database that exists but was never initialised (no tables)."""
    name = f"t_{uuid.uuid4().hex}"
    with postgres_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_cluster.url(name)
    yield url
    from shanhai import db

    db.get_engine(url).dispose()
    with postgres_cluster.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=_ids)
def test_a_command_on_an_uninitialised_postgres_database_says_so_and_creates_nothing(
    tmp_path, elsewhere, empty_postgres, args
):
    home = tmp_path / "home"
    result = run_cli(_args(args, elsewhere), home=home, database_url=empty_postgres,
                     env={"SHANHAI_SECRET_KEY": None})
    _refused(result, empty_postgres, home)
    assert not home.exists()
    assert _tables(empty_postgres) == []


def test_an_unreachable_database_server_is_one_line_without_the_password(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    url = f"postgresql+psycopg://shanhai:s3cret-pw@127.0.0.1:{port}/shanhai"
    home = tmp_path / "home"
    result = run_cli(["status"], home=home, database_url=url)
    assert result.exit_code == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"错误 error: 无法连接数据库：postgresql+psycopg://shanhai:***@127.0.0.1:{port}/shanhai")
    assert "s3cret-pw" not in result.output
    assert not home.exists()


@pytest.mark.parametrize("args", FILES_ONLY, ids=_ids)
def test_commands_that_read_only_files_work_without_a_database_and_create_nothing(tmp_path, args):
    home = tmp_path / "home"
    result = run_cli(args, home=home, env=FRESH)
    assert result.exit_code == 0, result.output
    assert not home.exists()


@pytest.mark.parametrize("args", [["init", "--as-of", "2026-03-02"], ["demo", "--as-of", "2026-03-02"]],
                         ids=["init", "demo"])
def test_init_and_demo_create_the_database_on_a_fresh_home(tmp_path, args):
    home = tmp_path / "home"
    assert run_cli(args, home=home, env=FRESH).exit_code == 0
    assert (home / "shanhai.db").is_file()
    status = run_cli(["status", "--as-of", "2026-03-02", "--json"], home=home, env=FRESH)
    assert status.exit_code == 0, status.output

"""Relative paths in the settings are read against the repository, never the current directory: Prefect's
process worker runs each flow in a new temporary folder, where `var` named a new, empty database every run.
A flow refuses a database that is not there instead of creating one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shanhai import REPO_ROOT
from shanhai.app import App, DatabaseMissing
from shanhai.settings import Settings
from tests.conftest import REAL_CATALOGUE, make_app, run_cli

SHANHAI_VARS = ("SHANHAI_HOME", "SHANHAI_DATABASE_URL", "SHANHAI_CATALOGUE_DIR", "SHANHAI_APPRISE_CONFIG")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The current directory is an unrelated empty folder (as in a flow run) and no SHANHAI_* path is set."""
    for name in SHANHAI_VARS:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _relative_to_repo(path: Path) -> str:
    return os.path.relpath(path, REPO_ROOT)


def test_relative_paths_are_relative_to_the_repository_not_the_current_directory(elsewhere, monkeypatch):
    monkeypatch.setenv("SHANHAI_HOME", "var")
    monkeypatch.setenv("SHANHAI_CATALOGUE_DIR", "calendar")
    monkeypatch.setenv("SHANHAI_APPRISE_CONFIG", "conf/channels.yaml")
    s = Settings()
    assert s.home_dir == (REPO_ROOT / "var").resolve()
    assert s.catalogue_dir == REPO_ROOT / "calendar"
    assert s.apprise_config == REPO_ROOT / "conf" / "channels.yaml"
    assert s.effective_database_url == f"sqlite:///{(REPO_ROOT / 'var').resolve() / 'shanhai.db'}"


def test_the_default_home_is_the_repositorys_var_folder(elsewhere):
    assert Settings().home_dir == (REPO_ROOT / "var").resolve()
    assert Settings().catalogue_dir == REPO_ROOT / "calendar"
    assert Settings().apprise_config is None


def test_absolute_paths_are_kept(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv("SHANHAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHANHAI_APPRISE_CONFIG", str(tmp_path / "channels.yaml"))
    s = Settings()
    assert s.home_dir == tmp_path / "home"
    assert s.apprise_config == tmp_path / "channels.yaml"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/x.db", f"sqlite:///{REPO_ROOT / 'var' / 'x.db'}"),
        ("sqlite+pysqlite:///data/x.db?timeout=5", f"sqlite+pysqlite:///{REPO_ROOT / 'data' / 'x.db'}?timeout=5"),
        ("sqlite:////srv/shanhai/x.db", "sqlite:////srv/shanhai/x.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://u:p@host/shanhai", "postgresql://u:p@host/shanhai"),
    ],
)
def test_a_relative_sqlite_file_is_relative_to_the_repository(elsewhere, monkeypatch, given, expected):
    monkeypatch.setenv("SHANHAI_DATABASE_URL", given)
    assert Settings().effective_database_url == expected


def test_a_relative_home_finds_the_same_database_from_any_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    make_app(home, f"sqlite:///{home / 'shanhai.db'}").migrate()
    for name in SHANHAI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHANHAI_HOME", _relative_to_repo(home))
    for cwd in (tmp_path, REPO_ROOT, Path("/")):
        monkeypatch.chdir(cwd)
        app = App()
        assert app.database_location == str(home / "shanhai.db")
        assert app.database_exists()
        app.require_database()


def test_require_database_refuses_a_missing_database_in_chinese_and_creates_nothing(tmp_path):
    home = tmp_path / "home"
    app = make_app(home, f"sqlite:///{home / 'shanhai.db'}")
    with pytest.raises(DatabaseMissing) as refused:
        app.require_database()
    assert str(refused.value) == (
        f"未找到数据库：{home / 'shanhai.db'}（SHANHAI_HOME={home}）。"
        "请先运行 shanhai init，或设置 SHANHAI_HOME / SHANHAI_DATABASE_URL 指向已有的数据。"
    )
    assert not home.exists()


@pytest.fixture
def no_database(tmp_path, monkeypatch):
    """The flows' settings (read from the environment) point at a home without a database."""
    home = tmp_path / "home"
    for name in SHANHAI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHANHAI_HOME", str(home))
    monkeypatch.setenv("SHANHAI_CATALOGUE_DIR", str(REAL_CATALOGUE))
    monkeypatch.setenv("SHANHAI_SECRET_KEY", "test-secret")
    monkeypatch.chdir(tmp_path)
    return home


@pytest.mark.parametrize("flow", ["check", "deliver", "weekly", "monthly"])
def test_a_flow_refuses_to_run_without_a_database_and_creates_none(no_database, tmp_path, flow):
    from shanhai.flows.check import check_obligation_flow
    from shanhai.flows.deliver import deliver_outbox_flow
    from shanhai.flows.digest import monthly_digest_flow, weekly_digest_flow

    body = {
        "check": lambda: check_obligation_flow.fn("joint-meeting", "2026-11-30"),
        "deliver": deliver_outbox_flow.fn,
        "weekly": lambda: weekly_digest_flow.fn("2026-11-30"),
        "monthly": lambda: monthly_digest_flow.fn("2026-12-01"),
    }[flow]
    with pytest.raises(DatabaseMissing, match="未找到数据库"):
        body()  # before any task: no Prefect server is involved
    assert not no_database.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_check_of_an_unknown_obligation_fails_before_its_task_and_its_retries(no_database):
    from shanhai.flows.check import check_obligation_flow

    database = f"sqlite:///{no_database / 'shanhai.db'}"  # where the flow will look
    assert run_cli(["init", "--as-of", "2026-11-30"], home=no_database, database_url=database).exit_code == 0
    with pytest.raises(ValueError, match="未知的事项编号“no-such-duty”"):
        check_obligation_flow.fn("no-such-duty", "2026-11-30")  # no task started: no engine, no retry wait

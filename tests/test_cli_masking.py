"""A database password never reaches the terminal: not in what `init` and `up` print, not in the line
that refuses a SHANHAI_DATABASE_URL that cannot be parsed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import REAL_CATALOGUE, _forget_engine, run_cli

PASSWORD = "s3cretpw"


@pytest.fixture
def url_with_password(postgres_cluster) -> Iterator[str]:
    """A new PostgreSQL database named by a URL carrying a password (the test cluster trusts any)."""
    name = f"t_{uuid.uuid4().hex}"
    with postgres_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{postgres_cluster.port}/{name}"
    try:
        yield url
    finally:
        _forget_engine(url)
        with postgres_cluster.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_init_names_the_database_without_its_password(tmp_path, url_with_password):
    result = run_cli(["init", "--as-of", "2026-03-02"], home=tmp_path / "home", database_url=url_with_password)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("数据库 ")]
    assert line == f"数据库 {url_with_password.replace(PASSWORD, '***')}"


@pytest.mark.postgres
def test_up_names_the_database_without_its_password(tmp_path, url_with_password):
    from shanhai.app import App
    from shanhai.cli.up import loaded_line
    from shanhai.settings import Settings

    app = App(Settings(home=tmp_path, database_url=url_with_password, catalogue_dir=REAL_CATALOGUE))
    line = loaded_line(app, 3)
    assert PASSWORD not in line
    assert f"（{url_with_password.replace(PASSWORD, '***')}）" in line and "演示历史新增 3 条记录" in line

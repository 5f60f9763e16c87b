"""A database password never reaches the terminal: not in what `init` and `up` print, not in the line
that refuses a SHANHAI_DATABASE_URL that cannot be parsed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://shanhai:s3cr3t@db:port/x",  # a port that is no number: make_url refuses it
        "postgresql://shanhai:s3/cr3t@db:port/x",  # a "/" in the password
        "postgresql://shanhai:s3:cr@3t@db:port/x",  # a ":" and an "@" in the password
        "postgres ql://shanhai:s3cr3t@db/x",  # no scheme a parser accepts
        "postgresql://shanhai@db:port/x?password=s3cr3t",  # libpq's password in the query
    ],
)
def test_an_unparsable_database_url_never_shows_its_password(tmp_path, url):
    result = run_cli(["status"], home=tmp_path, env={"SHANHAI_DATABASE_URL": url})
    assert result.exit_code == 1, result.output
    assert "s3" not in result.output and "cr3t" not in result.output, result.output
    assert "***" in result.stderr and "SHANHAI_DATABASE_URL" in result.stderr


@given(password=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=4, max_size=20))
def test_mask_url_hides_any_password(password):
    from shanhai.settings import mask_url

    assume(password.strip() and not set(password) & set(" &") and "password=" not in password.lower())
    shown = mask_url(f"postgresql://shanhai:{password}@db.example:5432/shanhai")
    assert shown == "postgresql://shanhai:***@db.example:5432/shanhai"

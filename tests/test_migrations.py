"""The schema comes from Alembic migrations, on SQLite and PostgreSQL alike."""

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import shanhai.migrations as migrations
from shanhai.db import migrate


def test_the_head_constant_names_the_newest_migration():
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    assert ScriptDirectory.from_config(cfg).get_current_head() == migrations.HEAD


def test_it_builds_every_table_from_migrations_and_stamps_the_head(database_url):
    migrate(database_url)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert {"obligation", "occurrence", "completionrecord", "waiver", "auditentry", "outboxitem", "delivery",
            "importbatch", "assessmentversion"} <= tables
    assert version == migrations.HEAD


def test_the_migration_creates_the_installation_so_its_key_is_there_before_any_sync(tmp_path, database_url):
    from shanhai.app import App
    from shanhai.settings import Settings

    app = App(settings=Settings(home=tmp_path, database_url=database_url))  # no SHANHAI_SECRET_KEY
    app.migrate()  # what `shanhai user add` does; no sync
    [key] = app.signing_keys()
    assert len(key) >= 32
    assert app.tracking_from().month == 1


def test_the_first_sync_still_sets_the_tracking_start_to_its_year(tmp_path, database_url):
    from tests.conftest import at, make_app

    app = make_app(tmp_path, database_url)
    app.migrate()
    key = app.signing_keys()
    app.sync(as_of=at(2024, 5, 6))
    assert app.tracking_from().isoformat() == "2024-01-01"
    app.sync(as_of=at(2025, 5, 6))
    assert app.tracking_from().isoformat() == "2024-01-01", "only the first sync sets it"
    assert app.signing_keys() == key


def test_an_older_versions_key_file_keeps_its_links_working_after_the_upgrade(tmp_path, database_url):
    from shanhai.app import App
    from shanhai.notifications.links import sign_report_link, verify_report_token
    from shanhai.settings import Settings
    from tests.conftest import at

    home = tmp_path / "home"
    home.mkdir()
    (home / "secret_key").write_text("the-key-of-an-older-version\n")  # as older versions wrote it
    issued = at(2026, 3, 2)
    old_link = sign_report_link(base_url="http://portal", occurrence_id=7, unit_code="TS",
                                secret="the-key-of-an-older-version", issued_at=issued)
    app = App(settings=Settings(home=home, database_url=database_url))
    app.migrate()
    keys = app.signing_keys()
    assert keys[0] != "the-key-of-an-older-version", "new links are signed with the database's key"
    token = old_link.rsplit("/", 1)[1]
    assert verify_report_token(token, secret=keys, now=issued)[:2] == (7, "TS")


def test_without_a_key_file_only_the_database_key_is_used(tmp_path, database_url):
    from shanhai.app import App
    from shanhai.settings import Settings

    app = App(settings=Settings(home=tmp_path, database_url=database_url))
    app.migrate()
    assert len(app.signing_keys()) == 1

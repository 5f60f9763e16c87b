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
            "importbatch"} <= tables
    assert version == migrations.HEAD

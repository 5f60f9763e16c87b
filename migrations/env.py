"""Alembic environment: the engine comes from shanhai.db.migrate (or SHANHAI_DATABASE_URL)."""

from alembic import context
from sqlmodel import SQLModel

import shanhai.models.accounts  # noqa: F401  (registers the tables)
import shanhai.models.acknowledgements  # noqa: F401
import shanhai.models.form_nonces  # noqa: F401
import shanhai.models.portal_sessions  # noqa: F401
import shanhai.models.tables  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def _engine():
    engine = config.attributes.get("engine")
    if engine is None:
        from shanhai.db import get_engine
        from shanhai.settings import get_settings

        engine = get_engine(get_settings().effective_database_url)
    return engine


with _engine().begin() as connection:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()

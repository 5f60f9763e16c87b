"""installation: the tracking start and the signing key, shared by every worker of the database

Revision ID: 0005_installation
Revises: 0004_import_batches
Create Date: 2026-11-30
"""

import secrets
from datetime import UTC, date, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

from shanhai.models.localtime import local_date

revision = "0005_installation"
down_revision = "0004_import_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tracking_from", sa.Date(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    # The row exists from the start, so nothing that reads the key or the tracking start ever finds it
    # missing (`shanhai user add` then `shanhai portal` before any sync). The first sync moves the
    # tracking start to 1 January of its own year.
    now = datetime.now(UTC)
    op.bulk_insert(
        installation,
        [{"key": "shanhai", "tracking_from": date(local_date(now).year, 1, 1),
          "secret": secrets.token_urlsafe(32), "created_at": now}],
    )


def downgrade() -> None:
    op.drop_table("installation")

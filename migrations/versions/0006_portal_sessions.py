"""portal sessions on the server (revocable), and indexes that let old form nonces be pruned cheaply

Revision ID: 0006_portal_sessions
Revises: 0005_portal
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006_portal_sessions"
down_revision = "0005_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portalsession",
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("portalsession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portalsession_user_name"), ["user_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_portalsession_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("formnonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_formnonce_issued_at"), ["issued_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_formnonce_purpose"), ["purpose"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("formnonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_formnonce_purpose"))
        batch_op.drop_index(batch_op.f("ix_formnonce_issued_at"))
    op.drop_table("portalsession")

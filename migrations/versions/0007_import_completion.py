"""import batches complete in one short commit: records of an unfinished batch are invisible

An import writes its records in short transactions under a batch whose ``completed_at`` is NULL; the
last commit sets it. ``owner`` names the importing process (host:pid), so that the next import can tell
an abandoned batch (a killed process) from one still being written, and remove it.

Revision ID: 0007_import_completion
Revises: 0006_portal_sessions
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007_import_completion"
down_revision = "0006_portal_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("importbatch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    # every batch stored before this revision was written in one transaction: it is complete
    op.execute("UPDATE importbatch SET completed_at = imported_at")


def downgrade() -> None:
    with op.batch_alter_table("importbatch", schema=None) as batch_op:
        batch_op.drop_column("owner")
        batch_op.drop_column("completed_at")

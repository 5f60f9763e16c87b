"""import batches: a file imported twice adds nothing; records carry the batch they came in

Revision ID: 0004_import_batches
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_import_batches"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "importbatch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("completionrecord", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_completionrecord_import_batch_id"), ["import_batch_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_completionrecord_import_batch_id_importbatch", "importbatch", ["import_batch_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("completionrecord", schema=None) as batch_op:
        batch_op.drop_constraint("fk_completionrecord_import_batch_id_importbatch", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_completionrecord_import_batch_id"))
        batch_op.drop_column("import_batch_id")
    op.drop_table("importbatch")

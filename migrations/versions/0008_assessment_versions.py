"""assessment versions: the immutable versions of a closed year's annual assessment

Revision ID: 0008_assessment_versions
Revises: 0007_import_completion
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_assessment_versions"
down_revision = "0007_import_completion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessmentversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("as_of", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("method_title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("units", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("year", "version"),
    )
    with op.batch_alter_table("assessmentversion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessmentversion_year"), ["year"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assessmentversion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessmentversion_year"))
    op.drop_table("assessmentversion")

"""audit: who changed which server, integration, setting, user or token, when and from where

Revision ID: 0012_audit
Revises: 0011_writes_back
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_audit"
down_revision = "0011_writes_back"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    # Idempotent: on SQLite a later step's failure can leave this step's DDL done while
    # the recorded revision stays, and the downgrade is then tried again.
    op.drop_index("ix_audit_log_at", table_name="audit_log", if_exists=True)
    op.drop_table("audit_log", if_exists=True)

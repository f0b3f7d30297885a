"""delivery notices: which dead or long-held deliveries a failure e-mail was queued for

Revision ID: 0013_delivery_notices
Revises: 0012_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_delivery_notices"
down_revision = "0012_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE",
                                name=op.f("fk_delivery_notices_delivery_id_deliveries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_notices")),
        sa.UniqueConstraint("delivery_id", "state", "since",
                            name=op.f("uq_delivery_notices_delivery_id")),
    )
    op.create_index(op.f("ix_delivery_notices_delivery_id"), "delivery_notices",
                    ["delivery_id"])


def downgrade() -> None:
    # Dropping the table drops its index. SQLite runs DDL outside the transaction: a
    # downgrade that stopped at an older step may have dropped it already.
    if sa.inspect(op.get_bind()).has_table("delivery_notices"):
        op.drop_table("delivery_notices")

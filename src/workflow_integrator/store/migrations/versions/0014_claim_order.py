"""claim order: pending deliveries indexed in their order, so a claim stops at its first
heads instead of ranking every pending delivery

Revision ID: 0014_claim_order
Revises: 0013_delivery_notices
"""

from alembic import op

revision = "0014_claim_order"
down_revision = "0013_delivery_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_state_order", "deliveries",
        ["state", "order_at", "event_id", "point_index", "id"],
    )


def downgrade() -> None:
    # IF EXISTS: on SQLite a downgrade refused further down may have run this step already.
    op.execute("DROP INDEX IF EXISTS ix_deliveries_state_order")

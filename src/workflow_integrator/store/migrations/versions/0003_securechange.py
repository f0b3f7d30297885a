"""securechange: events received from workflows, SecureChange connection settings

Revision ID: 0003_securechange
Revises: 0002_oauth_tokens
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_securechange"
down_revision = "0002_oauth_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("update_date", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("received_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_events_dedupe_key")),
    )
    op.create_index("ix_events_state_id", "events", ["state", "id"])
    op.create_index("ix_events_ticket_id", "events", ["ticket_id", "id"])
    op.create_index("ix_events_received_at", "events", ["received_at"])
    op.create_table(
        "securechange_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_securechange_settings")),
    )


def downgrade() -> None:
    op.drop_table("securechange_settings")
    op.drop_index("ix_events_received_at", table_name="events")
    op.drop_index("ix_events_ticket_id", table_name="events")
    op.drop_index("ix_events_state_id", table_name="events")
    op.drop_table("events")

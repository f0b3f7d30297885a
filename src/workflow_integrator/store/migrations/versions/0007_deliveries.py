"""deliveries: the delivery queue, attempts, per-server breakers; planning columns on events

Revision ID: 0007_deliveries
Revises: 0005_integrations
"""

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from workflow_integrator.domain.delivery import event_order_time
from workflow_integrator.store.base import UTCDateTime

revision = "0007_deliveries"
down_revision = "0006_aware_timestamps"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _plan_columns_on_events()
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("workflow", sa.String(length=200), nullable=False),
        sa.Column("point_name", sa.String(length=200), nullable=False),
        sa.Column("point_index", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=True),
        sa.Column("order_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("give_up_at", UTCDateTime(), nullable=True),
        sa.Column("held_since", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("replay_series", sa.Integer(), nullable=False),
        sa.Column("replayed_by", sa.String(length=200), nullable=True),
        sa.Column("replayed_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("writeback_state", sa.String(length=16), nullable=False),
        sa.Column("writeback_fields", sa.JSON(), nullable=True),
        sa.Column("writeback_due", UTCDateTime(), nullable=True),
        sa.Column("writeback_attempts", sa.Integer(), nullable=False),
        sa.Column("writeback_detail", sa.Text(), nullable=True),
        sa.Column("writeback_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=200), nullable=True),
        sa.Column("cancelled_why", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_deliveries_event_id_events"),
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["outbound_servers.id"],
            name=op.f("fk_deliveries_server_id_outbound_servers"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deliveries_idempotency_key")),
    )
    op.create_index("ix_deliveries_state_due_at", "deliveries", ["state", "due_at"])
    op.create_index(
        "ix_deliveries_ticket_server_order", "deliveries",
        ["ticket_id", "server_id", "order_at", "event_id", "point_index"],
    )
    op.create_index("ix_deliveries_server_state", "deliveries", ["server_id", "state"])
    op.create_index("ix_deliveries_writeback", "deliveries", ["writeback_state", "writeback_due"])
    op.create_index("ix_deliveries_event_id", "deliveries", ["event_id"])
    op.create_index("ix_deliveries_finished_at", "deliveries", ["finished_at"])
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("request_headers", sa.JSON(), nullable=False),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error_class", sa.String(length=200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        "ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id", "id"]
    )
    op.create_table(
        "delivery_servers",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("breaker_failures", sa.Integer(), nullable=False),
        sa.Column("breaker_openings", sa.Integer(), nullable=False),
        sa.Column("breaker_open_until", UTCDateTime(), nullable=True),
        sa.Column("breaker_changed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"], ["outbound_servers.id"],
            name=op.f("fk_delivery_servers_server_id_outbound_servers"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_delivery_servers")),
    )


def _plan_columns_on_events() -> None:
    op.add_column("events", sa.Column("order_at", UTCDateTime(), nullable=True))
    op.add_column(
        "events",
        sa.Column("plan_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("events", sa.Column("next_plan_at", UTCDateTime(), nullable=True))
    op.add_column("events", sa.Column("plan_lease_owner", sa.String(length=200), nullable=True))
    op.add_column("events", sa.Column("plan_lease_expires_at", UTCDateTime(), nullable=True))
    op.add_column("events", sa.Column("ticket_snapshot", sa.JSON(), nullable=True))
    op.add_column("events", sa.Column("ticket_read_at", UTCDateTime(), nullable=True))
    op.create_index("ix_events_state_next_plan_at", "events", ["state", "next_plan_at"])
    # Events stored before this revision get their order time from their trigger document.
    events = sa.table(
        "events",
        sa.column("id", sa.Integer()),
        sa.column("update_date", sa.String()),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("order_at", UTCDateTime()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(events.c.id, events.c.update_date, events.c.received_at)).all()
    for event_id, update_date, received_at in rows:
        received = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
        bind.execute(
            events.update()
            .where(events.c.id == event_id)
            .values(order_at=event_order_time(update_date, received))
        )


def downgrade() -> None:
    op.drop_table("delivery_servers")
    op.drop_index("ix_delivery_attempts_delivery_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    for name in (
        "ix_deliveries_created_at", "ix_deliveries_finished_at", "ix_deliveries_event_id",
        "ix_deliveries_writeback", "ix_deliveries_server_state",
        "ix_deliveries_ticket_server_order", "ix_deliveries_state_due_at",
    ):
        op.drop_index(name, table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_events_state_next_plan_at", table_name="events")
    with op.batch_alter_table("events") as batch:
        for column in (
            "ticket_read_at", "ticket_snapshot", "plan_lease_expires_at", "plan_lease_owner",
            "next_plan_at", "plan_attempts", "order_at",
        ):
            batch.drop_column(column)



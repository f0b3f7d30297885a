"""event bounds: events.ticket_id is a 64-bit integer on every database

deliveries.ticket_id is created 64-bit by 0007_deliveries, so only events widens here.

Revision ID: 0008_event_bounds
Revises: 0007_deliveries
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_event_bounds"
down_revision = "0007_deliveries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite's INTEGER already holds 64 bits; only PostgreSQL's int4 must widen.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "ticket_id", type_=sa.BigInteger(),
                        existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "ticket_id", type_=sa.Integer(),
                        existing_type=sa.BigInteger(), existing_nullable=False)

"""writes_back: a delivery whose point maps response values into its ticket, so the
ticket's later deliveries wait for it (on every server), not only while it writes back

Revision ID: 0011_writes_back
Revises: 0010_secret_headers
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_writes_back"
down_revision = "0010_secret_headers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows keep today's rule (they wait only while a write-back is pending).
    op.add_column(
        "deliveries",
        sa.Column("writes_back", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # SQLite commits DDL apart from the version row: if an older step's downgrade failed
    # after this one, the column is gone already when the downgrade is run again.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("deliveries")}
    if "writes_back" in columns:
        op.drop_column("deliveries", "writes_back")  # SQLite ≥ 3.35 drops it in place

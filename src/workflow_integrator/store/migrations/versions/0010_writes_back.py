"""writes_back: a delivery whose point maps response values into its ticket, so the
ticket's later deliveries wait for it (on every server), not only while it writes back

Revision ID: 0010_writes_back
Revises: 0010_secret_headers
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_writes_back"
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
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("writes_back")

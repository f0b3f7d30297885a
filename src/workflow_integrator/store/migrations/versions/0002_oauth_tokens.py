"""oauth tokens: cached access token and current refresh token per outbound server

Revision ID: 0002_oauth_tokens
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_oauth_tokens"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_tokens",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("access_expires_at", sa.Float(), nullable=True),
        sa.Column("expires_in", sa.Integer(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["outbound_servers.id"],
            name=op.f("fk_oauth_tokens_server_id_outbound_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_oauth_tokens")),
    )


def downgrade() -> None:
    op.drop_table("oauth_tokens")

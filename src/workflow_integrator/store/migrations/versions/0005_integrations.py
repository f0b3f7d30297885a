"""integrations: workflow integrations and the servers they use

Revision ID: 0005_integrations
Revises: 0004_users
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_integrations"
down_revision = "0004_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=200), nullable=False),
        sa.Column("workflow_key", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("workflow", name=op.f("uq_integrations_workflow")),
        sa.UniqueConstraint("workflow_key", name=op.f("uq_integrations_workflow_key")),
    )
    op.create_table(
        "integration_servers",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_integration_servers_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["outbound_servers.id"],
            name=op.f("fk_integration_servers_server_id_outbound_servers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "integration_id", "server_id", name=op.f("pk_integration_servers")
        ),
    )


def downgrade() -> None:
    op.drop_table("integration_servers")
    op.drop_table("integrations")

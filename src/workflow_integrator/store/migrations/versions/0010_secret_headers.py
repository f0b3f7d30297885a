"""secret headers: values of Authorization, Cookie, key/token/secret/password headers
move from the clear configuration into each server's ciphertext

Revision ID: 0010_secret_headers
Revises: 0009_smtp
"""

from alembic import context, op

from workflow_integrator.store.servers import seal_clear_headers, unseal_headers

revision = "0010_secret_headers"
down_revision = "0009_smtp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    box = context.config.attributes.get("secretbox")
    if box is not None:
        seal_clear_headers(op.get_bind(), box)
    # Without the key (a bare `alembic upgrade`), WI seals them at its next start.


def downgrade() -> None:
    unseal_headers(op.get_bind(), context.config.attributes.get("secretbox"))

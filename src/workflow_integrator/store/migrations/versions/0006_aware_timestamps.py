"""aware timestamps: token expiry as a timestamp, every timestamp timezone-aware

Revision ID: 0006_aware_timestamps
Revises: 0005_integrations

``oauth_tokens.access_expires_at`` held epoch seconds; it becomes a timestamp like
every other one. On PostgreSQL any timestamp column still without a time zone is
converted (its values were written in UTC). SQLite keeps its text values: they are
UTC, and the ``UTCDateTime`` column type reads them as such.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_aware_timestamps"
down_revision = "0005_integrations"
branch_labels = None
depends_on = None

_TABLE = "oauth_tokens"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("access_expires", sa.DateTime(timezone=True), nullable=True))
    if _postgresql():
        op.execute("UPDATE oauth_tokens SET access_expires = to_timestamp(access_expires_at)")
    else:
        op.execute(
            "UPDATE oauth_tokens SET access_expires = datetime(access_expires_at, 'unixepoch') "
            "WHERE access_expires_at IS NOT NULL"
        )
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_column("access_expires_at")
        batch.alter_column("access_expires", new_column_name="access_expires_at")
    if _postgresql():
        _aware_postgresql_columns()


def _aware_postgresql_columns() -> None:
    naive = op.get_bind().execute(
        sa.text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND data_type = 'timestamp without time zone'"
        )
    )
    for table, column in naive:
        op.execute(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE timestamptz '
            f"USING \"{column}\" AT TIME ZONE 'UTC'"
        )


def downgrade() -> None:
    op.add_column(_TABLE, sa.Column("access_expires_epoch", sa.Float(), nullable=True))
    if _postgresql():
        op.execute(
            "UPDATE oauth_tokens SET access_expires_epoch = EXTRACT(EPOCH FROM access_expires_at)"
        )
    else:
        op.execute(
            "UPDATE oauth_tokens SET access_expires_epoch = "
            "CAST(strftime('%s', access_expires_at) AS REAL)"
        )
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_column("access_expires_at")
        batch.alter_column("access_expires_epoch", new_column_name="access_expires_at")

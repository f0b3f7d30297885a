"""Key rotation: re-encrypt every stored secret under a new key."""

from __future__ import annotations

from sqlalchemy import Engine, text

from workflow_integrator.store.models import ENCRYPTED_COLUMNS
from workflow_integrator.store.secretbox import SecretBox


def reencrypt_all(engine: Engine, old: SecretBox, new: SecretBox) -> int:
    """Re-encrypt every secret column in one transaction; returns the count."""
    count = 0
    with engine.begin() as connection:
        for table, pk, column in ENCRYPTED_COLUMNS:
            rows = connection.execute(
                text(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
            ).all()
            for key, value in rows:
                connection.execute(
                    text(f"UPDATE {table} SET {column} = :value WHERE {pk} = :key"),  # noqa: S608
                    {"value": new.encrypt(old.decrypt(value)), "key": key},
                )
                count += 1
    return count

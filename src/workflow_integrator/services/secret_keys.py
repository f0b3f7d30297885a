"""Stored secrets as a whole: key rotation, and re-sealing values bound to no place."""

from __future__ import annotations

from sqlalchemy import Engine, text

from workflow_integrator.store.models import ENCRYPTED_COLUMNS
from workflow_integrator.store.secretbox import SecretBox, SecretKeyError, place


def reencrypt_all(engine: Engine, old: SecretBox, new: SecretBox) -> int:
    """Re-encrypt every secret column in one transaction; returns the count."""
    return _rewrite(engine, old, new, only_legacy=False)


def reseal_legacy(engine: Engine, box: SecretBox) -> int:
    """Re-seal values from before place-bound ciphertexts, with the running key.

    Run at start after the migrations (a migration cannot see the key); a value
    already bound to its place is left alone, so this costs one read per column
    once everything is re-sealed. Returns how many values were re-sealed.
    """
    return _rewrite(engine, box, box, only_legacy=True)


def _rewrite(engine: Engine, old: SecretBox, new: SecretBox, *, only_legacy: bool) -> int:
    count = 0
    with engine.begin() as connection:
        for table, pk, column in ENCRYPTED_COLUMNS:
            rows = connection.execute(
                text(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
            ).all()
            for key, value in rows:
                if only_legacy and not SecretBox.is_legacy(value):
                    continue
                where = place(table, key, column)
                try:
                    plain = old.decrypt(value, where)
                except SecretKeyError:
                    if not only_legacy:
                        raise
                    continue  # another key's value: reading it says so, starting need not
                connection.execute(
                    text(f"UPDATE {table} SET {column} = :value WHERE {pk} = :key"),  # noqa: S608
                    {"value": new.encrypt(plain, where), "key": key},
                )
                count += 1
    return count

"""A stored ciphertext names its table, row and column: moved elsewhere, it does not open.

Values stored before (associated data a constant) are re-sealed when WI starts.
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from workflow_integrator.app import build_services
from workflow_integrator.settings import Settings
from workflow_integrator.store.secretbox import SecretKeyError

BASIC = {"name": "alpha", "host": "alpha.example.com",
         "auth": {"method": "basic", "username": "wi", "password": "alpha-secret-1"}}
OTHER = {"name": "beta", "host": "beta.example.com",
         "auth": {"method": "basic", "username": "wi", "password": "beta-secret-2"}}


def _secrets(settings: Settings) -> dict[str, str]:
    services = build_services(settings)
    try:
        with services.engine.connect() as connection:
            return dict(connection.execute(  # type: ignore[arg-type]
                text("SELECT name, secrets FROM outbound_servers")).all())
    finally:
        services.close()


def test_a_ciphertext_copied_to_another_row_does_not_open(any_db_settings: Settings) -> None:
    services = build_services(any_db_settings)
    try:
        services.servers.create(BASIC)
        services.servers.create(OTHER)
        with services.engine.begin() as connection:
            connection.execute(text(
                "UPDATE outbound_servers SET secrets = (SELECT secrets FROM outbound_servers "
                "WHERE name = 'alpha') WHERE name = 'beta'"))
        with pytest.raises(SecretKeyError, match="copied from elsewhere"):
            services.servers.get_config("beta")
        alpha = services.servers.get_config("alpha").auth
        assert alpha.password.get_secret_value() == "alpha-secret-1"  # type: ignore[union-attr]
    finally:
        services.close()


def _legacy(key: str, plain: str) -> str:
    """A ciphertext as WI wrote it before: associated data the constant ``wi1``."""
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    nonce = os.urandom(12)
    sealed = AESGCM(raw).encrypt(nonce, plain.encode(), b"wi1")
    key_id = hashlib.sha256(raw).hexdigest()[:8]
    return f"wi1:{key_id}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def test_values_stored_before_are_resealed_at_start(any_db_settings: Settings) -> None:
    services = build_services(any_db_settings)
    try:
        services.servers.create(BASIC)
        key = (any_db_settings.data_dir / "secret.key").read_text().split()[0]
        with services.engine.begin() as connection:
            connection.execute(text("UPDATE outbound_servers SET secrets = :value"),
                               {"value": _legacy(key, '{"auth.password": "alpha-secret-1"}')})
    finally:
        services.close()
    assert _secrets(any_db_settings)["alpha"].startswith("wi2:")
    services = build_services(any_db_settings)
    try:
        auth = services.servers.get_config("alpha").auth
        assert auth.password.get_secret_value() == "alpha-secret-1"  # type: ignore[union-attr]
    finally:
        services.close()

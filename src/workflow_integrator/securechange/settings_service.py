"""SecureChange connection settings: read (password masked), replace, test."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.network_policy import DEFAULT_POLICY, NetworkPolicy
from workflow_integrator.domain.readiness import Readiness
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.securechange.client import ConnectionCheck, SecureChangeClient
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.services import audit
from workflow_integrator.services.errors import InvalidInput, NotFound
from workflow_integrator.store import securechange_settings as settings_store
from workflow_integrator.store.secretbox import SecretBox, place

_PASSWORD_PLACE = place("securechange_settings", settings_store.SINGLETON_ID, "password")

class SecureChangeSettingsService:
    """One service for the API, CLI and UI; the password never leaves it in clear."""

    def __init__(self, sessions: sessionmaker[Session], secretbox: SecretBox,
                 readiness: Readiness | None = None,
                 policy: NetworkPolicy = DEFAULT_POLICY) -> None:
        self._sessions = sessions
        self.policy = policy
        self._secretbox = secretbox
        self._readiness = readiness

    def connection(self) -> SecureChangeConnection | None:
        """The saved settings with the decrypted password (for the ticket client)."""
        with self._sessions() as session:
            row = settings_store.load(session)
            if row is None:
                return None
            config = dict(row.config)
            if row.password is not None:
                config["password"] = self._secretbox.decrypt(row.password, _PASSWORD_PLACE)
        return SecureChangeConnection.model_validate(config)

    def web_url(self) -> str | None:
        """SecureChange's address for links into its UI (``ticket_task_url``), if set."""
        settings = self.connection()
        return f"{settings.protocol}://{settings.target.display()}" if settings else None

    def view(self) -> dict[str, Any]:
        """The settings as shown: ``configured`` false before the first save."""
        connection = self.connection()
        if connection is None:
            return {"configured": False, "host": None, "protocol": "https", "username": None,
                    "password": None, "verify_certificate": "enable", "certificate": None,
                    "timeout_seconds": 30, "base_url": None, "warnings": []}
        return {"configured": True, **connection.view()}

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and save; a password sent as the mask (or left out) keeps the stored one."""
        connection = self.resolve(body)
        old = self.connection()
        config = connection.model_dump(mode="json", exclude={"password"})
        secret = (self._secretbox.encrypt(connection.password.get_secret_value(),
                                          _PASSWORD_PLACE)
                  if connection.password is not None else None)
        with self._sessions() as session:
            settings_store.save(session, config, secret)
            audit.record(session, "update", "securechange", "connection",
                         old.model_dump(mode="json", exclude={"password"}) if old else None,
                         config, secrets_changed=_password_change(old, connection))
            session.commit()
        return self.view()

    def resolve(self, body: dict[str, Any]) -> SecureChangeConnection:
        """The connection a body describes, the stored password filling in a mask."""
        data = dict(body)
        data.pop("configured", None)
        data.pop("base_url", None)
        data.pop("warnings", None)
        if data.get("password") == MASK or "password" not in data:
            stored = self.connection()
            data["password"] = (stored.password.get_secret_value()
                                if stored is not None and stored.password is not None else None)
        try:
            return SecureChangeConnection.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, data) from None

    async def test(self, body: dict[str, Any] | None = None) -> ConnectionCheck:
        """Test the given (unsaved) settings, or the saved ones without a body."""
        if body:
            connection = await asyncio.to_thread(self.resolve, body)
        else:
            saved = await asyncio.to_thread(self.connection)
            if saved is None:
                raise NotFound("SecureChange is not configured yet: save its settings first")
            connection = saved
        async with SecureChangeClient(connection, policy=self.policy) as client:
            check = await client.check()
        if not body and self._readiness is not None:
            # Shown by /readyz; SecureChange being down does not make WI unready.
            self._readiness.report("securechange", check.ok, check.message, required=False)
        return check


def _password_change(old: SecureChangeConnection | None,
                     new: SecureChangeConnection) -> list[str]:
    def clear(c: SecureChangeConnection | None) -> str | None:
        return c.password.get_secret_value() if c and c.password else None
    return ["password"] if clear(old) != clear(new) else []

"""Mail server settings: read (password masked), replace, delete, send a test e-mail."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator import __version__
from workflow_integrator.domain.redaction import MASK as SECRET_MASK
from workflow_integrator.domain.smtp import SmtpSettings, check_address
from workflow_integrator.outbound import smtp
from workflow_integrator.services import audit
from workflow_integrator.services.errors import InvalidInput, NotFound
from workflow_integrator.services.metrics import Metrics
from workflow_integrator.store import smtp_settings as settings_store
from workflow_integrator.store.secretbox import SecretBox, place

_NOT_CONFIGURED = ("the mail server is not configured yet: save its settings first "
                   "(`wi smtp set --host ... --sender ...`, PUT /api/v1/smtp or the Mail page)")
_READ_ONLY = ("configured", "effective_port", "warnings")


_PASSWORD_PLACE = place("smtp_settings", settings_store.SINGLETON_ID, "password")

class SmtpSettingsService:
    """One service for the API, CLI and UI; the password never leaves it in clear."""

    def __init__(self, sessions: sessionmaker[Session], secretbox: SecretBox,
                 metrics: Metrics | None = None) -> None:
        self._sessions = sessions
        self._secretbox = secretbox
        self._metrics = metrics

    def settings(self) -> SmtpSettings | None:
        """The saved settings with the decrypted password (for sending), None before a save."""
        with self._sessions() as session:
            row = settings_store.load(session)
            if row is None:
                return None
            config = dict(row.config)
            if row.password is not None:
                config["password"] = self._secretbox.decrypt(row.password, _PASSWORD_PLACE)
        return SmtpSettings.model_validate(config)

    def view(self) -> dict[str, Any]:
        """The settings as shown: ``configured`` false before the first save."""
        saved = self.settings()
        if saved is None:
            return {"configured": False, "host": None, "port": None, "security": "starttls",
                    "verify_certificate": "enable", "certificate": None, "username": None,
                    "password": None, "sender": None, "timeout_seconds": 30,
                    "effective_port": None, "warnings": []}
        return {"configured": True, **saved.view()}

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and save; a password sent as ``********`` (or left out) keeps the stored one."""
        resolved = self.resolve(body)
        old = self.settings()
        config = resolved.model_dump(mode="json", exclude={"password"})
        secret = (self._secretbox.encrypt(resolved.password.get_secret_value(), _PASSWORD_PLACE)
                  if resolved.password is not None else None)
        with self._sessions() as session:
            settings_store.save(session, config, secret)
            audit.record(session, "update", "smtp", "mail server",
                         old.model_dump(mode="json", exclude={"password"}) if old else None,
                         config, secrets_changed=_password_change(old, resolved))
            session.commit()
        return self.view()

    def delete(self) -> None:
        """Forget the settings: no e-mails are sent until they are saved again."""
        old = self.settings()
        with self._sessions() as session:
            if not settings_store.delete(session):
                raise NotFound(_NOT_CONFIGURED)
            audit.record(session, "delete", "smtp", "mail server",
                         old.model_dump(mode="json", exclude={"password"}) if old else None,
                         None, secrets_changed=_password_change(old, None))
            session.commit()

    def resolve(self, body: dict[str, Any]) -> SmtpSettings:
        """The settings a body describes, the stored password filling in a mask."""
        data = {k: v for k, v in body.items() if k not in _READ_ONLY}
        if data.get("password") == SECRET_MASK or "password" not in data:
            stored = self.settings()
            data["password"] = (stored.password.get_secret_value()
                                if stored is not None and stored.password is not None else None)
        if data.get("password") == "":
            data["password"] = None
        try:
            return SmtpSettings.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc) from None

    async def send(self, mail: smtp.Mail) -> smtp.MailResult:
        """Send ``mail`` through the saved settings (NotFound before the first save)."""
        saved = await asyncio.to_thread(self.settings)
        if saved is None:
            raise NotFound(_NOT_CONFIGURED)
        return self._counted("failure", await smtp.send(saved, mail))

    def _counted(self, kind: str, result: smtp.MailResult) -> smtp.MailResult:
        if self._metrics is not None:
            self._metrics.email(kind, result.ok)
        return result

    async def send_test(self, to: str, body: dict[str, Any] | None = None) -> smtp.MailResult:
        """Send a test e-mail to ``to`` with the given (unsaved) settings, or the saved ones."""
        try:
            recipient = check_address(to or "")
        except ValueError as exc:
            raise InvalidInput.single(["to"], str(exc)) from None
        if body:
            resolved = await asyncio.to_thread(self.resolve, body)
        else:
            saved = await asyncio.to_thread(self.settings)
            if saved is None:
                raise NotFound(_NOT_CONFIGURED)
            resolved = saved
        mail = smtp.Mail(
            to=(recipient,),
            subject="Workflow Integrator: test e-mail",
            body=f"This is a test e-mail from Workflow Integrator {__version__}.\n\n"
            f"It went through {resolved.host}:{resolved.effective_port} "
            f"({resolved.security}) from {resolved.sender}. Failure e-mails about "
            "deliveries will arrive the same way.\n",
        )
        return self._counted("test", await smtp.send(resolved, mail))


def _password_change(old: SmtpSettings | None, new: SmtpSettings | None) -> list[str]:
    def clear(s: SmtpSettings | None) -> str | None:
        return s.password.get_secret_value() if s and s.password else None
    return ["password"] if clear(old) != clear(new) else []

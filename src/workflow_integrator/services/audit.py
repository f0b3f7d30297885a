"""The audit log: who changed which server, integration, setting, user or token, when,
from where, and what changed (secrets masked).

Every service that changes configuration calls :func:`record` inside its own write
transaction, so a change and its record are committed together, whether the API,
the UI or the CLI asked for it. Who asks is set once per request or command with
:func:`set_actor` (the API's role check, the UI's session middleware, the CLI).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.clock import SystemClock
from workflow_integrator.domain.redaction import MASK, is_secret_field, redact_header_text
from workflow_integrator.services.transactions import write_transaction
from workflow_integrator.store import audit as audit_store
from workflow_integrator.store.audit import AuditFilter, AuditRow

ActorKind = Literal["token", "user", "cli", "system"]
SubjectKind = Literal["server", "integration", "securechange", "smtp", "user", "token"]
SUBJECT_KINDS: tuple[str, ...] = get_args(SubjectKind)
MAX_PAGE = 1000


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an API token, a signed-in user, the CLI (OS user) or WI itself."""

    name: str
    kind: ActorKind
    address: str | None = None


_actor: ContextVar[Actor | None] = ContextVar("wi_audit_actor", default=None)


def set_actor(actor: Actor) -> None:
    """Name who makes the changes of this request or command (and where from)."""
    _actor.set(actor)


def current_actor() -> Actor:
    """Who makes changes now; WI itself when no interface named anyone."""
    return _actor.get() or Actor("wi", "system")


def cli_actor() -> Actor:
    """The CLI's actor: the operating-system user who ran ``wi``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(user, "cli", "local")


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _shown(field: str, value: Any) -> Any:
    if value is None:
        return None
    if is_secret_field(field):
        return MASK
    if field.rsplit(".", 1)[-1] == "headers" and isinstance(value, str):
        return redact_header_text(value)
    return value


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None,
         secrets_changed: Iterable[str] = ()) -> dict[str, Any]:
    """``{field: [before, after]}`` of what changed, nested fields dotted, secrets masked.

    A secret that changed shows as ``["********", "********"]``: that it changed is
    recorded, never its value.
    """
    old, new = _flatten(before or {}), _flatten(after or {})
    changes: dict[str, Any] = {}
    for field in sorted(old.keys() | new.keys()):
        was, now = old.get(field), new.get(field)
        if was != now:
            changes[field] = [_shown(field, was), _shown(field, now)]
    for field in secrets_changed:
        # Both sides may show the mask; that the secret changed is still worth recording.
        changes[field] = [MASK if before is not None else None,
                          MASK if after is not None else None]
    return dict(sorted(changes.items()))


def record(session: Session, action: str, kind: SubjectKind, subject: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None,
           *, secrets_changed: Iterable[str] = (), now: datetime | None = None) -> None:
    """Add the record of a change to ``session``'s transaction (nothing when nothing changed).

    ``before``/``after`` are the documents as a reader sees them; ``secrets_changed``
    names secret fields whose (unseen) value changed.
    """
    changes = diff(before, after, secrets_changed)
    if not changes and action in ("update", "replace"):
        return
    actor = current_actor()
    audit_store.add(session, AuditRow(
        at=now or SystemClock().now(), actor=actor.name[:200], actor_kind=actor.kind,
        address=actor.address[:100] if actor.address else None, action=action,
        subject_kind=kind, subject=subject[:200], changes=changes,
    ))


class AuditService:
    """Reading the audit log (admins) and its retention."""

    def __init__(self, sessions: sessionmaker[Session], keep: timedelta) -> None:
        self.sessions = sessions
        self.keep = keep

    def list(self, flt: AuditFilter) -> list[dict[str, Any]]:
        """Records matching ``flt``, newest first, as the API, UI and CLI show them."""
        with self.sessions() as session:
            return [_view(row) for row in audit_store.find(session, flt)]

    def prune(self, now: datetime) -> int:
        """Delete records older than the retention (``WI_AUDIT_RETENTION_DAYS``) at ``now``."""
        with write_transaction(self.sessions) as session:
            return audit_store.prune(session, now - self.keep)


def _view(row: AuditRow) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.isoformat(), "actor": row.actor,
            "actor_kind": row.actor_kind, "address": row.address, "action": row.action,
            "subject_kind": row.subject_kind, "subject": row.subject, "changes": row.changes}

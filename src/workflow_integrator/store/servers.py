"""The ``outbound_servers`` table: configuration as JSON, secrets as one ciphertext."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Connection, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.domain.headers import HeaderError, parse_headers
from workflow_integrator.domain.redaction import MASK, redact_header_text
from workflow_integrator.store.base import (
    Base,
    Timestamps,
    UTCDateTime,
    utcnow,
)
from workflow_integrator.store.db import begin_writing
from workflow_integrator.store.secretbox import SecretBox, place


class OutboundServerRow(Timestamps, Base):
    """One outbound server. ``config`` holds every non-secret field; ``secrets`` the rest."""

    __tablename__ = "outbound_servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    secrets: Mapped[str | None] = mapped_column(Text, default=None)
    state: Mapped[str] = mapped_column(String(32), default="ok")
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    state_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Bumped on every change, so transports and caches know when to rebuild.
    revision: Mapped[int] = mapped_column(Integer, default=1)


def find_by_name(
    session: Session, name: str, *, for_update: bool = False
) -> OutboundServerRow | None:
    """The server row named ``name``, or None; ``for_update`` locks it until commit."""
    query = select(OutboundServerRow).where(OutboundServerRow.name == name)
    if for_update:
        begin_writing(session)
        query = query.with_for_update()
    return session.scalar(query)


def list_rows(session: Session) -> list[OutboundServerRow]:
    """All servers ordered by name."""
    return list(session.scalars(select(OutboundServerRow).order_by(OutboundServerRow.name)))


def set_state(session: Session, server_id: int, state: str, reason: str | None) -> None:
    """Record a server's state (``ok`` or ``needs_credentials``) and why."""
    row = session.get(OutboundServerRow, server_id)
    if row is None:
        return
    if row.state != state or row.state_reason != reason:
        row.state = state
        row.state_reason = reason
        row.state_changed_at = utcnow()


def replace_refresh_token(
    session: Session, box: SecretBox, server_id: int, refresh_token: str
) -> None:
    """Make a rotated refresh token the server's configured one.

    The token endpoint voids the old token when it rotates, so keeping the old one as
    the configuration would break the server once its token cache is dropped (after a
    host or proxy change) and would travel in exports.
    """
    row = session.get(OutboundServerRow, server_id)
    if row is None or row.secrets is None:
        return
    where = place("outbound_servers", row.id, "secrets")
    secrets = json.loads(box.decrypt(row.secrets, where))
    if "auth.refresh_token" not in secrets:
        return  # password grant: the issued refresh token only lives in the token cache
    if secrets["auth.refresh_token"] != refresh_token:
        secrets["auth.refresh_token"] = refresh_token
        row.secrets = box.encrypt(json.dumps(secrets), where)


# A table of its own, not the ORM class: migrations call these with the schema of their day.
_SERVERS = sa.table(
    "outbound_servers", sa.column("id", Integer), sa.column("config", JSON),
    sa.column("secrets", Text),
)


def seal_clear_headers(connection: Connection, box: SecretBox) -> int:
    """Move secret header values still stored in clear into each server's ciphertext.

    The row's ``config`` keeps the masked text; returns how many servers changed.
    Idempotent: run by the ``0010_secret_headers`` migration when it is handed the
    key, and at every start for a database upgraded without it.
    """
    count = 0
    for server_id, config, sealed in connection.execute(sa.select(_SERVERS)).all():
        doc = dict(config or {})
        headers = doc.get("headers")
        if not isinstance(headers, str):
            continue
        try:
            parse_headers(headers)
        except HeaderError:
            continue
        shown = redact_header_text(headers, doc.get("secret_headers") or [])
        if shown == headers:
            continue  # nothing secret, or sealed already
        where = place("outbound_servers", server_id, "secrets")
        secrets = json.loads(box.decrypt(sealed, where)) if sealed else {}
        secrets["headers"] = headers
        doc["headers"] = shown
        connection.execute(
            sa.update(_SERVERS).where(_SERVERS.c.id == server_id).values(
                config=doc, secrets=box.encrypt(json.dumps(secrets), where)
            )
        )
        count += 1
    return count


def unseal_headers(connection: Connection, box: SecretBox | None) -> int:
    """Undo :func:`seal_clear_headers` (downgrading below ``0010_secret_headers``)."""
    count = 0
    for server_id, config, sealed in connection.execute(sa.select(_SERVERS)).all():
        doc = dict(config or {})
        headers = doc.get("headers")
        if not sealed or not isinstance(headers, str) or MASK not in headers:
            continue  # no header was sealed here
        if box is None:
            raise RuntimeError(
                "downgrading below 0010_secret_headers needs the secret key: the secret "
                "header values are encrypted and 0009 keeps them in clear"
            )
        where = place("outbound_servers", server_id, "secrets")
        secrets = json.loads(box.decrypt(sealed, where))
        if "headers" not in secrets:
            continue
        doc["headers"] = secrets.pop("headers")
        connection.execute(
            sa.update(_SERVERS).where(_SERVERS.c.id == server_id).values(
                config=doc,
                secrets=box.encrypt(json.dumps(secrets), where) if secrets else None,
            )
        )
        count += 1
    return count

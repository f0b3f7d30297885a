"""The ``integrations`` table and the servers each integration sends to.

``config`` holds the integration document with server references as ids
(``default_server_id``, ``routes[].server_id``, ``points[].server_id``), so renaming a
server keeps its integrations. ``integration_servers`` lists every server an
integration uses; its foreign key stops a used server from being deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, Timestamps
from workflow_integrator.store.db import begin_writing


class IntegrationRow(Timestamps, Base):
    """One workflow integration."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(200), unique=True)
    # Case- and space-folded workflow name: one integration per workflow, however typed.
    workflow_key: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class IntegrationServerRow(Base):
    """Integration ``integration_id`` sends to server ``server_id``."""

    __tablename__ = "integration_servers"

    integration_id: Mapped[int] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    server_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_servers.id", ondelete="RESTRICT"), primary_key=True
    )


def find_by_key(
    session: Session, workflow_key: str, *, for_update: bool = False
) -> IntegrationRow | None:
    """The integration of the workflow with this folded name, or None; ``for_update`` locks it."""
    query = select(IntegrationRow).where(IntegrationRow.workflow_key == workflow_key)
    if for_update:
        begin_writing(session)
        query = query.with_for_update()
    return session.scalar(query)


def list_rows(session: Session) -> list[IntegrationRow]:
    """All integrations by workflow name."""
    return list(session.scalars(select(IntegrationRow).order_by(IntegrationRow.workflow)))


def set_servers(session: Session, integration_id: int, server_ids: set[int]) -> None:
    """Record the servers an integration uses (replacing the previous list)."""
    session.execute(
        delete(IntegrationServerRow).where(IntegrationServerRow.integration_id == integration_id)
    )
    session.add_all(
        IntegrationServerRow(integration_id=integration_id, server_id=server_id)
        for server_id in sorted(server_ids)
    )


def workflows_using(session: Session, server_id: int) -> list[str]:
    """Workflow names of the integrations that send to server ``server_id``."""
    return list(
        session.scalars(
            select(IntegrationRow.workflow)
            .join(IntegrationServerRow, IntegrationServerRow.integration_id == IntegrationRow.id)
            .where(IntegrationServerRow.server_id == server_id)
            .order_by(IntegrationRow.workflow)
        )
    )

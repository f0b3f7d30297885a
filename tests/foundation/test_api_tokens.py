"""API tokens as a request presents them: who they name, when they were last used, and
that a revoked one stops working at once, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from workflow_integrator.app import Services, build_services
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.services.api_tokens import ApiTokenService
from workflow_integrator.settings import Settings

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def services(any_db_settings: Settings) -> Iterator[Services]:
    built = build_services(any_db_settings)
    try:
        yield built
    finally:
        built.close()


def stored_last_use(services: Services, name: str) -> datetime | None:
    view = next(t for t in services.tokens.list_all() if t.name == name)
    return view.last_used_at


def test_a_token_names_its_holder_notes_its_use_once_a_minute_and_dies_when_revoked(
    services: Services,
) -> None:
    clock = ManualClock(START)
    tokens = ApiTokenService(services.sessions, clock)
    _, secret = tokens.create("ci", "viewer")
    assert stored_last_use(services, "ci") is None

    principal = tokens.authenticate(secret)
    assert principal is not None
    assert (principal.name, principal.role, principal.kind) == ("ci", "viewer", "token")
    assert stored_last_use(services, "ci") == START

    clock.advance(30)
    assert tokens.authenticate(secret) is not None
    assert stored_last_use(services, "ci") == START  # not written on every request
    clock.advance(61)
    assert tokens.authenticate(secret) is not None
    assert stored_last_use(services, "ci") == clock.now()

    assert tokens.authenticate(secret + "x") is None
    assert tokens.authenticate("") is None
    with services.sessions() as session:
        stored = session.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert stored and secret not in stored and not any(secret[3:] in h for h in stored)
    tokens.revoke("ci")
    assert tokens.authenticate(secret) is None

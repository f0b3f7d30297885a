"""API tokens as a request presents them: who they name, when they were last used, and
that a revoked one stops working at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, text

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


async def test_requests_at_once_with_one_token_share_one_look_up_and_a_revoke_counts_next(
    services: Services,
) -> None:
    tokens = ApiTokenService(services.sessions, ManualClock(START))
    _, trigger = tokens.create("securechange", "trigger")
    _, other = tokens.create("ci", "viewer")
    look_ups: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "WHERE api_tokens.token_hash" in statement:  # the look-up of a presented token
            look_ups.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        # As SecureChange posts: many requests with its one token in flight together.
        found = await asyncio.gather(*(tokens.authenticate_async(t)
                                       for t in [trigger] * 20 + [other] * 5 + ["wi_nope"]))
        assert [p.name if p else None for p in found] == (
            ["securechange"] * 20 + ["ci"] * 5 + [None])
        assert len(look_ups) == 3  # one per distinct token, not one per request

        tokens.revoke("securechange")
        assert await tokens.authenticate_async(trigger) is None  # nothing kept after a look-up
        assert len(look_ups) == 4
    finally:
        event.remove(services.engine, "before_cursor_execute", count)

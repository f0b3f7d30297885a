"""API tokens: create (shown once), list, revoke, and authenticate a presented token."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.services import audit
from workflow_integrator.services.errors import Conflict, InvalidInput, NotFound
from workflow_integrator.services.principals import TOKEN_ROLES, Principal, Role
from workflow_integrator.services.transactions import write_transaction
from workflow_integrator.store import api_tokens as token_store
from workflow_integrator.store.api_tokens import ApiTokenRow

# Writing last_used_at on every request would turn reads into writes; once a minute is plenty.
_TOUCH_EVERY = timedelta(minutes=1)


class TokenView(BaseModel):
    """A token as listed: never the token itself, only its first characters."""

    name: str
    role: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None


class ApiTokenService:
    """The API's bearer tokens."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock | None = None) -> None:
        self._sessions = sessions
        self._clock: Clock = clock or SystemClock()
        # Look-ups in flight, by event loop and token hash (never the token itself).
        self._looking_up: dict[tuple[int, str], asyncio.Future[Principal | None]] = {}

    def create(self, name: str, role: str = "admin") -> tuple[TokenView, str]:
        """Create a token; the clear token is returned this once and never stored."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput.single(["name"], "give the token a name of 1-100 characters")
        if role not in TOKEN_ROLES:
            raise InvalidInput.single(
                ["role"], f"role must be one of {', '.join(TOKEN_ROLES)}"
            )
        token = token_store.new_token()
        with write_transaction(self._sessions) as session:
            if any(row.name == name for row in token_store.list_tokens(session)):
                raise Conflict(f"an API token named '{name}' already exists")
            row = ApiTokenRow(
                name=name, role=role, token_hash=token_store.hash_token(token), hint=token[:7]
            )
            session.add(row)
            session.flush()
            audit.record(session, "create", "token", name, None, {"name": name, "role": role})
            return self._view(row), token

    def list_all(self) -> list[TokenView]:
        """All tokens by name."""
        with self._sessions() as session:
            return [self._view(row) for row in token_store.list_tokens(session)]

    def revoke(self, name: str) -> None:
        """Delete a token: requests carrying it get 401 from now on."""
        with write_transaction(self._sessions) as session:
            row = next((r for r in token_store.list_tokens(session) if r.name == name), None)
            if row is None:
                raise NotFound(f"no API token named '{name}'")
            audit.record(session, "delete", "token", row.name,
                         {"name": row.name, "role": row.role}, None)
            session.delete(row)

    def count(self) -> int:
        """How many tokens exist (zero on a new installation)."""
        with self._sessions() as session:
            return len(token_store.list_tokens(session))

    async def authenticate_async(self, token: str) -> Principal | None:
        """:meth:`authenticate` off the event loop, one look-up for concurrent callers.

        SecureChange sends its events with one token, many at once: a request that
        arrives while that token's look-up is in flight takes its answer instead of
        reading the database again. The answer is never kept beyond the look-up, so a
        revoked token is refused from the next look-up on.
        """
        loop = asyncio.get_running_loop()
        key = (id(loop), token_store.hash_token(token))
        pending = self._looking_up.get(key)
        if pending is None or pending.get_loop() is not loop:  # (a closed loop's id reused)
            pending = asyncio.ensure_future(asyncio.to_thread(self.authenticate, token))
            self._looking_up[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: one caller going away does not cancel the others' look-up.
        return await asyncio.shield(pending)

    def _forget(self, key: tuple[int, str], done: asyncio.Future[Principal | None]) -> None:
        if self._looking_up.get(key) is done:
            del self._looking_up[key]

    def authenticate(self, token: str) -> Principal | None:
        """The principal behind a presented token, or None."""
        with self._sessions() as session:
            row = token_store.find_by_token(session, token)
            if row is None:
                return None
            now = self._clock.now()
            last = row.last_used_at
            if last is None or now - last > _TOUCH_EVERY:
                token_store.touch(session, row.id, now)
                session.commit()
            role: Role = next((r for r in TOKEN_ROLES if r == row.role), "viewer")
            return Principal(name=row.name, role=role, kind="token")

    @staticmethod
    def _view(row: ApiTokenRow) -> TokenView:
        return TokenView(
            name=row.name,
            role=row.role,
            hint=row.hint + "…",
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )

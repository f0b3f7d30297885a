"""Local users: add, list, delete, change password, sign in, and browser sessions.

Passwords are hashed with argon2id. Failed sign-ins delay further attempts of the
same name from the same address (``sign_in_throttle``); sessions live in the
database so that signing out (or deleting the user, or changing the password)
ends them at once.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.services import audit
from workflow_integrator.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from workflow_integrator.services.principals import ROLES, Principal, Role
from workflow_integrator.services.sign_in_throttle import SignInThrottle
from workflow_integrator.services.transactions import write_transaction
from workflow_integrator.store import users as user_store
from workflow_integrator.store.users import UserRow, UserSessionRow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=7)
_TOUCH_EVERY = timedelta(minutes=1)
INITIAL_ADMIN = "admin"
_WRONG = "wrong user name or password"
_TOO_MANY = "too many failed sign-ins; try again in {} seconds"
INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 - a file name


class UserView(BaseModel):
    """A user as listed: never the password hash."""

    name: str
    role: str
    created_at: datetime
    last_login_at: datetime | None


class SignInRefused(ServiceError):
    """Wrong name or password, or too many tries; ``retry_after`` in seconds if delayed."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedIn:
    """A browser session: the cookie value (shown once) and its CSRF token."""

    token: str
    csrf_token: str
    principal: Principal


def _role(value: str) -> Role:
    return "admin" if value == "admin" else "viewer"


class UserService:
    """Local users of the web UI (the API uses tokens, see ``ApiTokenService``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        hasher: PasswordHasher | None = None,
        throttle: SignInThrottle | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock: Clock = clock or SystemClock()
        # argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile).
        self._hasher = hasher or PasswordHasher()
        self.throttle = throttle or SignInThrottle(self._clock)
        # Unknown names are checked against this hash: the same work as a real user.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    # -- managing users ----------------------------------------------------------

    def add(self, name: str, role: str, password: str) -> UserView:
        """Create a user; the name must be new and the password long enough."""
        name = self._check_name(name)
        self._check_role(role)
        self._check_password(password)
        with write_transaction(self._sessions) as session:
            if user_store.find_user(session, name):
                raise Conflict(f"a user named '{name}' already exists")
            row = UserRow(
                name=name, role=role, password_hash=self._hasher.hash(password), failed_logins=0
            )
            session.add(row)
            session.flush()
            audit.record(session, "create", "user", name, None, {"name": name, "role": role},
                         secrets_changed=["password"])
            return self._view(row)

    def list_all(self) -> list[UserView]:
        """All users by name."""
        with self._sessions() as session:
            return [self._view(row) for row in user_store.list_users(session)]

    def count(self) -> int:
        """How many users exist (zero on a new installation)."""
        with self._sessions() as session:
            return len(user_store.list_users(session))

    def delete(self, name: str) -> None:
        """Delete a user and end their sessions; the last admin stays."""
        with write_transaction(self._sessions) as session:
            row = self._row(session, name)
            self._keep_an_admin(session, row, "delete")
            user_store.drop_sessions(session, row.id)
            audit.record(session, "delete", "user", row.name,
                         {"name": row.name, "role": row.role}, None)
            session.delete(row)

    def set_password(self, name: str, password: str) -> None:
        """Change a password; every session of the user ends."""
        self._check_password(password)
        with write_transaction(self._sessions) as session:
            row = self._row(session, name)
            row.password_hash = self._hasher.hash(password)
            row.failed_logins = 0
            row.locked_until = None
            user_store.drop_sessions(session, row.id)
            audit.record(session, "set_password", "user", row.name, {}, {},
                         secrets_changed=["password"])

    def change_own_password(self, name: str, current: str, new: str) -> None:
        """A signed-in user's own change: the current password must be right."""
        with self._sessions() as session:
            row = self._row(session, name)
            if not self._verify(row.password_hash, current):
                raise InvalidInput.single(["current_password"], "the current password is wrong")
        if new == current:
            raise InvalidInput.single(
                ["new_password"], "the new password must differ from the current one"
            )
        self.set_password(name, new)

    def set_role(self, name: str, role: str) -> UserView:
        """Change a user's role; takes effect on their next request."""
        self._check_role(role)
        with write_transaction(self._sessions) as session:
            row = self._row(session, name)
            if role != "admin":
                self._keep_an_admin(session, row, "make a viewer of")
            audit.record(session, "update", "user", row.name, {"role": row.role},
                         {"role": role})
            row.role = role
            return self._view(row)

    # -- signing in ----------------------------------------------------------------

    def sign_in(self, name: str, password: str, address: str = "local") -> SignedIn:
        """Check the password and open a session, or refuse without saying which was wrong.

        Unknown and known names, delayed or not, get the same answers after the same
        work: a delayed attempt checks nothing; any other checks exactly one hash.
        """
        name = name.strip()[:200]
        wait = self.throttle.retry_after(name, address)
        if wait is not None:
            raise SignInRefused(_TOO_MANY.format(wait), retry_after=wait)
        with write_transaction(self._sessions) as session:
            row = user_store.find_user(session, name)
            password_hash = row.password_hash if row is not None else self._dummy_hash
            if not self._verify(password_hash, password) or row is None:
                self.throttle.failed(name, address)
                raise SignInRefused(_WRONG)
            if self._hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self._hasher.hash(password)
            now = self._clock.now()
            row.failed_logins = 0
            row.locked_until = None
            row.last_login_at = now
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            session.add(
                UserSessionRow(
                    token_hash=user_store.hash_session_token(token),
                    user_id=row.id,
                    csrf_token=csrf,
                    created_at=now,
                    last_seen_at=now,
                )
            )
            principal = Principal(row.name, _role(row.role), kind="user")
        self.throttle.succeeded(name, address)
        return SignedIn(token, csrf, principal)

    def resume(self, token: str) -> SignedIn | None:
        """The session behind a cookie value, or None when it is unknown or expired."""
        if not token:
            return None
        with self._sessions() as session:
            found = user_store.find_session(session, token)
            if found is None:
                return None
            now = self._clock.now()
            created = found.created_at
            seen = found.last_seen_at
            if now - seen > SESSION_IDLE or now - created > SESSION_MAX:
                session.delete(found)
                session.commit()
                return None
            user = session.get(UserRow, found.user_id)
            if user is None:
                return None
            if now - seen > _TOUCH_EVERY:
                found.last_seen_at = now
                session.commit()
            return SignedIn(
                token, found.csrf_token, Principal(user.name, _role(user.role), kind="user")
            )

    def sign_out(self, token: str) -> None:
        """End one session."""
        with write_transaction(self._sessions) as session:
            found = user_store.find_session(session, token)
            if found is not None:
                session.delete(found)

    # -- first start -----------------------------------------------------------------

    def ensure_initial_admin(self, data_dir: Path) -> tuple[str, str, Path] | None:
        """On a new installation create ``admin`` with a random password in a 0600 file.

        Returns (name, password, file) when a user was created, None when users exist.
        """
        if self.count():
            return None
        password = secrets.token_urlsafe(18)
        self.add(INITIAL_ADMIN, "admin", password)
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / INITIAL_PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        return INITIAL_ADMIN, password, path

    # -- internals -----------------------------------------------------------------

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _keep_an_admin(session: Session, row: UserRow, action: str) -> None:
        # Without an admin nobody could manage WI from the UI any more.
        admins = [u for u in user_store.list_users(session) if u.role == "admin"]
        if row.role == "admin" and len(admins) == 1:
            raise Conflict(
                f"cannot {action} '{row.name}': it is the only admin; add another admin first"
            )

    @staticmethod
    def _row(session: Session, name: str) -> UserRow:
        row = user_store.find_user(session, name)
        if row is None:
            raise NotFound(f"no user named '{name}'")
        return row

    @staticmethod
    def _check_name(name: str) -> str:
        name = name.strip()
        if not name or len(name) > 100 or any(ch.isspace() or ord(ch) < 32 for ch in name):
            raise InvalidInput.single(
                ["name"], "a user name has 1-100 characters and no blanks or control characters"
            )
        return name

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise InvalidInput.single(["role"], f"role must be one of {', '.join(ROLES)}")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InvalidInput.single(
                ["password"], f"the password needs at least {MIN_PASSWORD} characters"
            )
        if len(password) > MAX_PASSWORD:
            raise InvalidInput.single(
                ["password"], f"the password may have at most {MAX_PASSWORD} characters"
            )

    @staticmethod
    def _view(row: UserRow) -> UserView:
        return UserView(
            name=row.name,
            role=row.role,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )

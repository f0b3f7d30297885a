"""UserService on SQLite and PostgreSQL: hashing, lock-out, sessions, the last admin."""

from __future__ import annotations

import pytest

from workflow_integrator.app import build_services
from workflow_integrator.services.errors import Conflict
from workflow_integrator.services.users import FREE_ATTEMPTS, SignInRefused
from workflow_integrator.settings import Settings


def test_users_on_both_databases(any_db_settings: Settings) -> None:
    services = build_services(any_db_settings)
    try:
        users = services.users
        users.add("alice", "admin", "alice-password-123")
        users.add("victor", "viewer", "victor-password-456")

        signed = users.sign_in("alice", "alice-password-123")
        resumed = users.resume(signed.token)
        assert resumed is not None
        assert resumed.principal.name == "alice"
        assert resumed.csrf_token == signed.csrf_token
        assert users.resume("not-a-session") is None

        for _ in range(FREE_ATTEMPTS):
            with pytest.raises(SignInRefused) as wrong:
                users.sign_in("victor", "wrong-password-000")
            assert wrong.value.retry_after is None
        with pytest.raises(SignInRefused) as locked:
            users.sign_in("victor", "victor-password-456")
        assert locked.value.retry_after is not None
        assert 0 < locked.value.retry_after <= 16
        # An admin's new password lifts the lock.
        users.set_password("victor", "victor-password-789")
        assert users.sign_in("victor", "victor-password-789").principal.role == "viewer"

        with pytest.raises(Conflict, match="only admin"):
            users.delete("alice")
        with pytest.raises(Conflict, match="only admin"):
            users.set_role("alice", "viewer")

        users.sign_out(signed.token)
        assert users.resume(signed.token) is None
        users.delete("victor")
        assert [u.name for u in users.list_all()] == ["alice"]
    finally:
        services.close()

"""UserService on SQLite and PostgreSQL: hashing, lock-out, sessions, the last admin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflow_integrator.app import build_services
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.services.errors import Conflict
from workflow_integrator.services.users import (
    FREE_ATTEMPTS,
    SESSION_IDLE,
    SESSION_MAX,
    SignInRefused,
)
from workflow_integrator.settings import Settings
from workflow_integrator.web.throttle import SignInThrottle


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


def test_lockout_and_sessions_expire_by_the_clock(wi_settings: Settings) -> None:
    clock = ManualClock()
    services = build_services(wi_settings, clock=clock)
    try:
        users = services.users
        users.add("victor", "viewer", "victor-password-456")
        signed = users.sign_in("victor", "victor-password-456")
        for _ in range(FREE_ATTEMPTS):
            with pytest.raises(SignInRefused):
                users.sign_in("victor", "wrong-password-000")
        with pytest.raises(SignInRefused) as locked:
            users.sign_in("victor", "victor-password-456")
        assert locked.value.retry_after == 16  # 15 s, rounded up
        clock.advance(14)
        with pytest.raises(SignInRefused):
            users.sign_in("victor", "victor-password-456")
        clock.advance(1.5)
        again = users.sign_in("victor", "victor-password-456")

        assert users.resume(signed.token) is not None
        clock.advance(SESSION_IDLE - timedelta(seconds=1))
        assert users.resume(again.token) is not None  # used now: idle time starts again
        clock.advance(timedelta(seconds=2))
        assert users.resume(signed.token) is None  # idle for longer than SESSION_IDLE
        clock.advance(SESSION_MAX)
        assert users.resume(again.token) is None  # older than SESSION_MAX
    finally:
        services.close()


def test_sign_in_throttle_forgets_failures_after_its_window() -> None:
    clock = ManualClock()
    throttle = SignInThrottle(limit=3, window=300, clock=clock)
    for _ in range(3):
        throttle.failed("192.0.2.7")
        clock.advance(10)
    assert throttle.retry_after("192.0.2.7") == 270  # the first failure leaves in 270 s
    assert throttle.retry_after("192.0.2.8") is None
    clock.advance(270)
    assert throttle.retry_after("192.0.2.7") is None

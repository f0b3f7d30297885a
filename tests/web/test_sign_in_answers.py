"""Sign-in answers cannot tell user names apart, and a stranger cannot lock anyone out.

The work done is observed by counting the password-hash checks (argon2id, for real),
not by a stopwatch; time moves on a test clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest
from argon2 import PasswordHasher

from tests.servers.live_wi import LiveWI, serve_wi
from tests.web.conftest import ADMIN, browser_client, sign_in
from workflow_integrator.app import build_services
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.services.sign_in_throttle import (
    ADDRESS_LIMIT,
    FREE_ATTEMPTS,
    SignInThrottle,
)
from workflow_integrator.services.users import SignInRefused, UserService
from workflow_integrator.settings import Settings


class CountingHasher(PasswordHasher):
    """A real argon2id hasher that counts how often a password is checked."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def parts(wi_settings: Settings) -> Iterator[tuple[UserService, CountingHasher, ManualClock]]:
    services = build_services(wi_settings)
    hasher, clock = CountingHasher(), ManualClock()
    users = UserService(services.sessions, hasher=hasher, throttle=SignInThrottle(clock))
    users.add("alice", "admin", "alice-password-123")
    users.add("bob", "viewer", "bob-password-1234")
    try:
        yield users, hasher, clock
    finally:
        services.close()


def _refusal(users: UserService, hasher: CountingHasher, name: str, password: str,
             address: str = "198.51.100.1") -> tuple[str, int | None, int]:
    before = hasher.verified
    with pytest.raises(SignInRefused) as refused:
        users.sign_in(name, password, address)
    return refused.value.message, refused.value.retry_after, hasher.verified - before


def test_unknown_and_known_names_get_the_same_answer_after_the_same_work(
    parts: tuple[UserService, CountingHasher, ManualClock],
) -> None:
    users, hasher, _ = parts
    unknown = _refusal(users, hasher, "mallory", "guess-guess-1")
    known = _refusal(users, hasher, "alice", "guess-guess-1")
    assert unknown == known == ("wrong user name or password", None, 1)
    before = hasher.verified
    users.sign_in("bob", "bob-password-1234", "198.51.100.1")
    assert hasher.verified - before == 1


def test_delayed_answers_are_the_same_for_unknown_and_known_names(
    parts: tuple[UserService, CountingHasher, ManualClock],
) -> None:
    users, hasher, clock = parts
    for _ in range(FREE_ATTEMPTS):
        _refusal(users, hasher, "alice", "guess-guess-1")
        _refusal(users, hasher, "mallory", "guess-guess-1")
    known = _refusal(users, hasher, "alice", "alice-password-123")  # even the right password
    unknown = _refusal(users, hasher, "mallory", "anything-at-all")
    assert known == unknown == ("too many failed sign-ins; try again in 16 seconds", 16, 0)
    clock.advance(16)
    assert users.sign_in("alice", "alice-password-123", "198.51.100.1").principal.name == "alice"


def test_delay_grows_per_name_and_address_and_spares_other_addresses(
    parts: tuple[UserService, CountingHasher, ManualClock],
) -> None:
    users, hasher, clock = parts
    stranger = "203.0.113.9"
    waits = []
    for _ in range(FREE_ATTEMPTS + 4):
        _, wait, _ = _refusal(users, hasher, "alice", "guess-guess-1", stranger)
        if wait is not None:
            waits.append(wait)
            clock.advance(wait)
            _refusal(users, hasher, "alice", "guess-guess-1", stranger)
    assert waits == [16, 31, 61, 121]
    # The real admin, elsewhere, is not held by the stranger's guesses.
    assert users.sign_in("alice", "alice-password-123", "198.51.100.1").principal.can_write
    clock.advance(900)
    assert users.sign_in("alice", "alice-password-123", stranger).principal.can_write


def test_one_address_cannot_guess_through_many_names(
    parts: tuple[UserService, CountingHasher, ManualClock],
) -> None:
    users, hasher, clock = parts
    for n in range(ADDRESS_LIMIT):
        _refusal(users, hasher, f"name-{n}", "guess-guess-1", "203.0.113.9")
    message, wait, work = _refusal(users, hasher, "alice", "alice-password-123", "203.0.113.9")
    assert wait is not None and work == 0 and message.startswith("too many failed sign-ins")
    clock.advance(wait)
    users.sign_in("alice", "alice-password-123", "203.0.113.9")


@contextmanager
def _live(settings: Settings) -> Iterator[LiveWI]:
    with serve_wi(settings, password_hasher=CountingHasher()) as live:
        live.services.users.add(ADMIN[0], "admin", ADMIN[1])
        yield live


def _fail_from(client: httpx2.Client, address: str, times: int) -> list[int]:
    client.headers["X-Forwarded-For"] = address
    return [sign_in(client, ADMIN[0], "guess-guess-1").status_code for _ in range(times)]


def test_forwarded_for_counts_only_behind_a_trusted_proxy(wi_settings: Settings) -> None:
    # Trusted: each forwarded client is delayed on its own.
    trusted = wi_settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    with _live(trusted) as live, browser_client(live.url) as client:
        assert _fail_from(client, "203.0.113.9", FREE_ATTEMPTS + 1)[-1] == 429
        client.headers["X-Forwarded-For"] = "198.51.100.1"
        assert sign_in(client, *ADMIN).status_code == 303


def test_forwarded_for_from_an_untrusted_peer_is_ignored(wi_settings: Settings) -> None:
    # Not trusted (the default): a made-up header does not give fresh addresses.
    with _live(wi_settings) as live, browser_client(live.url) as client:
        codes = _fail_from(client, "203.0.113.9", FREE_ATTEMPTS)
        client.headers["X-Forwarded-For"] = "198.51.100.1"
        delayed = sign_in(client, *ADMIN)
    assert codes == [401] * FREE_ATTEMPTS
    # The server's own clock runs here: the wait is 15 s, rounded up, less what passed.
    assert delayed.status_code == 429 and 0 < int(delayed.headers["retry-after"]) <= 16
    assert "too many failed sign-ins; try again in" in delayed.text

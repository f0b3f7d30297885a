"""``wi worker`` as a real process: killed with SIGKILL mid-delivery, nothing is lost; two of
them on one PostgreSQL send nothing twice and never reuse a rotating refresh token."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.delivery.world import World, world
from tests.outbound.configs import refresh_grant
from tests.servers.oauth import run_oauth_server
from tests.servers.postgres import create_database
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.settings import Settings

TICKETS = 16
SLOW = {"name": "open incident", "on": {"trigger": "CREATE"},
        "request": {"method": "POST", "path": "/sleep/1500",
                    "body": '{"subject": "{{ticket_subject}}"}'}}


@contextmanager
def wi_worker(
    settings: Settings, *args: str, lease_seconds: float = 2
) -> Iterator[subprocess.Popen[bytes]]:
    """``wi worker`` on the test's database, with a short lease so a crash is noticed soon."""
    env = {**os.environ, "WI_DATA_DIR": str(settings.data_dir),
           "WI_DELIVERY_LEASE_SECONDS": str(lease_seconds), "WI_DELIVERY_POLL_SECONDS": "0.2"}
    if settings.database_url:
        env["WI_DATABASE_URL"] = settings.database_url
    command = [str(Path(sys.executable).parent / "wi"), "worker", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def wait_for(
    check: Callable[[], bool], seconds: float, what: str, process: subprocess.Popen[bytes]
) -> None:
    """Poll until ``check`` holds; generous deadlines, since a loaded machine starts slowly."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        assert process.poll() is None, f"wi worker exited ({process.returncode}): " + (
            process.stdout.read().decode(errors="replace") if process.stdout else "")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_start(process: subprocess.Popen[bytes], seconds: float) -> None:
    """Wait until ``wi worker`` says it is delivering (its database and services are up)."""
    assert process.stdout is not None
    fd, seen = process.stdout.fileno(), b""
    deadline = time.monotonic() + seconds
    while b"WI worker delivering" not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"wi worker did not start: {seen.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], remaining)
        chunk = os.read(fd, 4096) if ready else b""
        assert chunk or not ready, f"wi worker exited: {seen.decode(errors='replace')}"
        seen += chunk


def delivered(w: World) -> int:
    return sum(1 for d in w.deliveries() if d.state == "delivered")


def test_a_worker_killed_mid_delivery_loses_nothing(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(any_db_settings, sc_simulator, receiver) as w:
        w.add_server("itsm")
        w.add_integration([SLOW])
        for n in range(3):
            ticket = w.simulator.create_ticket(f"ticket {n}")
            w.event(ticket.id, "CREATE")

        with wi_worker(any_db_settings, "--concurrency", "1") as first:
            wait_for(lambda: len(w.receiver.requests) >= 1, 120, "the first request", first)
            first.send_signal(signal.SIGKILL)  # mid-delivery: the receiver has not answered
            first.wait(10)
        with wi_worker(any_db_settings, "--concurrency", "2") as second:
            wait_for(lambda: delivered(w) == 3, 180, "every delivery", second)
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0

        rows = w.deliveries()
        assert {r.state for r in rows} == {"delivered"}
        by_key: dict[str, set[str]] = defaultdict(set)
        for seen in w.receiver.requests:
            by_key[seen.headers["idempotency-key"]].add(seen.headers["x-wi-delivery-id"])
        # Every delivery arrived; a duplicate (the killed attempt) carries the same key.
        assert sorted(by_key) == sorted(r.idempotency_key for r in rows)
        assert all(len(ids) == 1 for ids in by_key.values())
        assert len(w.receiver.requests) >= 3


@pytest.fixture
def pg_settings(pg_cluster: str, tmp_path: Path) -> Settings:
    """Settings on a fresh database of the suite's PostgreSQL."""
    return make_settings(tmp_path / "data", create_database(pg_cluster))


def test_two_workers_on_one_postgresql_never_send_twice_nor_reuse_a_refresh_token(
    pg_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver,
) -> None:
    with run_oauth_server() as oauth, world(pg_settings, sc_simulator, receiver) as w:
        oauth.expires_in = 1  # each process refreshes about every second while it sends
        w.add_server("itsm", auth=refresh_grant(oauth.token_url, oauth.issue_refresh_token()),
                     max_concurrency=4)
        # Four at a time, half a second each: sending spans several token lifetimes.
        w.add_integration([{**SLOW, "request": {**SLOW["request"], "path": "/sleep/500"}}])
        receiver.authorize = oauth.issued
        # A long lease: no delivery may be taken over, so none may arrive twice.
        with wi_worker(pg_settings, "--concurrency", "2", lease_seconds=20) as first, \
                wi_worker(pg_settings, "--concurrency", "2", lease_seconds=20) as second:
            for process in (first, second):  # both take part from the first event on
                wait_for_start(process, 120)
            for n in range(TICKETS):
                w.event(w.simulator.create_ticket(f"ticket {n}").id, "CREATE")
            owners: set[str] = set()

            def all_delivered() -> bool:
                rows = w.deliveries()
                owners.update(r.lease_owner for r in rows
                              if r.state == "in_flight" and r.lease_owner)
                return len(rows) == TICKETS and {r.state for r in rows} == {"delivered"}

            wait_for(all_delivered, 120, "every delivery", first)
            assert second.poll() is None
            for process in (first, second):
                process.send_signal(signal.SIGTERM)
            assert first.wait(20) == 0 and second.wait(20) == 0

        assert len({owner.split(":")[1] for owner in owners}) == 2  # both processes sent
        keys = Counter(r.headers["idempotency-key"] for r in receiver.requests)
        assert sorted(keys) == sorted(d.idempotency_key for d in w.deliveries())
        assert set(keys.values()) == {1}  # no delivery sent twice
        assert oauth.requests["refresh_token"] >= 2  # the token rotated while both sent
        assert oauth.refresh_reused == 0  # and no refresh token was presented twice

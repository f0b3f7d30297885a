"""``wi worker`` as a real process: killed with SIGKILL mid-delivery, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.delivery.world import World, world
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.settings import Settings

SLOW = {"name": "open incident", "on": {"trigger": "CREATE"},
        "request": {"method": "POST", "path": "/sleep/1500",
                    "body": '{"subject": "{{ticket_subject}}"}'}}


@contextmanager
def wi_worker(settings: Settings, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``wi worker`` on the test's database, with a short lease so a crash is noticed soon."""
    env = {**os.environ, "WI_DATA_DIR": str(settings.data_dir),
           "WI_DELIVERY_LEASE_SECONDS": "2", "WI_DELIVERY_POLL_SECONDS": "0.2"}
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

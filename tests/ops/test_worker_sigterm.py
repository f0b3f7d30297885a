"""``wi worker`` stops cleanly on SIGTERM during a slow delivery, and a restart loses nothing."""

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


def _slow(millis: int) -> dict[str, object]:
    return {"name": "open incident", "on": {"trigger": "CREATE"},
            "request": {"method": "POST", "path": f"/sleep/{millis}",
                        "body": '{"subject": "{{ticket_subject}}"}'}}


@contextmanager
def wi_worker(settings: Settings, drain_seconds: float, concurrency: int = 1,
              **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """``wi worker`` (one send at a time unless told) on the test's database with this grace
    period."""
    env = {**os.environ, "WI_DATA_DIR": str(settings.data_dir),
           "WI_DELIVERY_DRAIN_SECONDS": str(drain_seconds), "WI_DELIVERY_POLL_SECONDS": "0.2",
           "WI_LOG_FORMAT": "json", **extra}
    if settings.database_url:
        env["WI_DATABASE_URL"] = settings.database_url
    command = [str(Path(sys.executable).parent / "wi"), "worker", "--concurrency", str(concurrency)]
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


def _wait(check: Callable[[], bool], seconds: float, what: str,
          process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert process.poll() is None, f"wi worker exited ({process.returncode})"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _states(w: World) -> list[str]:
    return [d.state for d in w.deliveries()]


def _output(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    return process.stdout.read().decode(errors="replace")


def _one_key_per_delivery(w: World) -> None:
    """Every delivery arrived; a repeated request carries the same Idempotency-Key."""
    rows = w.deliveries()
    by_key: dict[str, set[str]] = defaultdict(set)
    for seen in w.receiver.requests:
        by_key[seen.headers["idempotency-key"]].add(seen.headers["x-wi-delivery-id"])
    assert sorted(by_key) == sorted(r.idempotency_key for r in rows)
    assert all(len(ids) == 1 for ids in by_key.values())


def test_sigterm_finishes_the_slow_delivery_within_the_grace_period(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(any_db_settings, sc_simulator, receiver) as w:
        w.add_server("itsm")
        w.add_integration([_slow(2000)])
        for n in range(3):
            w.event(w.simulator.create_ticket(f"ticket {n}").id, "CREATE")

        with wi_worker(any_db_settings, drain_seconds=30) as first:
            _wait(lambda: len(w.receiver.requests) == 1, 120, "the first request", first)
            first.send_signal(signal.SIGTERM)  # the receiver holds the request for 2 s
            assert first.wait(30) == 0, _output(first)
        # It stopped claiming: only the request in flight went out, and it was finished.
        assert len(w.receiver.requests) == 1
        assert sorted(_states(w)) == ["delivered", "pending", "pending"]

        with wi_worker(any_db_settings, drain_seconds=30) as second:
            _wait(lambda: _states(w) == ["delivered"] * 3, 120, "every delivery", second)
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        assert len(w.receiver.requests) == 3  # nothing sent twice
        _one_key_per_delivery(w)


def test_sigterm_releases_a_delivery_that_outlasts_the_grace_period(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(any_db_settings, sc_simulator, receiver) as w:
        w.add_server("itsm")
        w.add_integration([_slow(8000)])
        for n in range(2):
            w.event(w.simulator.create_ticket(f"ticket {n}").id, "CREATE")

        with wi_worker(any_db_settings, drain_seconds=0.5) as first:
            _wait(lambda: len(w.receiver.requests) == 1, 120, "the first request", first)
            signalled = time.monotonic()
            first.send_signal(signal.SIGTERM)
            assert first.wait(30) == 0, _output(first)
            stopped_after = time.monotonic() - signalled
        # Handed back unsent within the grace period (plus shutdown), not waited for.
        assert stopped_after < 7.5
        rows = w.deliveries()
        assert [r.state for r in rows] == ["pending", "pending"]
        assert [r.attempts for r in rows] == [0, 0]  # the released attempt is not counted
        assert all(r.lease_owner is None for r in rows)

        # Both at once: the receiver holds each for 8 s.
        with wi_worker(any_db_settings, drain_seconds=30, concurrency=2) as second:
            _wait(lambda: _states(w) == ["delivered"] * 2, 180, "every delivery", second)
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        # The released request was sent again, with its delivery's Idempotency-Key.
        assert len(w.receiver.requests) == 3
        _one_key_per_delivery(w)

"""SecureChange simulator → real wi-trigger → WI intake → stored event, nothing lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
import uvicorn

from tests.servers.live_wi import free_port
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.app import Services, build_services, create_app
from workflow_integrator.domain.events import WORKFLOW_EVENTS
from workflow_integrator.settings import Settings


@dataclass
class RestartableWI:
    """WI on a fixed port that a test can stop and start again (same database)."""

    settings: Settings
    services: Services
    port: int
    token: str
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app = create_app(self.settings, self.services)
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "WI did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def events(self) -> list[dict[str, object]]:
        with httpx2.Client(base_url=self.url, trust_env=False,
                           headers={"Authorization": f"Bearer {self.token}"}) as client:
            found: list[dict[str, object]] = client.get("/api/v1/events",
                                                        params={"limit": 1000}).json()
        return sorted(found, key=lambda e: int(str(e["id"])))


@pytest.fixture
def wi(wi_settings: Settings) -> Iterator[RestartableWI]:
    services = build_services(wi_settings)
    _, token = services.tokens.create("securechange-trigger", "admin")
    server = RestartableWI(wi_settings, services, free_port(), token)
    server.start()
    try:
        yield server
    finally:
        if server._thread is not None and server._thread.is_alive():
            server.stop()
        services.close()


def test_every_event_type_arrives_once(sc_simulator: SimulatorHandle, wi: RestartableWI) -> None:
    sim = sc_simulator
    sim.trigger_wi(wi.url, wi.token, timeout=5)
    expected: list[tuple[int, str]] = []

    main = sim.create_ticket("every event", fields={"Environment": "Production"})
    sim.wait_for_triggers()
    expected.append((main.id, "CREATE"))
    for event, move in (("ADVANCE", "advance"), ("REDO", "redo"), ("ADVANCE", "advance"),
                        ("AUTOMATION_FAILED", "automation-failure"), ("RESOLVE", "resolve"),
                        ("REOPEN", "reopen"), ("CLOSE", "close")):
        sim.move(main.id, move)
        sim.wait_for_triggers()
        expected.append((main.id, event))
    other = sim.create_ticket("rejected one")
    sim.wait_for_triggers()
    expected.append((other.id, "CREATE"))
    for event, move in (("REJECT", "reject"), ("RESUBMIT", "resubmit"), ("CANCEL", "cancel")):
        sim.move(other.id, move)
        sim.wait_for_triggers()
        expected.append((other.id, event))

    stored = wi.events()
    assert [(e["ticket_id"], e["event"]) for e in stored] == expected
    assert {e["event"] for e in stored} == {e.value for e in WORKFLOW_EVENTS}
    assert all(e["received_count"] == 1 and e["state"] == "pending" for e in stored)
    assert all(r.exit_code == 0 and r.attempt == 1 for r in sim.runs)
    assert len(sim.runs) == len(expected)
    # The ADVANCE document carried the completed step.
    with httpx2.Client(base_url=wi.url, trust_env=False,
                       headers={"Authorization": f"Bearer {wi.token}"}) as client:
        advance = client.get(f"/api/v1/events/{stored[1]['id']}").json()
    assert advance["info"]["completion_stage"]["name"] == "Open request"
    assert "<completion_data>" in advance["document"]


def test_wi_down_while_securechange_fires(sc_simulator: SimulatorHandle,
                                          wi: RestartableWI) -> None:
    sim = sc_simulator
    sim.trigger_wi(wi.url, wi.token, timeout=1, delays=(0.5, 1.0, 2.0, 4.0))
    wi.stop()
    ticket = sim.create_ticket("while WI is down")
    sim.move(ticket.id, "advance")
    deadline = time.monotonic() + 20
    # Wait until both events have failed at least once, so the retry really matters.
    while {r.event for r in sim.runs if r.exit_code != 0} != {"CREATE", "ADVANCE"}:
        assert time.monotonic() < deadline, f"no failed attempts seen: {sim.runs}"
        time.sleep(0.05)
    failed = [r for r in sim.runs if r.exit_code != 0]
    assert all("cannot reach WI" in r.stderr for r in failed)
    wi.start()
    sim.wait_for_triggers(60)

    stored = wi.events()
    assert sorted((e["ticket_id"], e["event"]) for e in stored) == sorted(
        [(ticket.id, "CREATE"), (ticket.id, "ADVANCE")])
    assert all(e["received_count"] == 1 for e in stored)
    for event in ("CREATE", "ADVANCE"):
        runs = [r for r in sim.runs if r.event == event]
        assert runs[-1].exit_code == 0 and len(runs) >= 2
        assert all(r.exit_code != 0 for r in runs[:-1])

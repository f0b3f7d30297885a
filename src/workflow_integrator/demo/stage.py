"""``wi demo``'s stage: WI on a fresh data folder, the SecureChange simulator, an HTTPS
ITSM with OAuth 2.0, and a few tickets moved through a workflow by the real trigger path.

:class:`Demo` starts everything, configures WI through its REST API as an admin would,
moves the tickets and reports what happened; :meth:`Demo.stop` stops all it started.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from workflow_integrator.api.client_address import SERVER_OPTIONS
from workflow_integrator.app import Services, build_services, create_app
from workflow_integrator.demo.background import BackgroundServer
from workflow_integrator.demo.certificates import issue_local_certificate
from workflow_integrator.demo.itsm import INCIDENTS, Itsm
from workflow_integrator.domain.ticket import JsonValue, Ticket
from workflow_integrator.securechange.simulator import SimulatorServer, TriggerConfig
from workflow_integrator.securechange.simulator.triggers import wi_trigger_command
from workflow_integrator.settings import Settings

WORKFLOW = "Firewall Change Request"
SERVER = "demo-itsm"
#: The step whose entry opens an incident and whose exit resolves it.
IMPLEMENTATION = "Implementation"
TICKETS = (
    "Open 443 from the web farm to the payment API",
    "Allow backup traffic to the DR site",
    "Temporary SSH access for a vendor",
)
#: How long the tickets may take to go all the way through (first start included).
PATIENCE_SECONDS = 120
#: The ticket fields the ITSM's answer is written into.
WRITTEN_BACK = ("External Ticket", "External Status")


class DemoStopped(Exception):
    """Stopping was asked for (Ctrl-C, SIGTERM) before the demo finished setting up."""


class DemoFailed(Exception):
    """Something the demo waited for did not happen; the message says what."""


@dataclass(frozen=True, slots=True)
class TicketOutcome:
    """One ticket as the demo left it: where it is, what was written back, its deliveries."""

    id: int
    subject: str
    step: str
    written_back: dict[str, Any]
    deliveries: list[dict[str, Any]]


@dataclass
class Report:
    """What the demo did and where to look."""

    wi_url: str
    sign_in: tuple[str, str]
    token_file: Path
    data_dir: Path
    simulator_url: str
    simulator_login: tuple[str, str]
    itsm_url: str
    itsm_ca_file: Path
    token_requests: int
    tickets: list[TicketOutcome] = field(default_factory=list)


class Demo:
    """Everything ``wi demo`` runs, in this process; ``stopping`` interrupts the set-up."""

    def __init__(self, data_dir: Path, *, port: int, sim_port: int = 0, itsm_port: int = 0,
                 stopping: threading.Event, say: Callable[[str], None],
                 remove_data: bool = False) -> None:
        self.data_dir = data_dir
        self._ports = (port, sim_port, itsm_port)
        self._stopping = stopping
        self._say = say
        self._remove_data = remove_data
        self._servers: list[BackgroundServer] = []
        self._simulator: SimulatorServer | None = None
        self._services: Services | None = None
        self.itsm = Itsm.with_random_credentials()

    def run(self) -> Report:
        """Start everything, configure WI, move the tickets; the report of what happened."""
        port, sim_port, itsm_port = self._ports
        certificate = issue_local_certificate(self.data_dir / "demo-tls", "itsm")
        itsm = BackgroundServer(self.itsm.app(), port=itsm_port, name="the ITSM",
                                certfile=str(certificate.certfile),
                                keyfile=str(certificate.keyfile))
        self._servers.append(itsm.start())
        self.itsm.oauth.url = self.itsm.receiver.url = itsm.url
        self._say(f"ITSM (HTTPS, OAuth 2.0) on {itsm.url}")
        simulator = SimulatorServer(state_file=self.data_dir / "securechange-sim.json",
                                    port=sim_port)
        try:
            self._simulator = simulator.start()
        except OSError as exc:
            raise OSError(f"the SecureChange simulator: cannot listen on 127.0.0.1:{sim_port} "
                          f"({exc.strerror})") from None
        self._say(f"SecureChange simulator on {self._simulator.url}")
        self._check()
        services, admin_token, sign_in, token_file = self._start_wi(port)
        wi = self._servers[-1]
        self._say(f"WI on {wi.url} (data in {self.data_dir})")
        with httpx2.Client(base_url=wi.url, trust_env=False, timeout=30,
                           headers={"Authorization": f"Bearer {admin_token}"}) as api:
            self._configure(api, certificate.ca_pem)
            _, trigger_token = services.tokens.create("securechange-demo", "trigger")
            self._simulator.simulator.triggers.configure(TriggerConfig(
                command=tuple(wi_trigger_command()), delays=(0.5, 1.0, 2.0, 4.0), timeout=15,
                env={"WI_URL": wi.url, "WI_API_TOKEN": trigger_token, "WI_TIMEOUT": "10"},
            ))
            ids = self._move_tickets()
            tickets = [self._outcome(api, ticket_id) for ticket_id in ids]
        return Report(
            wi_url=wi.url, sign_in=sign_in, token_file=token_file, data_dir=self.data_dir,
            simulator_url=self._simulator.url,
            simulator_login=(self._simulator.username, self._simulator.password),
            itsm_url=itsm.url, itsm_ca_file=certificate.cafile,
            token_requests=self.itsm.oauth.token_requests, tickets=tickets,
        )

    def stop(self) -> None:
        """Stop everything started, newest first; remove a temporary data folder."""
        if self._simulator is not None:
            triggers = self._simulator.simulator.triggers
            triggers.configure(TriggerConfig())  # no new trigger runs
            triggers.wait_idle(timeout=20)
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None
        if self._services is not None:
            self._services.close()
            self._services = None
        if self._remove_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _check(self) -> None:
        if self._stopping.is_set():
            raise DemoStopped

    def _start_wi(self, port: int) -> tuple[Services, str, tuple[str, str], Path]:
        settings = Settings(
            data_dir=self.data_dir, database_url=None, secret_key=None, secret_key_file=None,
            plugin_dir=None, host="127.0.0.1", port=port, serve_workers=True,
        )
        self._services = services = build_services(settings)
        _, admin_token = services.tokens.create("demo-admin", "admin")
        token_file = self.data_dir / "demo-admin-token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(admin_token + "\n")
        first = services.users.ensure_initial_admin(self.data_dir)
        if first is None:
            raise DemoFailed(f"{self.data_dir} already has users; give a new, empty --data")
        name, password, _ = first
        wi = BackgroundServer(create_app(settings, services), port=port, name="WI",
                              lifespan="on", **SERVER_OPTIONS)
        self._servers.append(wi.start())
        return services, admin_token, (name, password), token_file

    def _configure(self, api: httpx2.Client, ca_pem: str) -> None:
        assert self._simulator is not None
        sim = self._simulator
        oauth = self.itsm.oauth
        _expect(api.put("/api/v1/securechange", json={
            "host": sim.url, "username": sim.username, "password": sim.password,
            "timeout_seconds": 10}), "pointing WI at the simulator")
        _expect(api.post("/api/v1/outbound-servers", json={
            "name": SERVER, "host": self.itsm.receiver.url.removeprefix("https://"),
            "protocol": "https", "verify_certificate": "certificate", "certificate": ca_pem,
            "auth": {"method": "oauth2", "grant_type": "password", "token_url": oauth.token_url,
                     "username": oauth.username, "password": oauth.password,
                     "client_id": oauth.client_id, "client_secret": oauth.client_secret},
        }), "creating the outbound server")
        _expect(api.post("/api/v1/integrations", json={
            "workflow": WORKFLOW, "default_server": SERVER,
            "fields": dict.fromkeys(WRITTEN_BACK, "text_field"),
            "points": [
                {"name": "open incident", "on": {"step": IMPLEMENTATION, "when": "inbound"},
                 "request": {"method": "POST", "path": INCIDENTS,
                             "body": '{"short_description": "{{ticket_subject}}", '
                                     '"correlation_id": "SC-{{ticket_id}}"}'},
                 "response": {"fields": dict(zip(WRITTEN_BACK, ("result.number",
                                                                "result.state"), strict=True))}},
                {"name": "resolve incident", "on": {"step": IMPLEMENTATION, "when": "outbound"},
                 "request": {"method": "PATCH", "path": INCIDENTS + "/{{External Ticket}}",
                             "body": '{"state": "Resolved"}'}},
            ],
        }), "creating the integration")

    def _move_tickets(self) -> list[int]:
        assert self._simulator is not None
        sim = self._simulator.simulator
        ids = []
        for subject in TICKETS:
            ticket = sim.create_ticket(subject, WORKFLOW, requester="api")
            ids.append(ticket.id)
            self._say(f"ticket {ticket.id} created: {subject}")
        for _ in range(2):  # Open request → Business Approval → Implementation
            self._wait(lambda: sim.triggers.wait_idle(0.2), "the trigger runs")
            for ticket_id in ids:
                sim.move(ticket_id, "advance")
        self._say(f"tickets {', '.join(map(str, ids))} advanced to {IMPLEMENTATION}")
        self._wait(lambda: all(_text(sim.ticket(i), WRITTEN_BACK[0]) for i in ids),
                   "the incident numbers written back into the tickets")
        first = ids[0]
        sim.move(first, "advance")
        self._say(f"ticket {first} advanced past {IMPLEMENTATION}")
        self._wait(lambda: any(r.method == "PATCH" for r in list(self.itsm.receiver.requests)),
                   "the incident update")
        self._wait(lambda: sim.triggers.wait_idle(0.2), "the trigger runs")
        return ids

    def _outcome(self, api: httpx2.Client, ticket_id: int) -> TicketOutcome:
        assert self._simulator is not None

        def settled() -> bool:
            items = _expect(api.get("/api/v1/deliveries", params={"ticket_id": ticket_id}),
                            "reading deliveries")["items"]
            return bool(items) and all(d["state"] in ("delivered", "dead", "cancelled")
                                       and d["writeback"]["state"] != "pending" for d in items)

        self._wait(settled, f"ticket {ticket_id}'s deliveries")
        items = _expect(api.get("/api/v1/deliveries", params={"ticket_id": ticket_id}),
                        "reading deliveries")["items"]
        ticket = self._simulator.simulator.ticket(ticket_id)
        step = ticket.current_step.name if ticket.current_step else ticket.status
        written = {name: _text(ticket, name) for name in WRITTEN_BACK}
        return TicketOutcome(ticket_id, ticket.subject, step, written, list(reversed(items)))

    def _wait(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not check():
            self._check()
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out after {PATIENCE_SECONDS} s waiting for {what}")
            time.sleep(0.1)


def _expect(response: httpx2.Response, doing: str) -> Any:
    if response.status_code >= 400:
        raise DemoFailed(f"{doing}: WI answered {response.status_code} {response.text}")
    return response.json()


def _text(ticket: Ticket, name: str) -> JsonValue:
    found = ticket.field(name, IMPLEMENTATION)
    return found.value if found is not None else None

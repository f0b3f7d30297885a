"""A peer that hangs never freezes WI: ``/healthz`` answers while a request waits on it.

SecureChange and the outbound server are real TCP listeners on 127.0.0.1 that accept
the connection and never answer (tests/servers/silent.py); WI is served over real HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from tests.integrations.test_ui import admin, form_of, ui  # noqa: F401  (fixtures)
from tests.outbound.configs import password_grant
from tests.servers.live_wi import LiveWI
from tests.servers.silent import SilentServer, silent_server

# Generous: the peer never answers, so the request ends only when the test hangs up.
PEER_TIMEOUT = 120
HEALTH_DEADLINE = 20


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


class InFlight:
    """A request sent in a thread of the test, so the test can look at WI meanwhile."""

    def __init__(self, send: Callable[[], httpx2.Response]) -> None:
        self.response: httpx2.Response | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self._thread.start()

    def _run(self, send: Callable[[], httpx2.Response]) -> None:
        try:
            self.response = send()
        except BaseException as exc:  # reported by result()
            self.error = exc

    @property
    def pending(self) -> bool:
        return self._thread.is_alive()

    def result(self) -> httpx2.Response:
        self._thread.join(timeout=PEER_TIMEOUT)
        assert not self._thread.is_alive(), "the request never ended"
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def assert_healthy_while(request: InFlight, silent: SilentServer, live: LiveWI) -> None:
    """The request waits on the silent peer; meanwhile /healthz answers."""
    silent.wait_for_connection()
    with httpx2.Client(base_url=live.url, trust_env=False, timeout=HEALTH_DEADLINE) as client:
        health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert request.pending, "the request should still be waiting on the silent peer"


def connect_securechange(live: LiveWI, silent: SilentServer) -> None:
    settings = {
        "host": silent.host,
        "protocol": "http",
        "username": "wi",
        "password": "sc-password",
        "timeout_seconds": PEER_TIMEOUT,
    }
    with live.client() as client:
        assert client.put("/api/v1/securechange", json=settings).status_code == 200


def test_preview_by_ticket_id_through_the_api_does_not_block(
    ui: LiveWI,  # noqa: F811
    silent: SilentServer,
) -> None:
    connect_securechange(ui, silent)

    def send() -> httpx2.Response:
        with ui.client() as client:
            client.timeout = httpx2.Timeout(PEER_TIMEOUT)
            return client.post(
                "/api/v1/integrations/Access Request/preview",
                json={"event": "CREATE", "ticket_id": 445},
            )

    request = InFlight(send)
    assert_healthy_while(request, silent, ui)
    silent.hang_up()
    response = request.result()
    assert response.status_code == 422
    assert "cannot read ticket 445 from SecureChange" in response.text


def test_preview_by_ticket_id_in_the_editor_does_not_block(
    ui: LiveWI,  # noqa: F811
    admin: httpx2.Client,  # noqa: F811
    silent: SilentServer,
) -> None:
    connect_securechange(ui, silent)
    form = form_of(admin.get("/integrations/Access%20Request/edit").text)
    form.update({"action": "preview", "preview_ticket_id": "445", "preview_event": "CREATE"})
    admin.timeout = httpx2.Timeout(PEER_TIMEOUT)

    request = InFlight(lambda: admin.post("/integrations/Access%20Request/edit", data=form))
    assert_healthy_while(request, silent, ui)
    silent.hang_up()
    response = request.result()
    assert response.status_code == 422
    assert "cannot read ticket 445 from SecureChange" in response.text


def hanging_server(silent: SilentServer, auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "hangs",
        "host": silent.host,
        "protocol": "http",
        "timeout_seconds": PEER_TIMEOUT,
        "auth": auth,
    }


@pytest.mark.parametrize(
    ("action", "auth"),
    [
        ("fetch-token", "oauth2"),
        ("test", "basic"),
    ],
)
def test_fetch_token_and_test_connection_do_not_block(
    live_wi: LiveWI, silent: SilentServer, action: str, auth: str
) -> None:
    method = (
        password_grant(f"http://{silent.host}/oauth/token")
        if auth == "oauth2"
        else {"method": "basic", "username": "wi", "password": "pw"}
    )
    with live_wi.client() as client:
        created = client.post("/api/v1/outbound-servers", json=hanging_server(silent, method))
        assert created.status_code == 201, created.text

    def send() -> httpx2.Response:
        with live_wi.client() as client:
            client.timeout = httpx2.Timeout(PEER_TIMEOUT)
            return client.post(f"/api/v1/outbound-servers/hangs/{action}")

    request = InFlight(send)
    assert_healthy_while(request, silent, live_wi)
    silent.hang_up()
    response = request.result()
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is False

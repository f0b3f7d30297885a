"""The delivery engine in operation: metrics, readiness, failure e-mails and its logs,
against a real receiver, the SecureChange simulator and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.delivery.world import World, world
from tests.ops.test_metrics import _sample
from tests.outbound.configs import password_grant
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from tests.servers.smtp import mail_server
from workflow_integrator import logs
from workflow_integrator.api.health import readyz
from workflow_integrator.delivery.runners import DeliveryRunners, delivery_runners
from workflow_integrator.settings import Settings

CREATE = {"name": "open incident", "on": {"trigger": "CREATE"},
          "request": {"method": "POST", "path": "/api/incident",
                      "body": '{"subject": "{{ticket_subject}}"}'}}
REFUSED = {**CREATE, "request": {**CREATE["request"], "path": "/status/400"}}
NOC = "noc@example.com"


def _wired(w: World) -> DeliveryRunners:
    """The runners a delivering process builds (metrics, readiness, notices), on the
    world's manual clock; the world's helpers then drive this engine."""
    runners = delivery_runners(w.services, clock=w.clock)
    w.engine = runners.engine
    return runners


async def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _tickets(w: World, count: int) -> list[int]:
    ids = []
    for n in range(count):
        ticket = w.simulator.create_ticket(f"ticket {n}")
        w.event(ticket.id, "CREATE")
        ids.append(ticket.id)
    return ids


async def test_metrics_count_real_deliveries(
    wi_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(wi_settings, sc_simulator, receiver) as w:
        _wired(w)
        w.add_server("itsm")
        w.add_server("refusing")
        w.add_integration([CREATE, {**REFUSED, "name": "refused", "server": "refusing"}])
        _tickets(w, 3)
        await w.plan()
        await w.send()
        text = w.services.metrics.exposition().decode()
    instance = w.services.metrics.instance
    assert _sample(text, "wi_delivery_attempts_total", outcome="delivered",
                   status_class="2xx", wi_instance=instance) == 3
    assert _sample(text, "wi_delivery_attempts_total", outcome="dead",
                   status_class="4xx", wi_instance=instance) == 3
    assert _sample(text, "wi_delivery_latency_seconds_count", wi_instance=instance) == 3
    # Figures from the database: what every process reports alike.
    assert _sample(text, "wi_deliveries", state="delivered") == 3
    assert _sample(text, "wi_deliveries", state="dead") == 3
    assert _sample(text, "wi_deliveries", state="pending") == 0
    assert _sample(text, "wi_queue_depth", server="itsm") == 0
    assert _sample(text, "wi_circuit_breaker_state", server="itsm", state="closed") == 1


async def test_token_fetches_are_counted_per_server(
    wi_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver,
    oauth_server: OAuthServer,
) -> None:
    with world(wi_settings, sc_simulator, receiver) as w:
        _wired(w)
        good = w.add_server("itsm", auth=password_grant(oauth_server.token_url))
        bad = w.add_server("locked", auth=password_grant(
            oauth_server.token_url, client_secret="not-the-client-secret"))
        w.add_integration([CREATE, {**CREATE, "name": "also", "server": "locked"}])
        _tickets(w, 2)
        await w.plan()
        await w.send()
        states = {(d.server_id, d.state) for d in w.deliveries()}
        text = w.services.metrics.exposition().decode()
    instance = w.services.metrics.instance
    assert (good, "delivered") in states and (bad, "delivered") not in states
    # One token for both deliveries to itsm; the refused fetch stops the other server's.
    assert _sample(text, "wi_token_fetches_total", server_id=str(good), outcome="ok",
                   wi_instance=instance) == 1
    assert (_sample(text, "wi_token_fetches_total", server_id=str(bad), outcome="failed",
                    wi_instance=instance) or 0) >= 1
    assert _sample(text, "wi_server_info", server_id=str(bad), server="locked") == 1


async def test_queue_figures_show_held_and_pending_per_server(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(any_db_settings, sc_simulator, receiver) as w:
        _wired(w)
        w.add_server("itsm")
        w.add_integration([CREATE])
        _tickets(w, 2)
        await w.plan()
        pending = w.services.metrics.exposition().decode()
        w.services.servers.update("itsm", {"enabled": False})
        w.queue.refresh_held(w.clock.now())
        w.clock.advance(90)
        held = w.services.metrics.exposition().decode()
    assert _sample(pending, "wi_queue_depth", server="itsm") == 2
    assert _sample(held, "wi_queue_depth", server="itsm") == 0
    assert _sample(held, "wi_held_deliveries", server="itsm", reason="disabled") == 2


async def test_dead_deliveries_are_mailed_once_in_one_digest(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    any_db_settings.public_url = "https://wi.example.com"
    captured = io.StringIO()
    logs.configure("info", "json", captured)
    with world(any_db_settings, sc_simulator, receiver) as w, mail_server("starttls") as smtp:
        runners = _wired(w)
        w.services.smtp.replace(smtp.settings())
        w.add_server("itsm")
        w.add_integration([REFUSED], notify_on_failure={"addresses": [NOC]})
        with logs.bound(request_id="req-4400"):
            tickets = _tickets(w, 2)
        # The whole process: engine, notices and mailer loops, as `wi worker` runs them.
        for runner in runners.in_start_order:
            await runner.start()
        try:
            await _until(lambda: len(smtp.messages) >= 1, 60, "the failure e-mail")
            await _until(lambda: w.services.failure_mails.recent()[0]["state"] == "sent", 30,
                         "the e-mail recorded as sent")
            assert await runners.notices.run_once() == 0  # each failure is told once
        finally:
            for runner in reversed(runners.in_start_order):
                await runner.stop()
            logs.configure("warning", "text")
        rows = w.deliveries()
        outbox = w.services.failure_mails.recent()
        text = w.services.metrics.exposition().decode()
    assert [r.state for r in rows] == ["dead", "dead"]
    [mail] = smtp.messages
    assert mail.rcpt_tos == [NOC] and mail.login is not None
    assert mail.message["Subject"] == "WI: 2 deliveries failed (itsm)"
    body = mail.message.get_payload()
    assert isinstance(body, str)
    for row, ticket in zip(rows, tickets, strict=True):
        assert f"Ticket {ticket}, workflow Firewall Change Request, point open incident" in body
        assert f"https://wi.example.com/deliveries/{row.id}" in body
    assert "server itsm: dead (gave up)" in body and "answered 400" in body
    # Every sent e-mail is recorded, with the deliveries it was about.
    assert [(m["recipient"], m["state"], sorted(m["delivery_ids"])) for m in outbox] == [
        (NOC, "sent", sorted(r.id for r in rows))]
    assert _sample(text, "wi_emails_total", kind="failure", outcome="sent",
                   wi_instance=w.services.metrics.instance) == 1
    # The log says which delivery was told of, with the request that brought its event,
    # and which deliveries the sent e-mail was about.
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    told = {line["delivery_id"]: line for line in lines
            if line["logger"] == "workflow_integrator.delivery.notices"}
    assert sorted(told) == sorted(r.id for r in rows)
    assert {line.get("request_id") for line in told.values()} == {"req-4400"}
    [sent] = [line for line in lines if line["logger"] == "workflow_integrator.delivery.mailer"]
    assert sorted(sent["delivery_ids"]) == sorted(r.id for r in rows)


async def test_a_delivery_held_too_long_is_mailed_once(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    any_db_settings.held_notify_after_seconds = 3600
    with world(any_db_settings, sc_simulator, receiver) as w, mail_server("starttls") as smtp:
        runners = _wired(w)
        w.services.smtp.replace(smtp.settings())
        w.add_server("itsm")
        w.add_integration([CREATE], notify_on_failure={"addresses": [NOC]})
        [ticket] = _tickets(w, 1)
        await w.plan()
        w.services.servers.update("itsm", {"enabled": False})
        w.queue.refresh_held(w.clock.now())
        assert [r.state for r in w.deliveries()] == ["held"]
        w.clock.advance(timedelta(minutes=59))
        assert await runners.notices.run_once() == 0  # not held long enough yet
        w.clock.advance(timedelta(minutes=2))
        assert await runners.notices.run_once() == 1
        w.clock.advance(timedelta(hours=5))
        assert await runners.notices.run_once() == 0  # one e-mail per hold
        assert await w.services.failure_mails.send_due(w.clock.now()) == 1
    [mail] = smtp.messages
    assert mail.message["Subject"] == (
        f"WI: ticket {ticket} (Firewall Change Request) is held to itsm")
    assert "disabled or needs credentials" in mail.message.get_payload()
    assert receiver.requests == []


async def test_readiness_follows_the_engine(
    wi_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(wi_settings, sc_simulator, receiver) as w:
        runners = _wired(w)

        def workers() -> tuple[int, dict[str, object]]:
            answer = readyz(w.services)
            body = json.loads(bytes(answer.body))
            return answer.status_code, body

        status, body = workers()
        assert status == 503 and body["failing"] == ["workers"]
        assert body["checks"]["workers"]["detail"] == "the delivery engine is not running"
        await runners.engine.start()
        try:
            status, body = workers()
            assert status == 200, body
            assert "loops running" in body["checks"]["workers"]["detail"]  # type: ignore[index]
            # A loop that ends (a bug, a cancelled task) makes the process unready.
            planner = next(t for t in runners.engine._tasks if t.get_name() == "wi-planner")
            planner.cancel()
            await asyncio.gather(planner, return_exceptions=True)
            status, body = workers()
            assert status == 503 and body["failing"] == ["workers"]
            assert body["checks"]["workers"]["detail"] == (  # type: ignore[index]
                "delivery loops stopped: wi-planner")
        finally:
            await runners.engine.stop()


@pytest.mark.parametrize("auth", ["basic", "bearer"])
async def test_delivery_logs_name_the_delivery_and_never_a_secret(
    wi_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver, auth: str
) -> None:
    password = "pw-s3cr3t-0123456789"
    token = "tok-9f8e7d6c5b4a39281706"
    credentials = ({"method": "basic", "username": "wi", "password": password}
                   if auth == "basic" else {"method": "bearer", "token": token})
    captured = io.StringIO()
    logs.configure("debug", "json", captured)
    try:
        with world(wi_settings, sc_simulator, receiver) as w:
            _wired(w)
            w.add_server("itsm", auth=credentials)
            # The receiver refuses once, echoing the credential into its answer and a
            # retry: the attempt is logged with the reason.
            w.add_integration([{**CREATE, "request": {**CREATE["request"],
                                                      "path": "/status/503"}}])
            with logs.bound(request_id="req-7c1d"):
                _tickets(w, 1)
            await w.plan()
            await w.send()
            [row] = w.deliveries()
    finally:
        logs.configure("warning", "text")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    wire = (base64.b64encode(f"wi:{password}".encode()).decode() if auth == "basic"
            else token)
    raw = captured.getvalue()
    for secret in (password, token, wire):
        assert secret not in raw
    about = [line for line in lines if line["logger"].startswith(
        "workflow_integrator.delivery.worker")]
    assert about, raw
    assert all(line.get("delivery_id") == row.id for line in about)
    assert any("retry" in line["message"] for line in about)
    # The request that stored the event is named in planning and in the attempt.
    assert all(line.get("request_id") == "req-7c1d" for line in about)
    planning = [line for line in lines if line.get("event_id") == row.event_id]
    assert planning and all(line.get("request_id") == "req-7c1d" for line in planning)


def test_a_logged_secret_is_masked_by_the_one_rule() -> None:
    captured = io.StringIO()
    logs.configure("info", "json", captured)
    try:
        logs.remember_secrets(["client-secret-55aa77"])
        log = __import__("logging").getLogger("workflow_integrator.test")
        log.warning("token endpoint said no to client-secret-55aa77 at "
                    "https://wi:hunter22-pw@idp.example.com/token?access_token=abc123def",
                    extra={"header": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"})
    finally:
        logs.configure("warning", "text")
    line = json.loads(captured.getvalue())
    for secret in ("client-secret-55aa77", "hunter22-pw", "abc123def", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in captured.getvalue()
    assert "https://wi:********@idp.example.com/token" in line["message"]

"""The sender against real HTTP/HTTPS receivers, a real proxy and a real token endpoint."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import format_datetime

import pytest
from starlette.responses import JSONResponse, Response

from tests.delivery.parts import START, claimed, clock, point, ticket, values
from tests.outbound.configs import BASIC_PASSWORD, STATIC_TOKEN, password_grant, refresh_grant
from tests.outbound.configs import server as server_config
from tests.outbound.conftest import no_secret_in_logs  # noqa: F401 - applies here too
from tests.servers.oauth import OAuthServer
from tests.servers.outbound_plugin import TLSMaterial
from tests.servers.proxy import ProxyServer
from tests.servers.receiver import Received, Receiver
from tests.servers.uvicorn_thread import free_port
from workflow_integrator.delivery.sender import Sender, ServerRevision
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.outbound import MemoryTokenStore, TokenManager, TransportPool


@pytest.fixture
async def pool() -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    yield pool
    await pool.aclose()


@pytest.fixture
def manual_clock() -> ManualClock:
    return clock()


@pytest.fixture
def sender(pool: TransportPool, manual_clock: ManualClock) -> Sender:
    return Sender(pool, manual_clock, random.Random(7))


def basic_server(host: str, **fields: object) -> ServerRevision:
    auth = {"method": "basic", "username": "wi", "password": BASIC_PASSWORD}
    return ServerRevision(1, 1, server_config(host, auth=auth, **fields))


async def test_delivered_request_is_rendered_sent_and_recorded(
    sender: Sender, receiver: Receiver
) -> None:
    outcome = await sender.send(claimed(), point(), basic_server(receiver.host), values())

    assert outcome.kind == "delivered"
    assert outcome.status == 200
    seen = receiver.last()
    assert (seen.method, seen.path) == ("POST", "/api/now/table/incident")
    assert json.loads(seen.body) == {
        "short_description": 'Open "443" to the web farm', "correlation_id": 1001}
    assert seen.headers["idempotency-key"] == "wi-delivery-41"
    assert seen.headers["x-wi-delivery-id"] == "41"
    assert seen.headers["authorization"].startswith("Basic ")
    record = outcome.attempt
    assert record.started_at == START
    assert (record.method, record.url) == ("POST", f"{receiver.url}/api/now/table/incident")
    sent = dict((n.lower(), v) for n, v in record.request_headers)
    assert sent["authorization"] == f"Basic {MASK}"  # the scheme shows, the credential not
    assert sent["idempotency-key"] == "wi-delivery-41"
    assert json.loads(record.request_body or "") == json.loads(seen.body)
    assert record.response_status == 200
    assert json.loads(record.response_body or "") == {"received": "/api/now/table/incident"}


async def test_every_attempt_carries_the_same_idempotency_headers(
    sender: Sender, receiver: Receiver
) -> None:
    server = basic_server(receiver.host)
    first = await sender.send(claimed(attempt=1), point("/status/503"), server, values())
    second = await sender.send(claimed(attempt=2), point("/status/200"), server, values())

    assert (first.kind, second.kind) == ("retry", "delivered")
    keys = [(r.headers["idempotency-key"], r.headers["x-wi-delivery-id"])
            for r in receiver.requests]
    assert keys == [("wi-delivery-41", "41")] * 2


async def test_render_failure_is_dead_with_the_reason_and_nothing_is_sent(
    sender: Sender, receiver: Receiver
) -> None:
    bad = point(body='{"x": "{{No such field}}"}')
    outcome = await sender.send(claimed(), bad, basic_server(receiver.host), values())

    assert outcome.kind == "dead"
    assert "No such field" in outcome.reason
    assert outcome.attempt.stage == "render"
    assert receiver.requests == []


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
async def test_retryable_statuses_are_retried_with_backoff_from_about_one_second(
    sender: Sender, receiver: Receiver, status: int
) -> None:
    outcome = await sender.send(claimed(), point(f"/status/{status}"),
                                basic_server(receiver.host), values())

    assert outcome.kind == "retry"
    assert outcome.status == status
    assert outcome.retry_at is not None
    assert START <= outcome.retry_at <= START + timedelta(seconds=1)


async def test_backoff_grows_exponentially_with_full_jitter_and_is_capped(
    pool: TransportPool, manual_clock: ManualClock, receiver: Receiver
) -> None:
    server = basic_server(receiver.host)
    ceilings = {3: 4.0, 6: 32.0, 20: 600.0}
    for attempt, ceiling in ceilings.items():
        waits = []
        for seed in range(12):
            sender = Sender(pool, manual_clock, random.Random(seed))
            outcome = await sender.send(claimed(attempt=attempt), point("/status/500"),
                                        server, values())
            assert outcome.retry_at is not None
            waits.append((outcome.retry_at - START).total_seconds())
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # jitter spreads over the whole range, not near 0


async def test_retry_after_in_seconds_and_as_http_date_is_honoured(
    sender: Sender, receiver: Receiver, manual_clock: ManualClock
) -> None:
    server = basic_server(receiver.host)
    seconds = await sender.send(claimed(), point("/status/429?retry_after=7"), server, values())
    assert seconds.retry_at == START + timedelta(seconds=7)

    date = format_datetime(START + timedelta(minutes=3), usegmt=True)
    receiver.respond = lambda _seen: JSONResponse({}, 503, headers={"Retry-After": date})
    dated = await sender.send(claimed(), point("/x"), server, values())
    assert dated.retry_at == START + timedelta(minutes=3)


async def test_other_client_errors_are_dead_at_once_with_the_response_kept(
    sender: Sender, receiver: Receiver
) -> None:
    receiver.respond = lambda _seen: JSONResponse({"error": "no such table"}, 404)
    outcome = await sender.send(claimed(), point(), basic_server(receiver.host), values())

    assert outcome.kind == "dead"
    assert outcome.status == 404
    assert "404" in outcome.reason
    assert outcome.attempt.response_status == 404
    assert json.loads(outcome.attempt.response_body or "") == {"error": "no such table"}


async def test_network_error_is_retried_and_names_the_stage(sender: Sender) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    outcome = await sender.send(claimed(), point(), basic_server(nobody), values())

    assert outcome.kind == "retry"
    assert outcome.attempt.stage == "connect"
    assert outcome.attempt.response_status is None
    assert outcome.attempt.error_message and nobody in outcome.attempt.error_message
    assert outcome.retry_at is not None and outcome.retry_at <= START + timedelta(seconds=1)


async def test_timeout_is_retried(sender: Sender, receiver: Receiver) -> None:
    server = basic_server(receiver.host, timeout_seconds=0.2)
    outcome = await sender.send(claimed(), point("/sleep/1500"), server, values())

    assert outcome.kind == "retry"
    assert outcome.attempt.error_class is not None
    assert "Timeout" in outcome.attempt.error_class


async def test_a_retry_due_after_the_give_up_time_is_dead(
    sender: Sender, receiver: Receiver
) -> None:
    late = claimed(give_up_at=START + timedelta(seconds=5))
    outcome = await sender.send(late, point("/status/503?retry_after=60"),
                                basic_server(receiver.host), values())

    assert outcome.kind == "dead"
    assert "gave up" in outcome.reason
    assert outcome.status == 503


async def test_refused_refresh_token_holds_the_delivery(
    sender: Sender, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    refresh = oauth_server.issue_refresh_token()
    oauth_server.revoke_refresh_tokens()
    server = ServerRevision(3, 1, server_config(
        receiver.host, auth=refresh_grant(oauth_server.token_url, refresh)))
    outcome = await sender.send(claimed(server_id=3), point(), server, values())

    assert outcome.kind == "held"
    assert "refresh token" in outcome.reason
    assert receiver.requests == []


def _echo(seen: Received) -> Response:
    return JSONResponse({"headers": seen.headers, "echo": seen.body.decode()})


async def test_credentials_echoed_by_the_receiver_are_scrubbed_from_the_record(
    sender: Sender, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    receiver.respond = _echo
    bearer = ServerRevision(2, 1, server_config(
        receiver.host, auth={"method": "bearer", "token": STATIC_TOKEN},
        headers="X-Api-Key: key-0123456789, X-Team: net"))
    outcome = await sender.send(claimed(), point(), bearer, values())
    body = outcome.attempt.response_body or ""
    assert receiver.last().headers["authorization"] == f"Bearer {STATIC_TOKEN}"
    assert STATIC_TOKEN not in body and "key-0123456789" not in body
    assert MASK in body and "net" in body
    assert "key-0123456789" not in str(outcome.attempt.request_headers)

    oauth = ServerRevision(4, 1, server_config(
        receiver.host, auth=password_grant(oauth_server.token_url)))
    outcome = await sender.send(claimed(), point(), oauth, values())
    fetched = receiver.last().headers["authorization"].removeprefix("Bearer ")
    assert fetched in oauth_server.access
    assert fetched not in (outcome.attempt.response_body or "")

    basic = basic_server(receiver.host)
    outcome = await sender.send(claimed(), point(), basic, values())
    sent = receiver.last().headers["authorization"]
    assert sent.removeprefix("Basic ") not in (outcome.attempt.response_body or "")
    assert BASIC_PASSWORD not in repr(outcome)


async def test_response_mapping_values_are_taken_from_the_full_response(
    pool: TransportPool, manual_clock: ManualClock, receiver: Receiver
) -> None:
    receiver.respond = lambda _seen: JSONResponse(
        {"result": {"number": "INC0010001", "padding": "x" * 5000}})
    mapped = point(response={"fields": {"ITSM reference": "result.number",
                                        "Change window": "result.window"}})
    small = Sender(pool, manual_clock, random.Random(1), body_limit=200)
    outcome = await small.send(claimed(), mapped, basic_server(receiver.host), values())

    assert outcome.kind == "delivered"
    assert outcome.writeback == {"ITSM reference": "INC0010001"}
    assert outcome.unmapped == ("Change window",)
    assert "Change window" in outcome.reason
    body = outcome.attempt.response_body or ""
    assert len(body) < 300 and "more characters" in body


async def test_https_receiver_behind_a_forward_proxy(
    sender: Sender, tls_receiver: Receiver, forward_proxy: ProxyServer,
    tls_material: TLSMaterial, pool: TransportPool,
) -> None:
    server = basic_server(
        tls_receiver.host, protocol="https", verify_certificate="certificate",
        certificate=tls_material.ca_pem, proxy=forward_proxy.address,
    )
    outcome = await sender.send(claimed(), point(), server, values(ticket("via proxy")))

    assert outcome.kind == "delivered"
    assert json.loads(tls_receiver.last().body)["short_description"] == "via proxy"
    await pool.aclose()
    assert forward_proxy.saw(f"CONNECT {tls_receiver.host}")


async def test_token_endpoint_down_is_retried_then_delivered(
    sender: Sender, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    down = ServerRevision(5, 1, server_config(
        receiver.host, auth=password_grant(f"http://127.0.0.1:{free_port()}/oauth/token")))
    outcome = await sender.send(claimed(), point(), down, values())

    assert outcome.kind == "retry"
    assert outcome.attempt.stage in ("connect", "oauth_error", "http")
    assert receiver.requests == []

    up = ServerRevision(5, 2, server_config(  # the endpoint is back (or fixed): new revision
        receiver.host, auth=password_grant(oauth_server.token_url)))
    receiver.authorize = oauth_server.accepts
    again = await sender.send(claimed(attempt=2), point(), up, values())
    assert again.kind == "delivered"

"""Delivery attempt records: a policy refusal names its rule; header credentials stay masked."""

from __future__ import annotations

import json
import random

from tests.delivery.parts import claimed, clock, point, values
from tests.outbound.configs import server as server_config
from tests.outbound.conftest import no_secret_in_logs  # noqa: F401 - applies here too
from tests.servers.receiver import Receiver
from workflow_integrator.delivery.sender import Sender, ServerRevision
from workflow_integrator.domain.network_policy import NetworkPolicy
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.outbound import MemoryTokenStore, TokenManager, TransportPool

API_KEY = "delivery-api-key-5150"
TENANT = "delivery-tenant-secret-77"


async def test_a_refused_address_is_recorded_with_its_rule(receiver: Receiver) -> None:
    pool = TransportPool(TokenManager(MemoryTokenStore()), NetworkPolicy(deny_loopback=True))
    try:
        outcome = await Sender(pool, clock(), random.Random(7)).send(
            claimed(), point(), ServerRevision(1, 1, server_config(receiver.host)), values()
        )
    finally:
        await pool.aclose()
    assert outcome.attempt.stage == "policy"
    assert "denied network 127.0.0.0/8" in str(outcome.attempt.error_message)
    assert "WI_OUTBOUND_ALLOW" in outcome.reason
    assert not receiver.requests


async def test_header_credentials_are_masked_in_the_attempt_record(receiver: Receiver) -> None:
    config = server_config(
        receiver.host,
        headers=f"Content-Type: application/json, X-API-Key: {API_KEY}, X-Tenant: {TENANT}",
        secret_headers=["X-Tenant"],
    )
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    try:
        outcome = await Sender(pool, clock(), random.Random(7)).send(
            claimed(), point("/echo"), ServerRevision(1, 1, config), values()
        )
    finally:
        await pool.aclose()
    assert outcome.kind == "delivered"
    assert receiver.last().headers["x-api-key"] == API_KEY
    recorded = dict((n.lower(), v) for n, v in outcome.attempt.request_headers)
    assert recorded["x-api-key"] == MASK and recorded["x-tenant"] == MASK
    assert recorded["idempotency-key"] == "wi-delivery-41"
    dump = json.dumps([outcome.attempt.request_headers, outcome.attempt.response_body])
    assert API_KEY not in dump and TENANT not in dump

"""Failure e-mails: recipients from SecureChange (the shipped simulator) and digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.servers.simulator import SimulatorHandle
from workflow_integrator.delivery.recipients import Recipients, resolve
from workflow_integrator.domain.failure_notice import (
    MAX_LISTED,
    FailedDelivery,
    by_recipient,
    digest,
    wanted,
)
from workflow_integrator.domain.integration import NotifyOnFailure
from workflow_integrator.securechange.client import SecureChangeClient
from workflow_integrator.securechange.connection import SecureChangeConnection

AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _failure(delivery_id: int, server: str = "servicenow", **changes: object) -> FailedDelivery:
    values: dict[str, object] = {
        "delivery_id": delivery_id, "ticket_id": 100 + delivery_id,
        "workflow": "Firewall Change Request", "point": "create incident", "server": server,
        "state": "dead", "reason": "422 Unprocessable Entity: short_description is required",
        "since": AT + timedelta(minutes=delivery_id)}
    values.update(changes)
    return FailedDelivery(**values)  # type: ignore[arg-type]


async def test_requester_and_handler_addresses_from_securechange(
    sc_simulator: SimulatorHandle,
) -> None:
    created = sc_simulator.create_ticket("Open 443 to the web farm", requester="api")
    connection = SecureChangeConnection.model_validate(sc_simulator.connection_settings())
    notify = NotifyOnFailure(requester=True, handler=True,
                             addresses=["NOC@example.com", "noc@example.com"])
    async with SecureChangeClient(connection) as client:
        # The shipped sample ticket 445: requester tzachi also handles the current step.
        sample = await client.ticket(445)
        want = wanted(notify, sample)
        found = await resolve(want, client)
        fresh = await client.ticket(created.id)
        fresh_found = await resolve(wanted(notify, fresh), client)
        only_fixed = await resolve(wanted(NotifyOnFailure(addresses=["noc@example.com"]),
                                          sample), client)
    assert want.addresses == ("noc@example.com",)
    assert want.users == ((3, "tzachi"),)  # requester and handler are one user: one mail
    assert found == Recipients(("noc@example.com", "tzachi@example.com"), ())
    # A new ticket's step has no handler yet: only the requester is added.
    assert fresh_found == Recipients(("noc@example.com", "api@example.com"), ())
    assert only_fixed == Recipients(("noc@example.com",), ())


async def test_an_unknown_user_does_not_stop_the_others(sc_simulator: SimulatorHandle) -> None:
    connection = SecureChangeConnection.model_validate(sc_simulator.connection_settings())
    async with SecureChangeClient(connection) as client:
        ticket = await client.ticket(445)
        want = wanted(NotifyOnFailure(requester=True, addresses=["noc@example.com"]), ticket)
        ghost = type(want)(want.addresses, ((None, "nobody-here"), *want.users))
        found = await resolve(ghost, client)
    assert found.addresses == ("noc@example.com", "tzachi@example.com")
    assert found.unresolved == ("nobody-here: no such SecureChange user",)


def test_one_digest_per_recipient_when_many_fail() -> None:
    failures = [_failure(i) for i in range(1, 121)]
    pairs = [("noc@example.com", f) for f in failures] + [
        ("NOC@example.com", failures[0]), ("owner@example.com", failures[3])]
    grouped = by_recipient(pairs)
    assert sorted(grouped) == ["noc@example.com", "owner@example.com"]
    assert len(grouped["noc@example.com"]) == 120
    mail = digest("noc@example.com", list(reversed(grouped["noc@example.com"])),
                  "https://wi.example.com/")
    assert mail.subject == "WI: 120 deliveries failed (servicenow)"
    assert mail.delivery_ids[:2] == (1, 2)  # oldest first
    assert mail.body.count("https://wi.example.com/deliveries/") == MAX_LISTED
    assert f"… and {120 - MAX_LISTED} more" in mail.body
    single = digest("owner@example.com", grouped["owner@example.com"], None)
    assert single.subject == ("WI: ticket 104 (Firewall Change Request) could not be "
                              "delivered to servicenow")
    for words in ("Ticket 104", "point create incident", "server servicenow",
                  "reason: 422 Unprocessable Entity", "2026-12-02 09:34 UTC"):
        assert words in single.body
    held = digest("x@example.com", [_failure(5, state="held", reason="needs credentials")],
                  "https://wi.example.com")
    assert "is held to servicenow" in held.subject
    assert "https://wi.example.com/deliveries/5" in held.body

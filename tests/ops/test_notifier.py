"""Failed deliveries become one queued e-mail per recipient (SecureChange simulator, SMTP)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.servers.live_wi import free_port
from tests.servers.simulator import SimulatorHandle
from tests.servers.smtp import mail_server
from workflow_integrator.app import Services, build_services
from workflow_integrator.delivery.mailer import FailureMailer
from workflow_integrator.delivery.notifier import FailureNotifier
from workflow_integrator.domain.failure_notice import FailedDelivery
from workflow_integrator.domain.integration import NotifyOnFailure
from workflow_integrator.securechange.settings_service import SecureChangeSettingsService
from workflow_integrator.services.errors import NotFound
from workflow_integrator.settings import Settings

NOW = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
WORKFLOW = "Firewall Change Request"


@pytest.fixture
def services(wi_settings: Settings) -> Iterator[Services]:
    built = build_services(wi_settings)
    built.servers.create({"name": "servicenow", "host": "sn.example.com",
                          "auth": {"method": "none"}})
    built.integrations.create({
        "workflow": WORKFLOW, "default_server": "servicenow",
        "notify_on_failure": {"requester": True, "handler": True,
                              "addresses": ["noc@example.com"]},
        "points": [{"name": "create incident", "on": {"trigger": "CREATE"},
                    "request": {"method": "POST", "path": "/api/now/table/incident"}}]})
    yield built
    built.close()


def _notifier(services: Services) -> tuple[FailureNotifier, FailureMailer]:
    mailer = FailureMailer(services.sessions, services.smtp, "w1", rng=random.Random(1))
    securechange = SecureChangeSettingsService(services.sessions, services.secretbox)

    def notify_for(workflow: str) -> NotifyOnFailure | None:
        try:
            return services.integrations.get_integration(workflow).notify_on_failure
        except NotFound:
            return None

    return FailureNotifier(mailer, notify_for, securechange.connection,
                           lambda: "https://wi.example.com"), mailer


def _failed(delivery_id: int, ticket_id: int = 445, workflow: str = WORKFLOW) -> FailedDelivery:
    return FailedDelivery(delivery_id, ticket_id, workflow, "create incident", "servicenow",
                          "dead", "503 Service Unavailable for 24 h",
                          NOW - timedelta(minutes=delivery_id))


async def test_many_failures_one_mail_per_recipient(
    services: Services, sc_simulator: SimulatorHandle
) -> None:
    SecureChangeSettingsService(services.sessions, services.secretbox).replace(
        sc_simulator.connection_settings())
    notifier, mailer = _notifier(services)
    failures = [_failed(i) for i in range(1, 6)] + [_failed(9, workflow="No Integration")]
    report = await notifier.notify(failures, NOW)
    assert len(report.mail_ids) == 2 and report.unresolved == ()
    with mail_server("plain") as smtp:
        services.smtp.replace(smtp.settings(username=None, password=None))
        assert await mailer.send_due(NOW) == 2
    received = {m.rcpt_tos[0]: m.message for m in smtp.messages}
    # Ticket 445's requester tzachi also handles its current step: one address.
    assert sorted(received) == ["noc@example.com", "tzachi@example.com"]
    body = received["noc@example.com"].get_payload()
    assert received["noc@example.com"]["Subject"] == "WI: 5 deliveries failed (servicenow)"
    assert body.count("https://wi.example.com/deliveries/") == 5
    assert "deliveries/9" not in body


async def test_securechange_down_still_mails_the_fixed_addresses(services: Services) -> None:
    SecureChangeSettingsService(services.sessions, services.secretbox).replace({
        "host": f"127.0.0.1:{free_port()}", "protocol": "http", "username": "wi",
        "password": "pw-123456", "timeout_seconds": 3})
    notifier, mailer = _notifier(services)
    report = await notifier.notify([_failed(1), _failed(2)], NOW)
    assert len(report.mail_ids) == 1
    assert report.unresolved and "ticket 445: cannot be read" in report.unresolved[0]
    with mail_server("plain") as smtp:
        services.smtp.replace(smtp.settings(username=None, password=None))
        await mailer.send_due(NOW)
    assert [m.rcpt_tos for m in smtp.messages] == [["noc@example.com"]]

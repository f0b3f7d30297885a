"""Failure e-mails are queued, sent through a real SMTP server, retried, and recorded."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.servers.live_wi import free_port
from tests.servers.smtp import mail_server
from workflow_integrator.app import Services, build_services
from workflow_integrator.delivery.mailer import FailureMailer
from workflow_integrator.domain.failure_notice import Digest
from workflow_integrator.settings import Settings
from workflow_integrator.store.mail_outbox import MailRow

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def services(any_db_settings: Settings) -> Iterator[Services]:
    built = build_services(any_db_settings)
    yield built
    built.close()


def _rows(services: Services) -> list[MailRow]:
    with services.sessions() as session:
        return list(session.scalars(select(MailRow).order_by(MailRow.id)))


def _digest(recipient: str, *ids: int) -> Digest:
    return Digest(recipient, f"WI: {len(ids)} deliveries failed", "body\n", ids)


def _mailer(services: Services, **kwargs: object) -> FailureMailer:
    return FailureMailer(services.sessions, services.smtp, "test-worker",
                         rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


async def test_queued_mails_are_sent_and_recorded(services: Services) -> None:
    mailer = _mailer(services)
    with mail_server("plain") as smtp:
        services.smtp.replace(smtp.settings(username=None, password=None))
        mailer.enqueue([_digest("noc@example.com", 1, 2), _digest("owner@example.com", 2)], NOW)
        assert await mailer.send_due(NOW) == 2
        assert await mailer.send_due(NOW) == 0
    rows = _rows(services)
    assert [(r.recipient, r.state, r.attempts, r.delivery_ids) for r in rows] == [
        ("noc@example.com", "sent", 1, [1, 2]), ("owner@example.com", "sent", 1, [2])]
    assert all(r.sent_at == NOW for r in rows)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["noc@example.com",
                                                            "owner@example.com"]
    assert smtp.messages[0].message["Subject"] == "WI: 2 deliveries failed"


async def test_mail_server_down_then_up_retries_with_backoff(services: Services) -> None:
    mailer = _mailer(services)
    down = {"host": "127.0.0.1", "port": free_port(), "security": "plain",
            "sender": "wi@example.com", "timeout_seconds": 5}
    services.smtp.replace(down)
    mailer.enqueue([_digest("noc@example.com", 5)], NOW)
    assert await mailer.send_due(NOW) == 1
    [row] = _rows(services)
    assert row.state == "pending" and row.attempts == 1
    assert "cannot talk to 127.0.0.1" in (row.last_error or "")
    assert NOW < row.next_attempt_at <= NOW + timedelta(seconds=60)
    assert await mailer.send_due(NOW) == 0  # not due yet
    with mail_server("plain") as smtp:
        services.smtp.replace(smtp.settings(username=None, password=None))
        later = NOW + timedelta(minutes=2)
        assert await mailer.send_due(later) == 1
    [row] = _rows(services)
    assert (row.state, row.attempts, row.sent_at, row.last_error) == ("sent", 2, later, None)
    assert len(smtp.messages) == 1


async def test_gives_up_after_the_last_attempt_or_a_refusal(services: Services) -> None:
    mailer = _mailer(services, max_attempts=2)
    services.smtp.replace({"host": "127.0.0.1", "port": free_port(), "security": "plain",
                           "sender": "wi@example.com", "timeout_seconds": 5})
    mailer.enqueue([_digest("noc@example.com", 9)], NOW)
    moment = NOW
    for _ in range(2):
        await mailer.send_due(moment)
        moment += timedelta(hours=2)
    assert [(r.state, r.attempts) for r in _rows(services)] == [("failed", 2)]
    with mail_server("plain") as smtp:
        smtp.refuse.add("gone@example.com")
        services.smtp.replace(smtp.settings(username=None, password=None))
        mailer.enqueue([_digest("gone@example.com", 10)], moment)
        await mailer.send_due(moment)
    refused = _rows(services)[1]
    assert (refused.state, refused.attempts) == ("failed", 1)  # a refusal is not retried
    assert "refused the recipient" in (refused.last_error or "")


async def test_a_lost_claim_is_taken_up_after_its_lease(services: Services) -> None:
    first = _mailer(services)
    with mail_server("plain") as smtp:
        services.smtp.replace(smtp.settings(username=None, password=None))
        first.enqueue([_digest("noc@example.com", 3)], NOW)
        # A process claims and dies before sending: nobody else takes it while leased.
        assert len(first._claim(NOW, 10)) == 1
        other = FailureMailer(services.sessions, services.smtp, "other-worker")
        assert await other.send_due(NOW + timedelta(minutes=1)) == 0
        assert await other.send_due(NOW + timedelta(minutes=6)) == 1
    [row] = _rows(services)
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(smtp.messages) == 1


def test_wi_serve_sends_queued_mails_by_itself(tmp_path: Path) -> None:
    from tests.conftest import make_settings
    from tests.servers.live_wi import serve_wi

    settings = make_settings(tmp_path / "data")
    settings.mail_interval_seconds = 0.2
    with mail_server("plain") as smtp, serve_wi(settings) as live:
        live.services.smtp.replace(smtp.settings(username=None, password=None))
        live.services.failure_mails.enqueue([_digest("noc@example.com", 4)],
                                            datetime.now(UTC))
        deadline = time.monotonic() + 20
        while not smtp.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m.rcpt_tos for m in smtp.messages] == [["noc@example.com"]]
    assert [r.state for r in _rows(live.services)] == ["sent"]


def test_outbox_through_api_and_cli(tmp_path: Path) -> None:
    from tests.conftest import make_settings
    from tests.foundation.wi_cli import run_wi
    from tests.servers.live_wi import serve_wi

    settings = make_settings(tmp_path / "data")
    with serve_wi(settings) as live:
        live.services.smtp.replace({"host": "127.0.0.1", "port": free_port(),
                                    "security": "plain", "sender": "wi@example.com",
                                    "timeout_seconds": 5})
        live.services.failure_mails.enqueue([_digest("noc@example.com", 7, 8)], NOW)
        asyncio.run(live.services.failure_mails.send_due(NOW))
        with live.client(live.viewer_token) as api:
            listed = api.get("/api/v1/smtp/outbox").json()
            assert api.get("/api/v1/smtp/outbox?limit=0").status_code == 422
    assert [(m["recipient"], m["state"], m["attempts"], m["delivery_ids"]) for m in listed] == [
        ("noc@example.com", "pending", 1, [7, 8])]
    assert "cannot talk to 127.0.0.1" in listed[0]["last_error"]
    assert listed[0]["next_attempt_at"] is not None and listed[0]["sent_at"] is None
    shown = run_wi(settings.data_dir, "smtp", "outbox")
    assert shown.returncode == 0, shown.stderr
    assert "pending" in shown.stdout and "noc@example.com: WI: 2 deliveries failed" in shown.stdout
    as_json = run_wi(settings.data_dir, "smtp", "outbox", "--json")
    assert '"recipient": "noc@example.com"' in as_json.stdout

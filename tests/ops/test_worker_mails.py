"""``wi worker`` apart from ``wi serve``: it mails failures and serves its own metrics."""

from __future__ import annotations

import signal

import httpx2

from tests.delivery.world import world
from tests.ops.test_metrics import _sample
from tests.ops.test_worker_sigterm import _output, _wait, wi_worker
from tests.servers.live_wi import free_port
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from tests.servers.smtp import mail_server
from workflow_integrator.settings import Settings

REFUSED = {"name": "open incident", "on": {"trigger": "CREATE"},
           "request": {"method": "POST", "path": "/status/400", "body": "{}"}}


def test_a_worker_process_mails_a_dead_delivery_and_counts_it(
    wi_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    port = free_port()
    with world(wi_settings, sc_simulator, receiver) as w, mail_server("starttls") as smtp:
        w.services.smtp.replace(smtp.settings())
        w.add_server("itsm")
        w.add_integration([REFUSED], notify_on_failure={"addresses": ["noc@example.com"]})
        ticket = w.simulator.create_ticket("refused")
        w.event(ticket.id, "CREATE")
        with wi_worker(wi_settings, 10, WI_METRICS_LISTEN=f"127.0.0.1:{port}",
                       WI_INSTANCE_NAME="worker-1") as worker:
            _wait(lambda: len(smtp.messages) == 1, 120, "the failure e-mail", worker)

            def scrape() -> str:
                return httpx2.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text

            # Counted once the mail server's answer is back in the worker.
            _wait(lambda: _sample(scrape(), "wi_emails_total", kind="failure", outcome="sent",
                                  wi_instance="worker-1") == 1, 30, "the count", worker)
            scraped = scrape()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, _output(worker)
        [row] = w.deliveries()
    assert row.state == "dead"
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["noc@example.com"]
    assert f"ticket {ticket.id}" in str(mail.message["Subject"])
    assert _sample(scraped, "wi_delivery_attempts_total", outcome="dead", status_class="4xx",
                   wi_instance="worker-1") == 1
    assert _sample(scraped, "wi_emails_total", kind="failure", outcome="sent",
                   wi_instance="worker-1") == 1
    assert _sample(scraped, "wi_deliveries", state="dead") == 1

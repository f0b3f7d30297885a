"""SecureChange benchmarks: ticket parsing, event intake over HTTP, the wi-trigger round trip."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

from bench.cases import BenchContext, Case, Operation
from workflow_integrator.securechange.simulator.store import sample_text
from workflow_integrator.securechange.ticket_format import parse_ticket_document, render_ticket


def _document(ticket: int) -> bytes:
    return (f"<ticket_info><id>{ticket}</id><subject>bench</subject><createDate>1</createDate>"
            f"<updateDate>{ticket}</updateDate><current_stage><id>2</id><name>Approve</name>"
            "</current_stage></ticket_info>").encode()


def _parse_ticket(_: BenchContext, scale: float) -> Operation:
    xml = sample_text("ticket.xml")

    def parse() -> None:
        parse_ticket_document(xml)

    return parse, int(2000 * scale)


def _render_ticket(_: BenchContext, scale: float) -> Operation:
    ticket = parse_ticket_document(sample_text("ticket.xml"))

    def render() -> None:
        render_ticket(ticket)

    return render, int(2000 * scale)


def _intake_new(context: BenchContext, scale: float) -> Operation:
    client = context.live().client()
    counter = itertools.count(1)

    def post() -> None:
        response = client.post("/api/v1/events/securechange?event=ADVANCE",
                               content=_document(next(counter)))
        assert response.status_code == 202, response.text

    return post, int(500 * scale)


def _intake_retry(context: BenchContext, scale: float) -> Operation:
    client = context.live().client()
    document = _document(1)
    client.post("/api/v1/events/securechange?event=CREATE", content=document)

    def retry() -> None:
        response = client.post("/api/v1/events/securechange?event=CREATE", content=document)
        assert response.json()["duplicate"] is True

    return retry, int(500 * scale)


def _mediator(context: BenchContext, scale: float) -> Operation:
    live = context.live()
    script = Path(sys.executable).parent / "wi-trigger"
    counter = itertools.count(1)
    env = {**os.environ, "WI_URL": live.url, "WI_API_TOKEN": live.admin_token,
           "SCW_EVENT": "CREATE"}

    def run() -> None:
        subprocess.run([str(script)], input=_document(next(counter)), env=env, check=True,
                       capture_output=True)

    return run, max(3, int(30 * scale))


SECURECHANGE_CASES = [
    Case("parse ticket.xml", _parse_ticket),
    Case("render ticket XML", _render_ticket),
    Case("intake new event (HTTP)", _intake_new, uses_database=True),
    Case("intake retried event (HTTP)", _intake_retry, uses_database=True),
    Case("wi-trigger process → stored", _mediator, uses_database=True),
]

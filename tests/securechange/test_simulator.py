"""The shipped SecureChange simulator: REST subset, ticket moves, trigger runs."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx2
import pytest

from tests.securechange.samples import sample
from tests.servers.simulator import SimulatorHandle, run_simulator
from workflow_integrator.domain.ticket import TicketStatus
from workflow_integrator.securechange.documents import parse_xml
from workflow_integrator.securechange.simulator import SimulatorError
from workflow_integrator.securechange.ticket_format import (
    parse_ticket_document,
)
from workflow_integrator.securechange.trigger_info import parse_ticket_info


def client(sim: SimulatorHandle, password: str | None = None) -> httpx2.Client:
    return httpx2.Client(auth=(sim.username, password or sim.password), trust_env=False,
                         timeout=10)


def test_rest_needs_basic_auth(sc_simulator: SimulatorHandle) -> None:
    anonymous = httpx2.get(sc_simulator.api_url + "/tickets/445", trust_env=False)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    with client(sc_simulator, password="wrong") as c:
        assert c.get(sc_simulator.api_url + "/tickets/445").status_code == 401


def test_seeded_ticket_matches_the_sample_xml_and_json(sc_simulator: SimulatorHandle) -> None:
    expected = parse_ticket_document(sample("ticket.xml"))
    with client(sc_simulator) as c:
        as_xml = c.get(sc_simulator.api_url + "/tickets/445")
        by_accept = c.get(sc_simulator.api_url + "/tickets/445",
                          headers={"Accept": "application/json"})
        by_suffix = c.get(sc_simulator.api_url + "/tickets/445.json")
    assert as_xml.headers["content-type"].startswith("application/xml")
    assert parse_ticket_document(as_xml.content) == expected
    assert by_accept.headers["content-type"] == "application/json"
    assert parse_ticket_document(by_accept.content, json_body=True) == expected
    assert parse_ticket_document(by_suffix.content, json_body=True) == expected
    assert 'xsi:type="multi_access_request"' in as_xml.text


def test_unknown_ticket_is_404_with_a_message(sc_simulator: SimulatorHandle) -> None:
    with client(sc_simulator) as c:
        missing = c.get(sc_simulator.api_url + "/tickets/99999")
    assert missing.status_code == 404
    assert "ticket 99999 does not exist" in missing.text


def test_ticket_list_filters_by_status(sc_simulator: SimulatorHandle) -> None:
    ticket = sc_simulator.create_ticket("to cancel")
    sc_simulator.move(ticket.id, "cancel")
    with client(sc_simulator) as c:
        cancelled = c.get(sc_simulator.api_url + "/tickets",
                          params={"status": "Ticket Cancelled"})
        everything = c.get(sc_simulator.api_url + "/tickets")
    ids = [e.findtext("id") for e in parse_xml(cancelled.content).iterfind("ticket")]
    assert ids == [str(ticket.id)]
    assert len(parse_xml(everything.content).findall("ticket")) == 3  # 444, 445 and the new one


def test_fields_read_and_update_through_rest(sc_simulator: SimulatorHandle) -> None:
    ticket = sc_simulator.create_ticket("fields", fields={"Change Window": "Sat 02:00"})
    step = ticket.steps[0]
    task = step.tasks[0]
    base = f"{sc_simulator.api_url}/tickets/{ticket.id}/steps/{step.id}/tasks/{task.id}/fields"
    window = task.field("Change Window")
    urgent = task.field("Urgent")
    assert window is not None and urgent is not None
    with client(sc_simulator) as c:
        listed = c.get(base)
        assert listed.status_code == 200
        assert "Sat 02:00" in listed.text
        put_all = c.put(base, content=(
            '<fields><field xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:type="text_field"><id>{window.id}</id><name>Change Window</name>'
            "<text>Sun 03:00</text></field></fields>"
        ), headers={"Content-Type": "application/xml"})
        put_one = c.put(f"{base}/{urgent.id}", content=(
            '<field xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:type="checkbox"><value>true</value></field>'
        ), headers={"Content-Type": "application/xml"})
        wrong_type = c.put(f"{base}/{urgent.id}", content=(
            '<field xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:type="text_field"><text>yes</text></field>'
        ))
        one = c.get(f"{base}/{urgent.id}.json")
    assert (put_all.status_code, put_one.status_code) == (200, 200)
    assert wrong_type.status_code == 400 and "is a checkbox, not a text_field" in wrong_type.text
    assert one.json()["field"]["value"] == "true"
    updated = sc_simulator.ticket(ticket.id)
    assert updated.field("Change Window").value == "Sun 03:00"  # type: ignore[union-attr]
    assert updated.field("Urgent").value is True  # type: ignore[union-attr]


def test_users_by_id_and_name(sc_simulator: SimulatorHandle) -> None:
    with client(sc_simulator) as c:
        by_id = c.get(sc_simulator.api_url + "/users/11")
        by_name = c.get(sc_simulator.api_url + "/users", params={"user_name": "tzachi"})
        nobody = c.get(sc_simulator.api_url + "/users", params={"user_name": "nobody"})
    assert parse_xml(by_id.content).findtext("email") == "user@kuku.com"
    assert parse_xml(by_name.content).findtext("user/id") == "3"
    assert parse_xml(nobody.content).findall("user") == []


def test_rest_create_ticket_like_securechange(sc_simulator: SimulatorHandle) -> None:
    body = sample("new_ticket.xml").replace("My workflow", "Firewall Change Request").replace(
        "Time field", "Start Time")
    with client(sc_simulator) as c:
        created = c.post(sc_simulator.api_url + "/tickets/", content=body)
        unknown = c.post(sc_simulator.api_url + "/tickets/", content=sample("new_ticket.xml"))
    assert created.status_code == 201
    new_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert sc_simulator.ticket(new_id).subject == "Test ticket"
    assert unknown.status_code == 400 and "unknown workflow 'My workflow'" in unknown.text


def test_lifecycle_moves_and_statuses(sc_simulator: SimulatorHandle) -> None:
    sim = sc_simulator
    ticket = sim.create_ticket("lifecycle", fields={"Environment": "Production"})
    assert ticket.status == TicketStatus.IN_PROGRESS
    assert ticket.current_step is not None and ticket.current_step.name == "Open request"
    advanced = sim.move(ticket.id, "advance")
    assert advanced.current_step is not None
    assert advanced.current_step.name == "Business Approval"
    assert advanced.steps[0].tasks[0].status == "DONE"
    redone = sim.move(ticket.id, "redo")
    assert redone.current is not None and redone.current.name == "Open request"
    assert redone.current.redone
    # Field values carry over into the next step when it shows the same field.
    assert redone.field("Environment").value == "Production"  # type: ignore[union-attr]
    sim.move(ticket.id, "advance")
    sim.move(ticket.id, "advance", fields={})
    sim.move(ticket.id, "advance")
    resolved = sim.move(ticket.id, "advance")
    assert resolved.status == TicketStatus.RESOLVED and resolved.current_step is None
    reopened = sim.move(ticket.id, "reopen")
    assert reopened.status == TicketStatus.IN_PROGRESS
    closed = sim.move(ticket.id, "close")
    assert closed.status == TicketStatus.CLOSED
    with pytest.raises(SimulatorError, match="needs an open ticket"):
        sim.move(ticket.id, "advance")
    rejected = sim.move(sim.create_ticket("to reject").id, "reject")
    assert rejected.status == TicketStatus.REJECTED
    resubmitted = sim.move(rejected.id, "resubmit")
    assert resubmitted.status == TicketStatus.IN_PROGRESS
    assert resubmitted.current_step is not None
    assert resubmitted.current_step.name == "Open request"
    with pytest.raises(SimulatorError, match="unknown move 'jump'"):
        sim.move(ticket.id, "jump")


def test_control_api_over_http(sc_simulator: SimulatorHandle) -> None:
    with client(sc_simulator) as c:
        created = c.post(sc_simulator.url + "/sim/api/tickets", json={
            "subject": "via http", "workflow": "Firewall Change Request",
            "fields": {"Regions": ["EMEA", "APAC"]}})
        ticket_id = created.json()["id"]
        moved = c.post(f"{sc_simulator.url}/sim/api/tickets/{ticket_id}/advance")
        bad_field = c.post(sc_simulator.url + "/sim/api/tickets", json={
            "subject": "x", "workflow": "Firewall Change Request", "fields": {"Nope": 1}})
        illegal = c.post(f"{sc_simulator.url}/sim/api/tickets/{ticket_id}/resubmit")
        workflow = c.post(sc_simulator.url + "/sim/api/workflows", json={
            "name": "Two Steps", "steps": [
                {"name": "Ask", "fields": [{"name": "Why", "type": "text_area"}]},
                {"name": "Do", "fields": []}]})
        bad_workflow = c.post(sc_simulator.url + "/sim/api/workflows", json={
            "name": "Bad", "steps": [{"name": "A", "fields": [{"name": "x", "type": "blob"}]}]})
    assert created.status_code == 201
    assert created.json()["steps"][0]["tasks"][0]["fields"][8]["value"] == ["EMEA", "APAC"]
    assert moved.json()["current_step"]["name"] == "Business Approval"
    assert bad_field.status_code == 400 and "has no field 'Nope'" in bad_field.json()["detail"]
    assert illegal.status_code == 409 and "only a rejected ticket" in illegal.json()["detail"]
    assert workflow.status_code == 201
    assert sc_simulator.create_ticket("custom", "Two Steps", fields={"Why": "because"}).id
    assert bad_workflow.status_code == 400 and "unknown type 'blob'" in bad_workflow.text


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    with run_simulator(state) as first:
        ticket = first.create_ticket("persistent", fields={"Urgent": True})
        first.move(ticket.id, "advance")
    with run_simulator(state) as second:
        again = second.ticket(ticket.id)
        assert again.current_step is not None
        assert again.current_step.name == "Business Approval"
        assert again.steps[0].field("Urgent").value is True  # type: ignore[union-attr]
        assert second.create_ticket("next").id == ticket.id + 1


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "trigger.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def test_trigger_gets_event_and_ticket_info(sc_simulator: SimulatorHandle,
                                            tmp_path: Path) -> None:
    out = tmp_path / "seen"
    out.mkdir()
    sc_simulator.set_trigger(_script(tmp_path, (
        "import os, sys, pathlib\n"
        f"d = pathlib.Path({str(out)!r})\n"
        "n = len(list(d.iterdir()))\n"
        "(d / f'{n:03d}-{os.environ[\"SCW_EVENT\"]}.xml').write_bytes(sys.stdin.buffer.read())\n"
    )))
    ticket = sc_simulator.create_ticket("watched")
    sc_simulator.wait_for_triggers()
    sc_simulator.move(ticket.id, "advance")
    sc_simulator.wait_for_triggers()
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["000-CREATE.xml", "001-ADVANCE.xml"]
    created = parse_ticket_info(files[0].read_bytes())
    advanced = parse_ticket_info(files[1].read_bytes())
    assert created is not None and advanced is not None
    assert created.id == ticket.id and created.completion_stage is None
    assert advanced.completion_stage is not None
    assert advanced.completion_stage.name == "Open request"
    assert advanced.current_stage is not None
    assert advanced.current_stage.name == "Business Approval"
    assert int(advanced.update_date) > int(created.update_date)
    assert [r.exit_code for r in sc_simulator.runs] == [0, 0]


def test_failing_trigger_is_retried_up_to_five_times(sc_simulator: SimulatorHandle,
                                                     tmp_path: Path) -> None:
    counter = tmp_path / "count"
    sc_simulator.set_trigger(_script(tmp_path, (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(f'attempt {n} failed', file=sys.stderr)\n"
        "sys.exit(0 if n == 3 else 1)\n"
    )), delays=(0.05,))
    ticket = sc_simulator.create_ticket("flaky")
    sc_simulator.wait_for_triggers()
    assert [(r.attempt, r.exit_code) for r in sc_simulator.runs] == [(1, 1), (2, 1), (3, 0)]
    assert sc_simulator.runs[0].stderr == "attempt 1 failed"
    counter.write_text("10")  # from now on it always fails
    sc_simulator.move(ticket.id, "cancel")
    sc_simulator.wait_for_triggers()
    cancel_runs = [r for r in sc_simulator.runs if r.event == "CANCEL"]
    assert [r.attempt for r in cancel_runs] == [1, 2, 3, 4, 5]
    assert all(r.exit_code == 1 for r in cancel_runs)

"""Placeholder values: every predefined name, every field type, custom functions."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integrations.factories import make_ticket
from workflow_integrator.domain.matching import WorkflowEvent
from workflow_integrator.domain.ticket import Comment
from workflow_integrator.securechange.ticket_format import parse_ticket_document
from workflow_integrator.templating import plugins
from workflow_integrator.templating.placeholders import PREDEFINED, PlaceholderValues, SampleValues
from workflow_integrator.templating.plugins import PlaceholderError, load_custom_functions
from workflow_integrator.templating.template import RenderError, render_json

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "integrations" / "data"
NOW = datetime(2026, 11, 28, 9, 5, 7, tzinfo=UTC)


def sample_ticket():
    return parse_ticket_document((FIXTURES / "ticket.xml").read_text())


def test_predefined_placeholders_of_the_sample_ticket() -> None:
    values = PlaceholderValues(
        sample_ticket(),
        WorkflowEvent("ADVANCE", completed_step="Business Approval"),
        now=NOW,
        securechange_url="https://sc.example.com/",
        create_date="2026-11-27T08:00:00Z",
    )
    expected = {
        "ticket_id": 445,
        "ticket_subject": "Ticket 445",
        "ticket_comments": [],
        "latest_comment_content": "",
        "workflow_name": "Access Request Add Targets",
        "ticket_requester": "tzachi",
        "ticket_requester_full_name": "tzachi",
        "ticket_start_time": "2026/11/27 08:00:00",
        "ticket_end_time": "",
        "domain_name": "",
        "ticket_task_url": "https://sc.example.com/securechangeworkflow/pages/myRequest/"
        "myRequestsMain.seam?ticketId=445&stepId=1954&taskId=2021",
        "assignee": "tzachi",
        "step_name": "Technical Design",
        "current_step_id": 1954,
        "current_task_id": 2021,
        "redo_reason": "",
        "reject_reason": "",
        "automatic_step_failure_reason": "",
        "current_time": "2026/11/28 09:05:07",
        "date_only": "2026-11-28",
        "event": "ADVANCE",
    }
    assert set(expected) == set(PREDEFINED)
    assert values.predefined() == expected
    # Fields: the current step's value, by name, case-insensitively.
    assert values.lookup("text field") == ""
    assert values.lookup("TEXT  Field") == ""
    required = values.lookup("Required Access")
    assert required[0]["action"] == "Accept"
    assert required[0]["sources"][0]["ip_address"] == "123.123.123.0"
    # A field of an earlier step only.
    assert values.lookup("Targets2") == ""
    with pytest.raises(KeyError):
        values.lookup("No such field")


@pytest.mark.parametrize(
    ("field_type", "value"),
    [
        ("text_field", 'a "quoted"\nvalue'),
        ("text_area", "multi\nline"),
        ("checkbox", True),
        ("drop_down_list", "EMEA"),
        ("multiple_selection", ["A", "B"]),
        ("approve_reject", {"approved": False, "reason": "too wide"}),
        (
            "multi_access_request",
            [{"action": "Accept", "sources": [], "destinations": [], "services": []}],
        ),
        ("date", "2026-01-31"),
        ("time", "13:45"),
        ("multi_text_field", ["x", "y"]),
    ],
)
def test_field_placeholders_give_typed_values_and_render_as_json(field_type, value) -> None:
    ticket = make_ticket(fields={"My field": (field_type, value)})
    values = PlaceholderValues(ticket, WorkflowEvent("CREATE"), now=NOW)
    assert values.lookup("My field") == value
    assert json.loads(render_json('{"v": "{{My field}}"}', values)) == {"v": value}


@pytest.mark.parametrize(
    ("event", "placeholder", "comment_type"),
    [
        ("REDO", "redo_reason", "Redo"),
        ("REJECT", "reject_reason", "Reject"),
        ("AUTOMATION_FAILED", "automatic_step_failure_reason", "Automatic step failure"),
    ],
)
def test_reasons_come_from_the_comment_and_only_on_their_event(event, placeholder, comment_type):
    comments = (Comment("looks fine"), Comment("port 23 is not allowed", type=comment_type))
    ticket = make_ticket(comments=comments)
    assert PlaceholderValues(ticket, WorkflowEvent(event)).lookup(placeholder) == (
        "port 23 is not allowed"
    )
    assert PlaceholderValues(ticket, WorkflowEvent("CREATE")).lookup(placeholder) == ""
    values = PlaceholderValues(ticket, WorkflowEvent(event))
    assert values.lookup("latest_comment_content") == "port 23 is not allowed"
    assert values.lookup("ticket_comments")[0]["content"] == "looks fine"


def test_end_time_is_set_once_the_ticket_is_closed() -> None:
    closed = make_ticket(current=None, status="Ticket Closed")
    values = PlaceholderValues(closed, WorkflowEvent("CLOSE"), now=NOW, update_date="1764320707000")
    assert values.lookup("ticket_end_time") == "2025/11/28 09:05:07"
    assert values.lookup("step_name") == "Technical Design"


def write_plugin(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "custom_functions.py"
    path.write_text(textwrap.dedent(source))
    return folder


def test_custom_placeholders_come_first_and_get_the_ticket(tmp_path: Path) -> None:
    folder = write_plugin(
        tmp_path,
        """
        def ticket_subject(ticket, **kwargs):
            return "custom: " + ticket.subject

        def risk(ticket, **kwargs):
            return f"{kwargs['event']} in {kwargs['step_name']}"

        def _private(ticket, **kwargs):
            return "hidden"
        """,
    )
    custom = load_custom_functions(folder)
    assert custom.error is None
    assert custom.names() == ["risk", "ticket_subject"]
    values = PlaceholderValues(make_ticket(), WorkflowEvent("CREATE"), custom=custom.functions)
    assert values.lookup("ticket_subject") == "custom: Open port 443"
    assert values.lookup("risk") == "CREATE in Business Approval"
    with pytest.raises(KeyError):
        values.lookup("_private")


def test_a_failing_custom_function_fails_the_request_naming_it(tmp_path: Path) -> None:
    folder = write_plugin(
        tmp_path,
        """
        def broken(ticket, **kwargs):
            raise ValueError("no CMDB entry")
        """,
    )
    values = PlaceholderValues(
        make_ticket(), WorkflowEvent("CREATE"), custom=load_custom_functions(folder).functions
    )
    with pytest.raises(PlaceholderError, match="'broken' failed: ValueError: no CMDB entry"):
        values.lookup("broken")
    with pytest.raises(RenderError, match="broken"):
        render_json('{"a": "{{broken}}"}', values)
    # Other placeholders still work.
    assert values.lookup("ticket_id") == 445


def test_a_hanging_custom_function_is_cut_off(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(plugins, "CALL_TIMEOUT_SECONDS", 0.2)
    folder = write_plugin(
        tmp_path,
        """
        import time

        def slow(ticket, **kwargs):
            time.sleep(3)
        """,
    )
    values = PlaceholderValues(
        make_ticket(), WorkflowEvent("CREATE"), custom=load_custom_functions(folder).functions
    )
    with pytest.raises(PlaceholderError, match="did not return"):
        values.lookup("slow")


def plugin_processes(folder: Path) -> list[int]:
    """Live worker processes of the plugin in ``folder`` that this test process started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        state, ppid = stat.rpartition(")")[2].split()[:2]
        mine = b"plugin_worker" in command and str(folder).encode() in command
        if int(ppid) == os.getpid() and mine and state != "Z":
            found.append(int(entry.name))
    return found


def test_100_runaway_calls_leave_no_plugin_thread_or_process_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "CALL_TIMEOUT_SECONDS", 0.05)
    folder = write_plugin(
        tmp_path,
        """
        import threading, time

        def runaway(ticket, **kwargs):
            threading.Thread(target=time.sleep, args=(3600,)).start()
            while True:
                time.sleep(0.01)

        def fine(ticket, **kwargs):
            return f"ticket {ticket.id}"
        """,
    )
    threads_before = threading.active_count()
    custom = load_custom_functions(folder).functions
    [worker] = plugin_processes(folder)
    for _ in range(100):
        values = PlaceholderValues(make_ticket(), WorkflowEvent("CREATE"), custom=custom)
        with pytest.raises(PlaceholderError, match=r"'runaway' did not return within 0\.05s"):
            values.lookup("runaway")
    assert plugin_processes(folder) == []
    assert worker not in plugin_processes(folder)
    assert threading.active_count() <= threads_before  # no thread of the plugin in WI
    # The next call gets a new worker.
    values = PlaceholderValues(make_ticket(), WorkflowEvent("CREATE"), custom=custom)
    assert values.lookup("fine") == "ticket 445"
    assert len(plugin_processes(folder)) == 1
    plugins.stop_plugin_workers()
    assert plugin_processes(folder) == []


def test_a_broken_plugin_module_is_reported_not_raised(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, "def ok(ticket, **kw):\n    return 1\nraise SystemExit(3)\n")
    custom = load_custom_functions(folder)
    assert custom.functions == {}
    assert custom.error is not None and "SystemExit" in custom.error and "line 3" in custom.error
    assert load_custom_functions(tmp_path / "nothing-here").functions == {}


def test_the_plugin_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    import os

    folder = write_plugin(tmp_path, "def a(ticket, **kw):\n    return 1\n")
    assert load_custom_functions(folder).names() == ["a"]
    path = write_plugin(tmp_path, "def b(ticket, **kw):\n    return 2\n") / "custom_functions.py"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_custom_functions(folder).names() == ["b"]


def test_sample_values_know_declared_fields_and_stress_escaping() -> None:
    sample = SampleValues({"Region": "drop_down_list", "Notes": "text_area"}, ["risk"])
    assert "region" in sample and "risk" in sample and "ticket_id" in sample
    assert "Other" not in sample
    rendered = json.loads(render_json('{"n": "x {{Notes}}", "r": "{{Region}}"}', sample))
    assert "\n" in rendered["n"] and '"' in rendered["n"]

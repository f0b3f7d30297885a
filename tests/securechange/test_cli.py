"""``wi events`` and ``wi sim securechange`` as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from tests.securechange.test_settings_api import CliResult, wi_cli
from tests.servers.live_wi import LiveWI, free_port
from workflow_integrator.cli import app as cli_app

WI = str(Path(sys.executable).parent / "wi")


def test_events_list_and_show(live_wi: LiveWI) -> None:
    with live_wi.client() as c:
        posted = c.post("/api/v1/events/securechange?event=ADVANCE", content=(
            b"<ticket_info><id>12</id><subject>cli</subject><updateDate>3</updateDate>"
            b"</ticket_info>")).json()
    listed = wi_cli(live_wi, "events", "list", "--json", "--ticket", "12")
    assert listed.returncode == 0, listed.stderr
    assert [(e["id"], e["event"]) for e in json.loads(listed.stdout)] == [(posted["id"],
                                                                           "ADVANCE")]
    table = wi_cli(live_wi, "events", "list")
    assert "ADVANCE" in table.stdout and "cli" in table.stdout
    shown = wi_cli(live_wi, "events", "show", str(posted["id"]))
    assert "<subject>cli</subject>" in shown.stdout
    bad = wi_cli(live_wi, "events", "list", "--state", "bogus")
    assert bad.returncode == 2 and "unknown state 'bogus'" in bad.stderr
    missing = wi_cli(live_wi, "events", "show", "999")
    assert missing.returncode == 2 and "event 999 does not exist" in missing.stderr


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("WI_", "SCW_"))}


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / "trigger.log"
    script = tmp_path / "trigger.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(log)!r}, 'a').write(os.environ['SCW_EVENT'] + '\\n')\n"
    )
    state = tmp_path / "sim.json"
    process = subprocess.Popen(
        [WI, "sim", "securechange", "serve", "--port", str(port), "--state-file", str(state),
         "--password", "s3cret", "--trigger", f"{sys.executable} {script}"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=10)


def sim_cli(url: str, *args: str, password: str = "s3cret") -> CliResult:
    """``wi sim securechange ARGS`` in-process (they are HTTP clients of the simulator)."""
    env = {"WI_SIM_URL": url, "WI_SIM_PASSWORD": password, "WI_SIM_USER": None}
    result = CliRunner().invoke(cli_app, ["sim", "securechange", *args], env=env)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def test_simulator_serve_create_move_runs(sim_process: tuple[str, Path]) -> None:
    url, log = sim_process
    created = sim_cli(url, "create", "--subject", "from the CLI", "--field", "Urgent=true",
                      "--field", "Change Window=Sat 02:00", "--json")
    assert created.returncode == 0, created.stderr
    ticket = json.loads(created.stdout)
    moved = sim_cli(url, "move", str(ticket["id"]), "advance")
    assert moved.returncode == 0 and "current step 'Business Approval'" in moved.stdout
    illegal = sim_cli(url, "move", str(ticket["id"]), "reopen")
    assert illegal.returncode == 2 and "only a resolved or closed ticket" in illegal.stderr
    bad_field = sim_cli(url, "create", "--subject", "x", "--field", "novalue")
    assert bad_field.returncode == 2 and "NAME=VALUE" in bad_field.stderr
    deadline = time.monotonic() + 20
    while not log.exists() or log.read_text().split() != ["CREATE", "ADVANCE"]:
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no runs"
        time.sleep(0.1)
    runs = json.loads(sim_cli(url, "runs", "--json").stdout)
    assert [(r["event"], r["exit_code"]) for r in runs] == [("CREATE", 0), ("ADVANCE", 0)]
    rest = httpx2.get(f"{url}/securechangeworkflow/api/securechange/tickets/{ticket['id']}.json",
                      auth=("admin", "s3cret"), trust_env=False)
    assert rest.json()["ticket"]["subject"] == "from the CLI"
    wrong = sim_cli(url, "runs", password="x")
    assert wrong.returncode == 1 and "refused the user name or password" in wrong.stderr

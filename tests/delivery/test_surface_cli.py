"""``wi deliveries``, run for real in subprocesses on a data folder seeded through the queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.delivery.surface import SECRETS, Seeded, seed
from tests.foundation.wi_cli import run_many, run_wi
from workflow_integrator.app import build_services


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, Seeded]:
    """A data folder with five deliveries in five states."""
    data = tmp_path / "data"
    services = build_services(make_settings(data))
    try:
        return data, seed(services)
    finally:
        services.close()


def test_list_and_show_as_tables_and_json(seeded: tuple[Path, Seeded]) -> None:
    data, s = seeded
    table, dead, by_server, shown, shown_json, more = run_many(
        data,
        ["deliveries", "list"],
        ["deliveries", "list", "--state", "dead", "--json"],
        ["deliveries", "list", "--server", "itsm", "--state", "pending", "--state", "dead",
         "--json"],
        ["deliveries", "show", str(s.retrying)],
        ["deliveries", "show", str(s.dead), "--json"],
        ["deliveries", "list", "--limit", "2", "--json"],
    )
    assert table.returncode == 0, table.stderr
    assert "Deliveries" in table.stdout and "remedy" in table.stdout and "held" in table.stdout
    assert [d["id"] for d in json.loads(dead.stdout)["items"]] == [s.dead]
    assert [d["id"] for d in json.loads(by_server.stdout)["items"]] == [s.pending, s.dead]
    assert shown.returncode == 0, shown.stderr
    assert "POST https://itsm.example/api" in shown.stdout
    assert "error (connect): ConnectError: connection refused" in shown.stdout
    detail = json.loads(shown_json.stdout)
    assert detail["state"] == "dead" and detail["attempt_records"][0]["response_status"] == 400
    page = json.loads(more.stdout)
    assert [d["id"] for d in page["items"]] == [s.held, s.pending]
    assert page["next_cursor"] == s.pending
    rest = run_wi(data, "deliveries", "list", "--cursor", str(page["next_cursor"]), "--json")
    assert [d["id"] for d in json.loads(rest.stdout)["items"]] == [s.retrying, s.dead,
                                                                   s.delivered]
    for out in (table, dead, by_server, shown, shown_json, more):
        assert not any(secret in out.stdout + out.stderr for secret in SECRETS)


def test_bad_input_exits_2_naming_the_option(seeded: tuple[Path, Seeded]) -> None:
    data, s = seeded
    state, server, missing, cancel_done = run_many(
        data,
        ["deliveries", "list", "--state", "lost"],
        ["deliveries", "replay", "--server", "nowhere"],
        ["deliveries", "show", str(2**63)],
        ["deliveries", "cancel", str(s.delivered), "--reason", "too late"],
    )
    assert state.returncode == 2 and "state: unknown state 'lost'" in state.stderr
    assert server.returncode == 2 and "server: no outbound server named 'nowhere'" in server.stderr
    assert missing.returncode == 2 and f"delivery {2**63} does not exist" in missing.stderr
    assert cancel_done.returncode == 2
    assert "is delivered; only pending, held deliveries can be cancelled" in cancel_done.stderr


def test_replay_one_in_bulk_with_progress_and_cancel(seeded: tuple[Path, Seeded]) -> None:
    data, s = seeded
    one = run_wi(data, "deliveries", "replay", str(s.delivered))
    assert one.returncode == 0, one.stderr
    assert f"Delivery {s.delivered} is pending again (series 1)." in one.stdout

    bulk = run_wi(data, "deliveries", "replay", "--state", "dead")
    assert bulk.returncode == 0, bulk.stderr
    assert "Replayed 1 delivery." in bulk.stdout
    assert "Replaying" in bulk.stderr and "1/1" in bulk.stderr  # the progress bar

    none_left = run_wi(data, "deliveries", "replay", "--json")
    assert json.loads(none_left.stdout) == {"replayed": 0}

    cancelled = run_wi(data, "deliveries", "cancel", str(s.held), "--reason", "retired",
                       "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    body = json.loads(cancelled.stdout)
    assert body["state"] == "cancelled" and body["cancelled_why"] == "retired"
    assert body["cancelled_by"].startswith("cli")
    states = json.loads(run_wi(data, "deliveries", "list", "--json").stdout)["items"]
    assert {d["id"]: d["state"] for d in states} == {
        s.held: "cancelled", s.pending: "pending", s.retrying: "pending", s.dead: "pending",
        s.delivered: "pending",
    }

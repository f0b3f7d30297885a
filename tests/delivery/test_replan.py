"""Replanning failed events through the REST API, after the integration was fixed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.delivery.world import world
from tests.servers.live_wi import LiveWI, serve_wi
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.settings import Settings

POINT = {"name": "open incident", "on": {"trigger": "CREATE"}, "request": {"path": "/x"}}


@pytest.fixture
def live_api_only(any_db_settings: Settings) -> Iterator[LiveWI]:
    """WI serving the API without delivering: the test plans with its own engine."""
    with serve_wi(any_db_settings.model_copy(update={"serve_workers": False})) as live:
        yield live


async def test_a_failed_event_is_planned_again_once_its_integration_exists(
    live_api_only: LiveWI, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    live_wi_any_db = live_api_only
    with world(live_wi_any_db.settings, sc_simulator, receiver) as w, \
            live_wi_any_db.client() as client:
        w.add_server("itsm")
        first = w.simulator.create_ticket("one")
        second = w.simulator.create_ticket("two")
        ids = [w.event(first.id, "CREATE"), w.event(second.id, "CREATE")]
        await w.plan()
        assert [w.event_row(i).state for i in ids] == ["failed", "failed"]

        not_failed = client.post("/api/v1/events/999999/replan")
        assert not_failed.status_code == 404
        viewer = client.post(f"/api/v1/events/{ids[0]}/replan",
                             headers={"Authorization": f"Bearer {live_wi_any_db.viewer_token}"})
        assert viewer.status_code == 403

        w.add_integration([POINT])
        one = client.post(f"/api/v1/events/{ids[0]}/replan")
        assert one.status_code == 200, one.text
        assert one.json()["state"] == "pending"
        again = client.post(f"/api/v1/events/{ids[0]}/replan")
        assert again.status_code == 409
        assert "only failed events" in again.json()["detail"]

        bad = client.post("/api/v1/events/replan", json={"event": "MOVE"})
        assert bad.status_code == 400 and "MOVE" in bad.json()["detail"]
        bulk = client.post("/api/v1/events/replan", json={"ticket_id": second.id})
        assert bulk.json() == {"replanned": 1}

        assert await w.plan() == 2
        assert [w.event_row(i).state for i in ids] == ["planned", "planned"]
        assert [d.point_name for d in w.deliveries()] == ["open incident", "open incident"]

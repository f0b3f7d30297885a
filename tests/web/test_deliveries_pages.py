"""The Deliveries pages over HTTP: filters, the live table fragment, detail, admin-only changes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.delivery.surface import SECRETS, Seeded, seed, serve_without_engine
from tests.servers.live_wi import LiveWI
from tests.web.conftest import WebUsers, csrf_of
from workflow_integrator.settings import Settings


@pytest.fixture
def live_wi(wi_settings: Settings) -> Iterator[LiveWI]:
    """WI over real HTTP with no delivery engine: deliveries stay as the test stores them."""
    with serve_without_engine(wi_settings) as live:
        yield live


@pytest.fixture
def seeded(web: WebUsers) -> Seeded:
    """Five deliveries in five states behind the UI."""
    return seed(web.live.services)


def rows(html: str) -> int:
    """How many deliveries a page or fragment lists."""
    return html.count('<tr data-delivery="')


def test_the_list_filters_and_its_fragment_refreshes(
    admin_client: httpx2.Client, seeded: Seeded
) -> None:
    page = admin_client.get("/deliveries")
    assert page.status_code == 200
    assert rows(page.text) == 5
    assert 'hx-get="/deliveries/table?' in page.text and 'hx-trigger="every 3s"' in page.text
    dead = admin_client.get("/deliveries", params={"state": "dead", "server": "itsm"})
    assert rows(dead.text) == 1 and f'data-delivery="{seeded.dead}"' in dead.text
    fragment = admin_client.get("/deliveries/table", params={"ticket_id": "104"})
    assert "<html" not in fragment.text and rows(fragment.text) == 1
    bad = admin_client.get("/deliveries", params={"ticket_id": "abc", "since": "soon"})
    assert bad.status_code == 422
    assert "a whole number" in bad.text and "a date and time" in bad.text
    assert all(secret not in page.text for secret in SECRETS)


def test_detail_shows_the_attempt_timeline(admin_client: httpx2.Client, seeded: Seeded) -> None:
    page = admin_client.get(f"/deliveries/{seeded.retrying}")
    assert page.status_code == 200
    assert "POST https://itsm.example/api" in page.text
    assert "ConnectError (at connect): connection refused" in page.text
    assert admin_client.get("/deliveries/999999").status_code == 404
    assert admin_client.get(f"/deliveries/{2**64}").status_code == 404


def test_admins_replay_and_cancel_viewers_see_no_buttons_and_are_refused(
    admin_client: httpx2.Client, viewer_client: httpx2.Client, seeded: Seeded
) -> None:
    viewer_page = viewer_client.get(f"/deliveries/{seeded.dead}")
    assert viewer_page.status_code == 200
    assert ">Replay<" not in viewer_page.text and "bulk-replay" not in viewer_client.get(
        "/deliveries").text
    token = csrf_of(viewer_page.text)
    refused = viewer_client.post(f"/deliveries/{seeded.dead}/replay", data={"csrf_token": token})
    assert refused.status_code == 403

    admin_page = admin_client.get(f"/deliveries/{seeded.dead}")
    token = csrf_of(admin_page.text)
    assert ">Replay<" in admin_page.text
    replayed = admin_client.post(f"/deliveries/{seeded.dead}/replay", data={"csrf_token": token})
    assert replayed.status_code == 303
    assert "series 1 is pending" in admin_client.get(replayed.headers["location"]).text
    no_reason = admin_client.post(f"/deliveries/{seeded.held}/cancel",
                                  data={"csrf_token": token, "reason": ""})
    assert "say why" in admin_client.get(no_reason.headers["location"]).text
    bulk = admin_client.post("/deliveries/replay",
                             data={"csrf_token": token, "state": "delivered"})
    assert bulk.status_code == 303
    assert "Replayed 1 delivery." in admin_client.get(bulk.headers["location"]).text

"""The Deliveries page in real headless Chromium: filters, live states, replay and cancel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.delivery.conftest import LEASE, attempt
from tests.delivery.surface import Seeded, seed, serve_without_engine
from tests.servers.browser import screenshot
from tests.servers.live_wi import LiveWI
from tests.web.conftest import WebUsers
from workflow_integrator.domain.delivery import Outcome
from workflow_integrator.settings import Settings
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue

pytestmark = pytest.mark.browser


@pytest.fixture
def live_wi(wi_settings: Settings) -> Iterator[LiveWI]:
    """WI over real HTTP with no delivery engine: deliveries stay as the test stores them."""
    with serve_without_engine(wi_settings) as live:
        yield live


def sign_in_to_deliveries(page: Page, web: WebUsers, user: tuple[str, str]) -> None:
    """Sign in through the form, then open Deliveries from the menu."""
    page.goto(web.url + "/servers")
    page.get_by_label("User name", exact=True).fill(user[0])
    page.get_by_label("Password", exact=True).fill(user[1])
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page).to_have_url(re.compile(r"/servers$"))
    page.get_by_role("link", name="Deliveries").click()
    expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()


def record_attempt(web: WebUsers, delivery_id: int) -> None:
    """A worker sends the replayed delivery and records a 201, through the queue."""
    services = web.live.services
    queue = DatabaseDeliveryQueue(services.engine, services.sessions)
    now = datetime.now(UTC)
    claimed = queue.claim("browser-test", 10, now, LEASE)
    assert delivery_id in [c.id for c in claimed]
    queue.release("browser-test", [c.id for c in claimed if c.id != delivery_id])
    assert queue.record(delivery_id, "browser-test", Outcome(
        "delivered", "201 Created", attempt(now, 201), status=201), now)


def test_admin_filters_reads_attempts_replays_and_sees_states_change_live(
    page: Page, web: WebUsers
) -> None:
    s: Seeded = seed(web.live.services)
    sign_in_to_deliveries(page, web, web.admin)
    table = page.locator("#delivery-list tbody tr")
    expect(table).to_have_count(5)
    held = page.locator(f'tr[data-delivery="{s.held}"]')
    expect(held.locator(".badge").first).to_have_text("held")
    screenshot(page, "deliveries-list")

    # Changed elsewhere (the API, another admin): the open page follows without reloading.
    web.live.services.deliveries.cancel(s.held, "someone", "retired server")
    expect(held.locator(".badge").first).to_have_text("cancelled", timeout=10_000)

    page.get_by_label("State").select_option("dead")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(table).to_have_count(1)
    page.get_by_role("link", name=str(s.dead), exact=True).click()
    expect(page.get_by_role("heading", name=f"Delivery {s.dead}")).to_be_visible()
    attempt = page.locator("#attempts li.attempt")
    expect(attempt).to_have_count(1)
    expect(attempt.locator(".request-line")).to_have_text("POST https://itsm.example/api")
    expect(attempt.locator(".response-status")).to_have_text("400")
    attempt.get_by_text("Request headers and body").click()
    expect(attempt.locator("pre.headers").first).to_contain_text("Authorization: Basic ********")
    screenshot(page, "delivery-detail")

    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text("series 1 is pending")
    expect(page.locator("#delivery-state")).to_have_text("pending")
    # The first series' attempt stays in the timeline.
    expect(page.locator("#attempts li.attempt")).to_have_count(1)
    # A new attempt shows up without reloading, and an opened record stays open.
    page.locator("#attempts li.attempt details").first.locator("summary").click()
    record_attempt(web, s.dead)
    expect(page.locator("#attempts li.attempt")).to_have_count(2, timeout=10_000)
    expect(page.locator("#attempts li.attempt").nth(0)).to_contain_text("Replay 1, attempt 1")
    expect(page.locator("#attempts li.attempt").nth(1).locator("details").first
           ).to_have_attribute("open", "")
    expect(page.locator("#delivery-state")).to_have_text("delivered")

    page.goto(f"{web.url}/deliveries/{s.pending}")
    page.get_by_label("Reason").fill("duplicate of another change")
    page.get_by_role("button", name="Cancel delivery").click()
    expect(page.get_by_role("status")).to_have_text("Cancelled.")
    expect(page.locator("#delivery-facts")).to_contain_text("alice: duplicate of another change")

    # A filtered set at once: every delivered one.
    page.goto(f"{web.url}/deliveries?state=delivered")
    expect(table).to_have_count(2)
    page.get_by_role("button", name=re.compile("Replay all delivered deliveries")).click()
    expect(page.get_by_role("status")).to_have_text("Replayed 2 deliveries.")
    expect(page.locator("#delivery-list tbody tr")).to_have_count(0)


def test_viewers_read_but_see_no_replay_or_cancel(page: Page, web: WebUsers) -> None:
    s: Seeded = seed(web.live.services)
    sign_in_to_deliveries(page, web, web.viewer)
    expect(page.locator("#delivery-list tbody tr")).to_have_count(5)
    expect(page.locator("#bulk-replay")).to_have_count(0)
    page.goto(f"{web.url}/deliveries/{s.pending}")
    expect(page.locator("#delivery-state")).to_have_text("pending")
    expect(page.get_by_role("button", name="Replay")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel delivery")).to_have_count(0)

"""Events, ticket and SecureChange pages in real Chromium, and axe-core on every page."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.integrations.conftest import EXAMPLE, SERVERS
from tests.servers.axe import assert_accessible
from tests.servers.browser import screenshot
from tests.servers.simulator import SimulatorHandle
from tests.web.conftest import WebUsers
from tests.web.test_browser import field, ui_sign_in
from tests.web.test_events_pages import send_events

pytestmark = pytest.mark.browser


def test_events_filter_detail_and_ticket_journey_with_the_keyboard(
    page: Page, web: WebUsers
) -> None:
    ids = send_events(web)
    ui_sign_in(page, web, web.viewer)
    page.get_by_role("link", name="Events").click()
    expect(page.locator("#event-list tbody tr")).to_have_count(4)
    # Filter by ticket and event with the keyboard only.
    field(page, "Ticket").fill("41")
    field(page, "Event").select_option("ADVANCE")
    field(page, "Ticket").press("Enter")
    expect(page).to_have_url(re.compile(r"ticket=41"))
    expect(page.locator("#event-list tbody tr")).to_have_count(2)
    expect(field(page, "Ticket")).to_have_value("41")
    screenshot(page, "events")
    title = f"Event {ids[3]}: ADVANCE of ticket 41"
    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("#document-pretty")).to_contain_text("<name>Review &amp; approve</name>")
    screenshot(page, "event-detail")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Ticket 41").click()
    entries = page.locator("#journey > li")
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("CREATE")
    expect(entries.nth(2)).to_contain_text("ADVANCE")
    screenshot(page, "ticket")
    # The top bar's search box, by keyboard.
    search = page.get_by_role("searchbox", name="Ticket id").or_(page.get_by_label("Ticket id"))
    search.fill("42")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/tickets/42$"))
    expect(page.locator("#journey > li")).to_have_count(1)


def test_securechange_connection_page(
    page: Page, web: WebUsers, sc_simulator: SimulatorHandle
) -> None:
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="SecureChange").click()
    expect(page.get_by_role("heading", name="SecureChange connection")).to_be_visible()
    field(page, "SecureChange host").fill(sc_simulator.url)
    field(page, "REST API user").fill(sc_simulator.username)
    field(page, "Password").fill("not-the-password")
    field(page, "Verify certificate").select_option("disable")
    expect(page.locator("#tls-warning")).to_be_visible()
    field(page, "Protocol").select_option("http")  # the simulator speaks HTTP
    expect(page.locator("#tls-warning")).to_be_hidden()
    page.get_by_role("button", name="Test connection").click()
    outcome = page.locator("#sc-test-outcome")
    expect(outcome).to_contain_text("Failed at stage http")
    expect(outcome).to_contain_text("401")
    services = web.live.services
    settings = services.securechange
    assert settings.connection() is None  # a test saves nothing
    field(page, "Password").fill(sc_simulator.password)
    page.get_by_role("button", name="Test connection").click()
    expect(outcome).to_contain_text("✔ connected to")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved the SecureChange connection.")
    expect(field(page, "Password")).to_have_value("********")
    assert sc_simulator.password not in page.content()
    # The stored password is kept when the mask is left as is.
    page.get_by_role("button", name="Test connection").click()
    expect(outcome).to_contain_text("✔ connected to")
    screenshot(page, "securechange")

    page.get_by_role("button", name="Sign out").click()
    ui_sign_in(page, web, web.viewer)
    page.get_by_role("link", name="SecureChange").click()
    expect(field(page, "SecureChange host")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
    assert_accessible(page, "SecureChange page (viewer)")


def test_every_page_has_no_serious_accessibility_violation(page: Page, web: WebUsers) -> None:
    services = web.live.services
    for server in SERVERS:
        services.servers.create(json.loads(json.dumps(server)))
    services.integrations.create(json.loads(json.dumps(EXAMPLE)))
    ids = send_events(web)
    name = SERVERS[0]["name"]
    ui_sign_in(page, web, web.admin)
    admin_pages = [
        "/servers", "/servers?saved=x", "/servers/new", f"/servers/{name}/edit",
        f"/servers/{name}/delete", "/servers/new?duplicate=" + name,
        "/integrations", "/integrations/new", "/integrations/Access%20Request/edit",
        "/integrations/Access%20Request/delete", "/users", "/account/password",
        "/events", "/events?ticket=abc", f"/events/{ids[0]}", f"/events/{ids[3]}",
        "/tickets/41", "/tickets/9", "/tickets?ticket=x", "/securechange", "/servers/nope/edit",
        "/audit", "/audit?kind=server",
    ]
    for path in admin_pages:
        page.goto(web.url + path)
        assert_accessible(page, f"{path} (admin)")
    # The dialog's error state and its Authentication tab.
    page.goto(web.url + "/servers/new")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#form-errors")).to_be_visible()
    assert_accessible(page, "server dialog with errors")
    page.get_by_role("tab", name=re.compile("Authentication")).click()
    assert_accessible(page, "server dialog, Authentication tab")
    page.goto(web.url + "/securechange")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#form-errors")).to_be_visible()
    assert_accessible(page, "SecureChange page with errors")

    page.get_by_role("button", name="Sign out").click()
    assert_accessible(page, "/sign-in")
    ui_sign_in(page, web, web.viewer)
    for path in ["/servers", f"/servers/{name}/edit", "/integrations",
                 "/integrations/Access%20Request/edit", "/events", "/securechange", "/users",
                 "/audit"]:
        page.goto(web.url + path)
        assert_accessible(page, f"{path} (viewer)")

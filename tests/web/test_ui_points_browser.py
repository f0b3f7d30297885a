"""The admin UI as a person meets it, in real Chromium: banners, roles, secrets, dialog."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from playwright.sync_api import Page, expect

from tests.integrations.conftest import EXAMPLE, SERVERS
from tests.servers import oauth
from tests.servers.browser import screenshot
from tests.servers.oauth import OAuthServer, run_oauth_server
from tests.servers.receiver import Receiver
from tests.web.conftest import WebUsers
from tests.web.test_browser import auth_tab, field, ui_sign_in
from workflow_integrator.store.servers import set_state

pytestmark = pytest.mark.browser


def test_a_banner_never_comes_from_the_url(page: Page, web: WebUsers) -> None:
    web.live.services.servers.create(
        {"name": "itsm", "host": "itsm.example.com", "auth": {"method": "none"}}
    )
    ui_sign_in(page, web, web.admin)
    for path in ("/servers?saved=does-not-exist", "/servers?deleted=itsm",
                 "/integrations?saved=Payroll", "/users?notice=You%20won"):
        page.goto(web.url + path)
        expect(page.get_by_role("status")).to_have_count(0)
    # A real save shows its banner once; reloading the page does not repeat it.
    page.goto(web.url + "/servers")
    page.get_by_role("link", name="Edit itsm").click()
    field(page, "Outbound Host").fill("itsm2.example.com")
    field(page, "Outbound Host").press("Enter")
    expect(page).to_have_url(re.compile(r"/servers$"))
    expect(page.get_by_role("status")).to_have_text("Saved outbound server itsm.")
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)


def test_viewers_are_not_offered_what_they_cannot_use(page: Page, web: WebUsers) -> None:
    services = web.live.services
    for server in SERVERS:
        services.servers.create(json.loads(json.dumps(server)))
    services.integrations.create(json.loads(json.dumps(EXAMPLE)))
    ui_sign_in(page, web, web.viewer)
    # Typed or bookmarked: a 403 page that says why, with a way back, by keyboard.
    for path, back in (
        ("/servers/new", "Back to the servers"),
        ("/servers/new?duplicate=jira-emea", "Back to the servers"),
        ("/servers/jira-emea/delete", "Back to the servers"),
        ("/integrations/new", "Back to the integrations"),
        ("/integrations/Access%20Request/delete", "Back to the integrations"),
        ("/users", "Back to the servers"),
    ):
        answer = page.goto(web.url + path)
        assert answer is not None and answer.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        expect(page.get_by_role("alert")).to_contain_text("Your role is viewer")
        expect(page.get_by_role("button", name=re.compile("Delete|Save"))).to_have_count(0)
        link = page.get_by_role("link", name=back)
        link.focus()
        page.keyboard.press("Enter")
        expect(page).not_to_have_url(re.compile(re.escape(path) + "$"))
    # Read-only views offer no buttons that do nothing.
    page.goto(web.url + "/integrations")
    expect(page.get_by_role("link", name=re.compile("^(New|Delete)"))).to_have_count(0)
    page.get_by_role("link", name="View Access Request").click()
    expect(page.get_by_text("You have the viewer role: read only.")).to_be_visible()
    for name in ("Save", "Add point", "Add route"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_label(re.compile("Remove point"))).to_have_count(0)
    page.goto(web.url + "/servers")
    expect(page.get_by_role("link", name=re.compile("^(Duplicate|Delete) "))).to_have_count(0)


def test_the_proxy_password_is_kept_like_every_secret(page: Page, web: WebUsers) -> None:
    servers = web.live.services.servers
    servers.create({"name": "itsm", "host": "itsm.example.com",
                    "proxy": "http://puser:proxy-secret@10.20.0.9:3128",
                    "auth": {"method": "basic", "username": "wi", "password": "basic-secret"}})
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Edit itsm").click()
    proxy = field(page, "Proxy server")
    expect(proxy).to_have_value("http://puser:********@10.20.0.9:3128")
    # The dialog states the rule next to the field.
    expect(page.locator("#hint-proxy")).to_contain_text("also when you change the address")
    proxy.fill("http://puser:********@10.20.0.10:3128")
    proxy.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Saved outbound server itsm.")
    config = servers.get_config("itsm")
    assert config.proxy is not None and config.proxy.url == "http://10.20.0.10:3128"
    assert config.proxy.password is not None
    assert config.proxy.password.get_secret_value() == "proxy-secret"
    assert config.auth.password.get_secret_value() == "basic-secret"  # type: ignore[union-attr]


def _mark_needs_credentials(web: WebUsers, name: str) -> None:
    """Arrange: the server was refused earlier (what a delivery would have recorded)."""
    services = web.live.services
    with services.sessions() as session, session.begin():
        set_state(session, services.servers.id_of(name), "needs_credentials", "refused earlier")


def test_what_if_checks_never_change_the_saved_server(
    page: Page, web: WebUsers, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    servers = web.live.services.servers
    servers.create({
        "name": "itsm", "host": receiver.host, "protocol": "http",
        "auth": {"method": "oauth2", "grant_type": "refresh_token",
                 "token_url": oauth_server.token_url, "client_id": oauth.CLIENT_ID,
                 "client_secret": oauth.CLIENT_SECRET,
                 "refresh_token": oauth_server.issue_refresh_token()},
    })
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Edit itsm").click()
    auth_tab(page)
    result = page.locator("#fetch-token-result")
    fetch = page.get_by_role("button", name="Fetch Token")
    # An unsaved token URL where the saved refresh token means nothing: invalid_grant.
    with run_oauth_server() as elsewhere:
        field(page, "Access Token URL").fill(elsewhere.token_url)
        fetch.focus()
        page.keyboard.press("Enter")
        expect(result).to_contain_text("invalid_grant")
    view = servers.get("itsm")
    assert (view.state, view.auth["token_url"]) == ("ok", oauth_server.token_url)

    # With the saved values, a success ends needs_credentials: Fetch Token ...
    _mark_needs_credentials(web, "itsm")
    page.reload()
    auth_tab(page)
    fetch.focus()
    page.keyboard.press("Enter")
    expect(result).to_contain_text("✔")
    assert servers.get("itsm").state == "ok"
    # ... and Test connection.
    _mark_needs_credentials(web, "itsm")
    page.reload()
    test = page.get_by_role("button", name="Test connection")
    test.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#test-connection-result")).to_contain_text("HTTP 200")
    page.goto(web.url + "/servers")
    expect(page.locator('tr[data-server="itsm"]')).to_contain_text("ok")
    assert servers.get("itsm").state == "ok"


def test_the_server_dialog_is_a_modal_dialog_over_the_list(page: Page, web: WebUsers) -> None:
    web.live.services.servers.create(
        {"name": "itsm", "host": "itsm.example.com", "auth": {"method": "none"}}
    )
    ui_sign_in(page, web, web.admin)
    # Keyboard only: Actions → New Server.
    actions = page.locator("summary", has_text="Actions")
    actions.focus()
    page.keyboard.press("Enter")
    page.get_by_role("link", name="New Server").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Outbound Server Configuration")
    expect(dialog).to_be_visible()
    assert page.evaluate("() => document.getElementById('server-dialog').matches(':modal')")
    expect(page).to_have_url(re.compile(r"/servers/new$"))
    expect(field(page, "Outbound name")).to_be_focused()
    expect(page.locator("#server-list")).to_be_visible()  # the list stays behind it
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/servers$"))
    expect(actions).to_be_focused()

    # Edit from a row: Cancel closes, focus goes back to the row's link.
    edit = page.get_by_role("link", name="Edit itsm")
    edit.focus()
    page.keyboard.press("Enter")
    expect(field(page, "Outbound name")).to_be_focused()
    expect(field(page, "Outbound name")).to_have_value("itsm")
    page.get_by_role("link", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(edit).to_be_focused()

    # A deep link opens the dialog over the list; errors keep it open with the summary focused.
    page.goto(web.url + "/servers/itsm/edit")
    expect(dialog).to_be_visible()
    assert page.evaluate("() => document.getElementById('server-dialog').matches(':modal')")
    expect(field(page, "Outbound name")).to_be_focused()
    field(page, "Outbound Host").fill("bad host")
    field(page, "Outbound Host").press("Enter")
    expect(page.locator("#form-errors")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/servers$"))
    assert web.live.services.servers.get("itsm").host == "itsm.example.com"


def test_the_server_list_searches_sorts_pages_and_fits_a_tablet(
    page: Page, web: WebUsers
) -> None:
    servers = web.live.services.servers
    for i in range(28):
        servers.create({"name": f"srv-{i:02d}", "host": f"h{27 - i:02d}.example.com",
                        "verify_certificate": "enable", "auth": {"method": "none"}})
    leaf = trustme.CA().issue_cert(
        "soon.example.com", not_after=datetime.now(UTC) + timedelta(days=10)
    )
    servers.create({"name": "jira-soon", "host": "soon.example.com",
                    "verify_certificate": "certificate",
                    "certificate": leaf.cert_chain_pems[0].bytes().decode(),
                    "proxy": "http://puser:secret@10.20.0.9:3128",
                    "auth": {"method": "basic", "username": "u", "password": "p"}})
    page.set_viewport_size({"width": 768, "height": 1024})
    ui_sign_in(page, web, web.admin)
    rows = page.locator("#server-list tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#server-count")).to_have_text("29 servers")
    # Usable at tablet width: nothing wider than the screen, state and actions in view.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 768
    first = rows.first
    for part in (first.locator("td.state"), first.get_by_role("link", name=re.compile("^Delete"))):
        box = part.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 768, box
    # Paging by keyboard.
    page.get_by_role("link", name="Next »").focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(4)
    expect(page.get_by_text("Page 2 of 2", exact=True)).to_be_visible()
    # Sorting by host, descending.
    page.get_by_role("link", name="Host").click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("Host")
    expect(rows.first).to_have_attribute("data-server", "srv-27")
    page.get_by_role("link", name=re.compile("^Host")).click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Host")
    expect(rows.first).to_have_attribute("data-server", "jira-soon")
    # Search (server-side), warnings as badges.
    search = page.get_by_role("searchbox", name="Search")
    search.fill("jira")
    search.press("Enter")
    expect(rows).to_have_count(1)
    expect(page.locator("#server-count")).to_have_text("1 of 29 servers match")
    warnings = page.get_by_role("list", name="Warnings for jira-soon")
    expect(warnings).to_contain_text("Certificate expires")
    expect(warnings).to_contain_text("Via proxy")
    screenshot(page, "server-list-tablet")
    search.fill("nothing-like-this")
    search.press("Enter")
    expect(page.locator("#no-match")).to_be_visible()


LIBRARY_WORDS = (
    "String should", "Field required", "Input should", "cryptography", "InvalidData", "auth."
)


def test_messages_are_in_the_dialogs_words_each_once(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    page.goto(web.url + "/servers/new")
    field(page, "Verify certificate").select_option("certificate")
    page.get_by_text("or paste the PEM text").click()
    field(page, "Certificate PEM text").fill(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    )
    page.get_by_text("Advanced", exact=True).click()
    field(page, "Timeout (seconds)").fill("0")
    auth_tab(page)
    field(page, "Authentication method").select_option("oauth2")
    field(page, "Access Token URL").fill("https://login.example.com/token")
    field(page, "Login user name").fill("wi")
    # Fetch Token: labels instead of API paths, the hidden Server tab counts its errors.
    page.get_by_role("button", name="Fetch Token").click()
    result = page.locator("#fetch-token-result")
    expect(result).to_contain_text("Client ID: a value is required")
    expect(result).not_to_contain_text("auth.client_id")
    expect(page.get_by_role("tab", name=re.compile("^Server"))).to_contain_text("3")
    # A rule joining two fields is reported together with the field errors, not after them.
    page.get_by_role("tab", name=re.compile("^Server")).click()
    field(page, "HTTP headers (comma separated)").fill("Authorization: Basic abc")
    # Save: every problem at once, each once, in words, under the field's label.
    page.get_by_role("button", name="Save").click()
    summary = page.locator("#form-errors")
    expect(summary).to_contain_text("HTTP headers: 'Authorization' is set by the oauth2")
    expect(summary).to_contain_text("Outbound name: a value is required")
    expect(summary).to_contain_text("Outbound Host: enter the outbound server's IP address")
    expect(summary).to_contain_text("Timeout: enter a number greater than 0")
    expect(summary).to_contain_text("Client ID: a value is required")
    expect(summary).to_contain_text("Certificate: certificate 1 cannot be read")
    text = summary.inner_text()
    assert text.count("certificate 1 cannot be read") == 1, text
    html = page.content()
    assert html.count("certificate 1 cannot be read") == 2  # the summary and under the field
    for words in LIBRARY_WORDS:
        assert words not in page.locator("main").inner_text(), words


def test_integration_editor_and_certificate_polish(page: Page, web: WebUsers) -> None:
    services = web.live.services
    for server in SERVERS:
        services.servers.create(json.loads(json.dumps(server)))
    ui_sign_in(page, web, web.admin)
    page.goto(web.url + "/integrations/new")
    # Fields sit inside the card, Preview comes before Save.
    card = page.locator("section.integration-editor").bounding_box()
    name = page.get_by_label("Workflow", exact=True).bounding_box()
    assert card and name and name["x"] - card["x"] >= 16, (card, name)
    preview = page.get_by_role("button", name="Preview").bounding_box()
    save = page.get_by_role("button", name="Save").bounding_box()
    assert preview and save and preview["y"] < save["y"]
    page.get_by_role("button", name="Save").click()
    summary = page.locator("#form-errors")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="Workflow")).to_be_visible()
    expect(summary).to_contain_text("Workflow: a value is required")
    summary.get_by_role("link", name="Workflow").click()
    expect(page.get_by_label("Workflow", exact=True)).to_be_focused()

    # The live certificate preview flags an expired certificate before Save.
    old = trustme.CA().issue_cert("old.example.com", not_before=datetime(2020, 1, 1, tzinfo=UTC),
                                  not_after=datetime(2021, 1, 1, tzinfo=UTC))
    page.goto(web.url + "/servers/new")
    field(page, "Verify certificate").select_option("certificate")
    page.get_by_text("or paste the PEM text").click()
    pem = old.cert_chain_pems[0].bytes().decode()
    box = field(page, "Certificate PEM text")
    box.fill(pem)
    box.blur()
    expect(page.locator("#certificate-info")).to_contain_text("Expired")
    # A pasted PEM with CRLF is stored with plain newlines.
    fresh = trustme.CA().cert_pem.bytes().decode().replace("\n", "\r\n")
    field(page, "Outbound name").fill("crlf")
    field(page, "Outbound Host").fill("crlf.example.com")
    box.fill(fresh)
    auth_tab(page)
    field(page, "Authentication method").select_option("none")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server crlf.")
    stored = services.servers.get_config("crlf").certificate
    assert stored is not None and "\r" not in stored

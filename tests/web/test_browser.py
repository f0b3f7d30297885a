"""The web UI in real headless Chromium against a live WI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme
from playwright.sync_api import Locator, Page, expect

from tests.servers.browser import screenshot
from tests.web.conftest import WebUsers

pytestmark = pytest.mark.browser


def ui_sign_in(page: Page, web: WebUsers, user: tuple[str, str]) -> None:
    """Sign in through the form, with the keyboard, as a user would."""
    page.goto(web.url + "/servers")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    field(page, "User name").fill(user[0])
    field(page, "Password").fill(user[1])
    field(page, "Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/servers$"))
    expect(page.locator(".who .user")).to_contain_text(user[0])


def field(page: Page, label: str) -> Locator:
    """The visible input labelled ``label`` (hidden methods' inputs share labels)."""
    return page.get_by_label(label, exact=True).filter(visible=True)


def open_new_server(page: Page) -> None:
    """Actions → New Server."""
    page.locator("summary", has_text="Actions").click()
    expect(page.get_by_role("link", name="New Server")).to_be_visible()
    page.get_by_role("link", name="New Server").click()
    expect(page.get_by_role("heading", name="Outbound Server Configuration")).to_be_visible()


def fill_server_tab(page: Page, name: str, host: str) -> None:
    field(page, "Outbound name").fill(name)
    field(page, "Outbound Host").fill(host)


def auth_tab(page: Page) -> None:
    page.get_by_role("tab", name=re.compile("Authentication")).click()


def row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-server="{name}"]')


def test_sign_in_lands_on_the_servers_list(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    expect(page.get_by_role("link", name="Servers")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No outbound servers yet")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto(web.url + "/servers")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_create_one_server_of_each_auth_method(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)

    open_new_server(page)
    # The seed's defaults are prefilled.
    expect(field(page, "HTTP headers (comma separated)")).to_have_value(
        "Content-Type: application/json"
    )
    expect(field(page, "Verify certificate")).to_have_value("disable")
    expect(page.locator("#tls-warning")).to_be_visible()
    fill_server_tab(page, "servicenow", "itsm.example.com")
    field(page, "Proxy server").fill("http://proxy-user:proxy-pass@10.20.0.9:3128")
    screenshot(page, "dialog-server-tab")
    auth_tab(page)
    field(page, "Authentication method").select_option("basic")
    field(page, "Login user name").fill("wi-basic")
    field(page, "Login password").fill("basic-secret-1")
    # Fetch Token applies to OAuth 2.0 and Bearer only.
    expect(page.get_by_role("button", name="Fetch Token")).to_be_hidden()
    screenshot(page, "dialog-auth-basic")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server servicenow.")

    open_new_server(page)
    fill_server_tab(page, "jira", "jira.example.com:8443/rest")
    auth_tab(page)
    field(page, "Authentication method").select_option("oauth2")
    expect(field(page, "Grant type")).to_have_value("password")
    field(page, "Access Token URL").fill("https://jira.example.com/oauth/token")
    field(page, "Login user name").fill("wi-oauth")
    field(page, "Login password").fill("oauth-user-secret")
    field(page, "Client ID").fill("wi-client")
    field(page, "Client Secret").fill("oauth-client-secret")
    field(page, "Scope (optional)").fill("useraccount")
    expect(field(page, "Refresh Token")).to_be_hidden()
    expect(page.get_by_role("button", name="Fetch Token")).to_be_visible()
    screenshot(page, "dialog-auth-oauth2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server jira.")

    open_new_server(page)
    fill_server_tab(page, "remedy", "remedy.example.com")
    auth_tab(page)
    field(page, "Authentication method").select_option("oauth2")
    field(page, "Grant type").select_option("refresh_token")
    # The refresh token replaces user name and password.
    expect(field(page, "Login user name")).to_be_hidden()
    expect(field(page, "Login password")).to_be_hidden()
    field(page, "Access Token URL").fill("https://remedy.example.com/token")
    field(page, "Refresh Token").fill("refresh-secret-token")
    field(page, "Client ID").fill("remedy-client")
    field(page, "Client Secret").fill("remedy-client-secret")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server remedy.")

    open_new_server(page)
    fill_server_tab(page, "inhouse", "10.0.0.5")
    field(page, "Protocol").select_option("http")
    auth_tab(page)
    field(page, "Authentication method").select_option("bearer")
    expect(field(page, "Token")).to_be_visible()
    expect(field(page, "Token Script")).to_be_visible()
    expect(page.locator("#hint-bearer_token_script")).to_contain_text("the token takes precedence")
    field(page, "Token").fill("bearer-secret-token-value")
    page.get_by_text("Token script options").click()
    field(page, "Run the script again after (seconds)").fill("600")
    screenshot(page, "dialog-auth-bearer")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server inhouse.")

    expect(row(page, "servicenow")).to_contain_text("Basic")
    expect(row(page, "jira")).to_contain_text("OAuth 2.0 (password credentials)")
    expect(row(page, "remedy")).to_contain_text("OAuth 2.0 (refresh token)")
    expect(row(page, "inhouse")).to_contain_text("Bearer Token")
    expect(row(page, "inhouse")).to_contain_text("HTTP")
    expect(row(page, "servicenow").locator(".badge.warn")).to_have_text("⚠ Disable")
    screenshot(page, "server-list")

    servers = web.live.services.servers
    assert servers.names() == ["inhouse", "jira", "remedy", "servicenow"]
    jira = servers.get_config("jira")
    assert jira.target.port == 8443
    assert jira.auth.method == "oauth2"
    assert jira.auth.client_secret is not None
    assert jira.auth.client_secret.get_secret_value() == "oauth-client-secret"
    assert servers.get_config("remedy").auth.refresh_token.get_secret_value() == (  # type: ignore[union-attr]
        "refresh-secret-token"
    )
    inhouse = servers.get_config("inhouse").auth
    assert inhouse.method == "bearer"
    assert inhouse.token_script_ttl_seconds == 600
    assert inhouse.token_script_timeout_seconds == 30
    proxy = servers.get_config("servicenow").proxy
    assert proxy is not None and proxy.password is not None
    assert proxy.password.get_secret_value() == "proxy-pass"
    assert "bearer-secret-token-value" not in page.content()


def test_validation_errors_appear_next_to_their_fields_and_input_is_kept(
    page: Page, web: WebUsers
) -> None:
    ui_sign_in(page, web, web.admin)
    open_new_server(page)
    fill_server_tab(page, "bad one", "itsm example.com")
    field(page, "HTTP headers (comma separated)").fill("Content-Type application/json")
    auth_tab(page)
    field(page, "Login user name").fill("wi-basic")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#form-errors")).to_contain_text("on both tabs")
    host_error = page.locator("#err-host")
    expect(host_error).to_contain_text("must not contain spaces")
    headers_field = page.locator(".field", has=field(page, "HTTP headers (comma separated)"))
    expect(headers_field.locator(".field-error")).to_be_visible()
    expect(field(page, "Outbound Host")).to_have_attribute("aria-invalid", "true")
    # What the user typed is still there.
    expect(field(page, "Outbound name")).to_have_value("bad one")
    expect(field(page, "HTTP headers (comma separated)")).to_have_value(
        "Content-Type application/json"
    )
    expect(page.get_by_role("tab", name=re.compile("Authentication"))).to_contain_text("1")
    screenshot(page, "dialog-validation-errors")
    # The summary links to each field, opening the tab that holds it.
    expect(page.locator("#form-errors")).to_be_focused()
    page.locator("#form-errors").get_by_role("link", name="Login password").click()
    expect(page.locator("#basic_password")).to_be_focused()
    expect(field(page, "Login user name")).to_have_value("wi-basic")
    expect(page.locator("#err-basic_password")).to_contain_text("password is required")
    assert web.live.services.servers.names() == []


def test_edit_keeps_secrets_unless_retyped(page: Page, web: WebUsers) -> None:
    servers = web.live.services.servers
    servers.create(
        {
            "name": "itsm",
            "host": "itsm.example.com",
            "auth": {
                "method": "oauth2",
                "token_url": "https://itsm.example.com/oauth_token.do",
                "username": "wi",
                "password": "stored-user-password",
                "client_id": "client",
                "client_secret": "stored-client-secret",
            },
            "client_certificate": None,
        }
    )
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Edit itsm").click()
    field(page, "Outbound Host").fill("itsm2.example.com")
    auth_tab(page)
    expect(field(page, "Login password")).to_have_value("********")
    expect(field(page, "Client Secret")).to_have_value("********")
    assert "stored-user-password" not in page.content()
    field(page, "Client Secret").fill("retyped-client-secret")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server itsm.")

    config = servers.get_config("itsm")
    assert config.host == "itsm2.example.com"
    assert config.auth.password.get_secret_value() == "stored-user-password"  # type: ignore[union-attr]
    assert config.auth.client_secret.get_secret_value() == "retyped-client-secret"  # type: ignore[union-attr]


def test_viewer_cannot_save(page: Page, web: WebUsers) -> None:
    web.live.services.servers.create(
        {"name": "itsm", "host": "itsm.example.com", "auth": {"method": "none"}}
    )
    ui_sign_in(page, web, web.viewer)
    expect(page.locator("summary", has_text="Actions")).to_have_count(0)
    page.get_by_role("link", name="View itsm").click()
    expect(field(page, "Outbound Host")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_text("You have the viewer role")).to_be_visible()
    # Read only, but every tab can be looked at.
    auth_tab(page)
    expect(field(page, "Authentication method")).to_have_value("none")
    expect(field(page, "Authentication method")).to_be_disabled()
    # Even a forged submit with the viewer's own valid CSRF token is refused.
    status = page.evaluate(
        """async () => {
            const body = new URLSearchParams({csrf_token: document.body.dataset.csrfToken,
                name: "itsm", host: "evil.example.com", protocol: "https",
                verify_certificate: "disable", auth_method: "none"});
            const r = await fetch("/servers/itsm/edit", {method: "POST", body});
            return r.status;
        }"""
    )
    assert status == 403
    assert web.live.services.servers.get("itsm").host == "itsm.example.com"


def test_post_without_csrf_token_is_refused_in_the_browser(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    status = page.evaluate(
        """async () => {
            const body = new URLSearchParams({name: "forged", host: "h.example.com",
                protocol: "https", verify_certificate: "disable", auth_method: "none"});
            const r = await fetch("/servers/new", {method: "POST", body});
            return r.status;
        }"""
    )
    assert status == 403
    assert web.live.services.servers.names() == []


def test_certificate_upload_shows_subject_and_expiry(
    page: Page, web: WebUsers, tmp_path: Path
) -> None:
    # The page's own scripts must run under its strict Content-Security-Policy.
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    ca = trustme.CA(organization_name="WI Test CA")
    pem = tmp_path / "itsm-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    ui_sign_in(page, web, web.admin)
    open_new_server(page)
    fill_server_tab(page, "itsm", "itsm.example.com")
    expect(field(page, "Certificate file (PEM)")).to_be_hidden()
    field(page, "Verify certificate").select_option("certificate")
    expect(page.locator("#tls-warning")).to_be_hidden()
    field(page, "Certificate file (PEM)").set_input_files(str(pem))
    info = page.locator("#certificate-info")
    expect(info).to_contain_text("WI Test CA")
    expect(info).to_contain_text("Expires")
    screenshot(page, "dialog-certificate")
    auth_tab(page)
    field(page, "Authentication method").select_option("none")
    page.get_by_role("button", name="Save").click()
    expect(row(page, "itsm")).to_contain_text("Certificate")
    saved = web.live.services.servers.get("itsm")
    assert saved.verify_certificate == "certificate"
    assert "WI Test CA" in saved.certificate_info[0]["subject"]
    assert console_errors == []


def test_duplicate_keeps_the_secrets_and_delete_asks_first(page: Page, web: WebUsers) -> None:
    servers = web.live.services.servers
    servers.create(
        {
            "name": "itsm",
            "host": "itsm.example.com",
            "auth": {"method": "basic", "username": "wi", "password": "original-secret"},
        }
    )
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Duplicate itsm").click()
    expect(field(page, "Outbound name")).to_have_value("itsm (copy)")
    field(page, "Outbound name").fill("itsm-test")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server itsm-test.")
    copy = servers.get_config("itsm-test")
    assert copy.auth.password.get_secret_value() == "original-secret"  # type: ignore[union-attr]

    # A server some integration uses cannot be deleted; the reason is shown.
    servers.usage_checks.append(
        lambda _session, server_id: (
            ["integration 'firewall-changes'"] if server_id == servers.id_of("itsm") else []
        )
    )
    page.get_by_role("link", name="Delete itsm", exact=True).click()
    expect(page.get_by_role("heading")).to_have_text("Delete outbound server itsm?")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#delete-error")).to_contain_text("integration 'firewall-changes'")
    page.get_by_role("link", name="Back").click()

    page.get_by_role("link", name="Delete itsm-test").click()
    page.get_by_role("link", name="Cancel").click()
    expect(row(page, "itsm-test")).to_be_visible()
    page.get_by_role("link", name="Delete itsm-test").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted outbound server itsm-test.")
    assert servers.names() == ["itsm"]


def test_dialog_tabs_work_with_the_keyboard(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    actions = page.locator("summary", has_text="Actions")
    actions.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="New Server")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="New Server")).to_be_hidden()
    expect(actions).to_be_focused()
    page.goto(web.url + "/servers/new")
    server_tab = page.get_by_role("tab", name="Server")
    server_tab.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Authentication")).to_be_focused()
    expect(page.get_by_role("tabpanel", name="Authentication")).to_be_visible()
    expect(page.get_by_role("tabpanel", name="Server")).to_be_hidden()
    page.keyboard.press("ArrowLeft")
    expect(field(page, "Outbound name")).to_be_visible()


def test_user_changes_own_password_and_signs_in_again(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.viewer)
    page.get_by_role("link", name="victor").click()
    field(page, "Current password").fill("not-my-password")
    field(page, "New password").fill("short")
    field(page, "Repeat the new password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#err-current_password")).to_have_text("the current password is wrong")
    field(page, "Current password").fill(web.viewer[1])
    field(page, "New password").fill("victor-new-password-789")
    field(page, "Repeat the new password").fill("victor-new-password-789")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    field(page, "User name").fill(web.viewer[0])
    field(page, "Password").fill("victor-new-password-789")
    field(page, "Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/servers$"))


def test_admin_manages_users_and_viewers_cannot(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Users").click()
    field(page, "User name").fill("dora")
    field(page, "Role").select_option("viewer")
    field(page, "Password").fill("dora-password-1")
    field(page, "Repeat the password").fill("dora-password-2")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#err-repeat_password")).to_have_text("the two passwords differ")
    expect(field(page, "User name")).to_have_value("dora")
    field(page, "Password").fill("dora-password-1")
    field(page, "Repeat the password").fill("dora-password-1")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_have_text("Added viewer dora.")
    screenshot(page, "users")

    field(page, "Role of dora").select_option("admin")
    page.get_by_role("button", name="Set role of dora").click()
    expect(page.get_by_role("status")).to_have_text("dora is now admin.")
    page.get_by_role("link", name="Delete user dora").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted user dora.")
    names = [u.name for u in web.live.services.users.list_all()]
    assert names == ["alice", "victor"]

    # The last admin cannot demote themselves.
    field(page, "Role of alice").select_option("viewer")
    page.get_by_role("button", name="Set role of alice").click()
    expect(page.locator("#users-error")).to_contain_text("only admin")

    page.get_by_role("button", name="Sign out").click()
    ui_sign_in(page, web, web.viewer)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    assert page.goto(web.url + "/users").status == 403  # type: ignore[union-attr]


def test_saving_over_someone_elses_change_is_refused_and_keeps_the_typing(
    page: Page, web: WebUsers
) -> None:
    servers = web.live.services.servers
    servers.create(
        {
            "name": "itsm",
            "host": "itsm.example.com",
            "auth": {"method": "basic", "username": "wi", "password": "basic-password"},
        }
    )
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Edit itsm").click()
    field(page, "Outbound Host").fill("mine.example.com")
    auth_tab(page)
    field(page, "Login password").fill("my-new-password")
    # Someone else saves the server while this dialog is open.
    servers.update("itsm", {"timeout_seconds": 42})
    page.get_by_role("button", name="Save").click()

    alert = page.locator("#form-errors")
    expect(alert).to_contain_text(
        "outbound server 'itsm' was changed by someone else since you read it"
    )
    expect(alert).to_contain_text("Nothing was saved, and what you typed is kept below.")
    page.get_by_role("tab", name=re.compile("Server")).click()
    expect(field(page, "Outbound Host")).to_have_value("mine.example.com")
    assert "my-new-password" not in page.content()
    stored = servers.get_config("itsm")
    assert (stored.host, stored.timeout_seconds) == ("itsm.example.com", 42)
    assert stored.auth.password.get_secret_value() == "basic-password"  # type: ignore[union-attr]
    screenshot(page, "dialog-changed-by-someone-else")

    # Having been told, saving again replaces their change with what was typed.
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved outbound server itsm.")
    stored = servers.get_config("itsm")
    assert stored.host == "mine.example.com"
    assert stored.auth.password.get_secret_value() == "my-new-password"  # type: ignore[union-attr]

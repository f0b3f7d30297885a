"""Fetch Token from the dialog, in Chromium, against a real token endpoint and real scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.servers import oauth
from tests.servers.browser import screenshot
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver
from tests.servers.token_scripts import printing, write_token_script
from tests.web.conftest import WebUsers
from tests.web.test_browser import auth_tab, field, fill_server_tab, open_new_server, ui_sign_in

pytestmark = pytest.mark.browser


def fill_oauth_password(page: Page, token_url: str, client_secret: str) -> None:
    auth_tab(page)
    field(page, "Authentication method").select_option("oauth2")
    field(page, "Access Token URL").fill(token_url)
    field(page, "Login user name").fill(oauth.USERNAME)
    field(page, "Login password").fill(oauth.PASSWORD)
    field(page, "Client ID").fill(oauth.CLIENT_ID)
    field(page, "Client Secret").fill(client_secret)


def test_fetch_token_with_unsaved_oauth_settings(
    page: Page, web: WebUsers, oauth_server: OAuthServer
) -> None:
    ui_sign_in(page, web, web.admin)
    open_new_server(page)
    fill_server_tab(page, "itsm", "127.0.0.1")
    fill_oauth_password(page, oauth_server.token_url, oauth.CLIENT_SECRET)
    page.get_by_role("button", name="Fetch Token").click()
    result = page.locator("#fetch-token-result")
    expect(result).to_contain_text("✔")
    expect(result).to_contain_text("expires in 3600 s")
    expect(result).to_contain_text("…")  # the masked preview
    screenshot(page, "dialog-fetch-token-ok")
    assert oauth_server.token_requests == 1
    # The diagnosis never carries the token itself.
    html = page.content()
    assert oauth_server.access, "the endpoint issued no token"
    assert not any(token in html for token in oauth_server.access)
    # Nothing was saved by testing.
    assert web.live.services.servers.names() == []

    field(page, "Client Secret").fill("wrong-client-secret")
    page.get_by_role("button", name="Fetch Token").click()
    expect(result).to_contain_text("Failed at stage oauth_error")
    expect(result).to_contain_text("HTTP 401")
    expect(result).to_contain_text("invalid_client")
    screenshot(page, "dialog-fetch-token-failed")


def test_fetch_token_uses_stored_secrets_of_the_server_being_edited(
    page: Page, web: WebUsers, oauth_server: OAuthServer
) -> None:
    web.live.services.servers.create(
        {
            "name": "itsm",
            "host": "127.0.0.1",
            "protocol": "http",
            "auth": {
                "method": "oauth2",
                "token_url": oauth_server.token_url,
                "username": oauth.USERNAME,
                "password": oauth.PASSWORD,
                "client_id": oauth.CLIENT_ID,
                "client_secret": oauth.CLIENT_SECRET,
            },
        }
    )
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Edit itsm").click()
    auth_tab(page)
    expect(field(page, "Client Secret")).to_have_value("********")
    page.get_by_role("button", name="Fetch Token").click()
    expect(page.locator("#fetch-token-result")).to_contain_text("✔")


def test_fetch_token_runs_the_token_script(page: Page, web: WebUsers, tmp_path: Path) -> None:
    good = printing(tmp_path, "script-token-0123456789abcdef")
    broken = write_token_script(
        tmp_path, "broken.py", "sys.stderr.write('cannot reach the vault\\n'); sys.exit(3)"
    )
    ui_sign_in(page, web, web.admin)
    open_new_server(page)
    fill_server_tab(page, "inhouse", "127.0.0.1")
    auth_tab(page)
    field(page, "Authentication method").select_option("bearer")
    field(page, "Token Script").fill(good)
    page.get_by_role("button", name="Fetch Token").click()
    result = page.locator("#fetch-token-result")
    expect(result).to_contain_text("✔")
    expect(result).to_contain_text("scri…cdef")
    assert "script-token-0123456789abcdef" not in page.content()

    field(page, "Token Script").fill(broken)
    page.get_by_role("button", name="Fetch Token").click()
    expect(result).to_contain_text("Failed at stage script")
    expect(result).to_contain_text("cannot reach the vault")


def test_fetch_token_shows_form_errors_next_to_fields(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    open_new_server(page)
    fill_server_tab(page, "itsm", "127.0.0.1")
    auth_tab(page)
    field(page, "Authentication method").select_option("oauth2")
    field(page, "Access Token URL").fill("not a url")
    page.get_by_role("button", name="Fetch Token").click()
    expect(page.locator("#fetch-token-result")).to_contain_text("The form has errors")
    token_url = page.locator(".field", has=field(page, "Access Token URL"))
    expect(token_url.locator(".fetch-field-error")).to_contain_text("full http(s) URL")


def test_connection_of_a_saved_server_reports_the_answer(
    page: Page, web: WebUsers, receiver: Receiver
) -> None:
    web.live.services.servers.create(
        {
            "name": "inhouse",
            "host": receiver.host,
            "protocol": "http",
            "auth": {"method": "basic", "username": "wi", "password": "basic-secret-value"},
        }
    )
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Edit inhouse").click()
    field(page, "Path").fill("/api/health")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-connection-result")
    expect(result).to_contain_text("✔")
    expect(result).to_contain_text("HTTP 200")
    assert receiver.last().path == "/api/health"
    assert receiver.last().headers["authorization"].startswith("Basic ")

    receiver.authorize = lambda _header: False
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("Failed at stage http")
    expect(result).to_contain_text("HTTP 401")
    screenshot(page, "dialog-test-connection-failed")

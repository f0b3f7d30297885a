"""The Mail page in real headless Chromium: fill in the mail server, send a test e-mail, save."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.servers.browser import screenshot
from tests.servers.smtp import SMTP_PASSWORD, SMTP_USER, MailServer, mail_server
from tests.web.conftest import WebUsers
from tests.web.test_browser import field, ui_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    with mail_server("starttls") as server:
        yield server


def test_mail_page_send_test_email_then_save(
    page: Page, web: WebUsers, smtp_server: MailServer
) -> None:
    ui_sign_in(page, web, web.admin)
    page.get_by_role("link", name="Mail").click()
    expect(page.get_by_role("heading", name="Mail server")).to_be_visible()
    field(page, "Host").fill("127.0.0.1")
    field(page, "Security").select_option("starttls")
    field(page, "Port").fill(str(smtp_server.port))
    field(page, "Verify certificate").select_option("certificate")
    field(page, "Certificate (PEM)").fill(smtp_server.ca_pem)
    field(page, "User name").fill(SMTP_USER)
    field(page, "Password").fill(SMTP_PASSWORD)
    field(page, "Sender (From)").fill("wi@example.com")
    field(page, "To").fill("oncall@example.com")
    page.get_by_role("button", name="Send test e-mail").click()
    expect(page.locator("#test-result")).to_contain_text("Test e-mail sent")
    assert smtp_server.messages[-1].rcpt_tos == ["oncall@example.com"]
    screenshot(page, "mail-test-sent")
    # The typed password is not put back into the page; typed again to save.
    expect(field(page, "Password")).to_have_value("")
    field(page, "Password").fill(SMTP_PASSWORD)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/smtp\?notice="))
    expect(page.get_by_role("status")).to_contain_text("Saved the mail server settings.")
    expect(page.get_by_text("Stored and hidden")).to_be_visible()
    assert SMTP_PASSWORD not in page.content()
    # A bad sender is shown next to its field, with what was typed kept.
    field(page, "Sender (From)").fill("not-an-address")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#err-sender")).to_contain_text("name@example.com")
    expect(field(page, "Host")).to_have_value("127.0.0.1")

"""The admin UI as a person meets it, in real Chromium: banners, roles, secrets, dialog."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebUsers
from tests.web.test_browser import field, ui_sign_in

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

"""The server dialog never shows a header credential, and saving its mask keeps it."""

from __future__ import annotations

import re

import httpx2

from tests.web.conftest import WebUsers, csrf_of

API_KEY = "dialog-api-key-31337"
TYPED_KEY = "typed-key-never-shown-4242"


def _form(token: str, headers: str, **extra: str) -> dict[str, str]:
    return {"csrf_token": token, "name": "keyed", "host": "itsm.example.com",
            "protocol": "https", "headers": headers, "secret_headers": "X-Tenant",
            "verify_certificate": "disable", "auth_method": "none", "enabled": "on", **extra}


def test_dialog_masks_header_secrets_and_keeps_them_on_save(
    web: WebUsers, admin_client: httpx2.Client, viewer_client: httpx2.Client
) -> None:
    servers = web.live.services.servers
    servers.create({"name": "keyed", "host": "itsm.example.com",
                    "headers": f"X-API-Key: {API_KEY}, X-Tenant: acme-tenant-secret",
                    "secret_headers": ["X-Tenant"]})
    page = admin_client.get("/servers/keyed/edit").text
    assert API_KEY not in page and "acme-tenant-secret" not in page
    assert "X-API-Key: ********, X-Tenant: ********" in page
    assert 'value="X-Tenant"' in page
    viewer_page = viewer_client.get("/servers/keyed/edit")
    assert viewer_page.status_code == 200 and "X-API-Key: ********" in viewer_page.text
    assert API_KEY not in viewer_page.text
    saved = admin_client.post(
        "/servers/keyed/edit",
        data=_form(csrf_of(page), "X-API-Key: ********, X-Tenant: ********, Accept: */*"),
    )
    assert saved.status_code == 303, saved.text
    assert servers.get_config("keyed").headers == (
        f"X-API-Key: {API_KEY}, X-Tenant: acme-tenant-secret, Accept: */*"
    )


def test_a_typed_header_secret_comes_back_masked_after_a_refused_save(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    token = csrf_of(admin_client.get("/servers/new").text)
    refused = admin_client.post(
        "/servers/new", data=_form(token, f"X-API-Key: {TYPED_KEY}", host="bad host")
    )
    assert refused.status_code == 422
    assert TYPED_KEY not in refused.text
    carried = re.search(r'name="carried_headers" value="([^"]+)"', refused.text)
    assert carried and "X-API-Key: ********" in refused.text
    fixed = admin_client.post("/servers/new", data=_form(
        token, "X-API-Key: ********", carried_headers=carried.group(1)))
    assert fixed.status_code == 303, fixed.text
    assert web.live.services.servers.get_config("keyed").headers == f"X-API-Key: {TYPED_KEY}"

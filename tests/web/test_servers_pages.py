"""Server pages over real HTTP: rename, state, in-use delete, certificate preview, errors."""

from __future__ import annotations

import re

import httpx2
import trustme

from tests.web.conftest import WebUsers, csrf_of
from workflow_integrator.store.servers import set_state

FORM = {
    "name": "itsm",
    "host": "itsm.example.com",
    "protocol": "https",
    "headers": "Content-Type: application/json",
    "verify_certificate": "enable",
    "auth_method": "oauth2",
    "oauth_grant_type": "refresh_token",
    "oauth_token_url": "https://itsm.example.com/oauth_token.do",
    "oauth_refresh_token": "********",
    "oauth_client_id": "wi",
    "oauth_client_secret": "********",
    "oauth_client_auth": "client_secret_basic",
    "enabled": "on",
}


def _refresh_server(web: WebUsers) -> None:
    web.live.services.servers.create(
        {
            "name": "itsm",
            "host": "itsm.example.com",
            "verify_certificate": "enable",
            "auth": {
                "method": "oauth2",
                "grant_type": "refresh_token",
                "token_url": "https://itsm.example.com/oauth_token.do",
                "refresh_token": "stored-refresh-token",
                "client_id": "wi",
                "client_secret": "stored-client-secret",
            },
        }
    )


def test_renaming_in_the_dialog_keeps_the_server_and_its_secrets(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    _refresh_server(web)
    servers = web.live.services.servers
    server_id = servers.id_of("itsm")
    token = csrf_of(admin_client.get("/servers/itsm/edit").text)
    saved = admin_client.post(
        "/servers/itsm/edit", data={**FORM, "name": "itsm-prod", "csrf_token": token}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/servers"
    assert "Saved outbound server itsm-prod." in admin_client.get("/servers").text
    assert servers.id_of("itsm-prod") == server_id
    auth = servers.get_config("itsm-prod").auth
    assert auth.refresh_token.get_secret_value() == "stored-refresh-token"  # type: ignore[union-attr]


def test_needs_credentials_is_shown_with_its_reason_and_cleared_by_a_new_token(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    _refresh_server(web)
    services = web.live.services
    with services.sessions() as session, session.begin():
        set_state(
            session,
            services.servers.id_of("itsm"),
            "needs_credentials",
            "the token endpoint answered invalid_grant: the refresh token expired",
        )
    listing = admin_client.get("/servers").text
    assert "needs_credentials" in listing
    assert "the refresh token expired" in listing
    dialog = admin_client.get("/servers/itsm/edit").text
    assert "needs_credentials" in dialog
    admin_client.post(
        "/servers/itsm/edit",
        data={**FORM, "oauth_refresh_token": "new-refresh-token", "csrf_token": csrf_of(dialog)},
    )
    assert services.servers.get("itsm").state == "ok"


def test_delete_is_refused_with_the_reason_while_in_use(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    _refresh_server(web)
    servers = web.live.services.servers
    servers.usage_checks.append(lambda _session, _id: ["integration 'firewall-changes'"])
    page = admin_client.get("/servers/itsm/delete")
    refused = admin_client.post("/servers/itsm/delete", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 409
    assert "integration &#39;firewall-changes&#39;" in refused.text
    assert servers.names() == ["itsm"]


def test_certificate_preview_shows_subject_and_expiry_or_the_problem(
    admin_client: httpx2.Client,
) -> None:
    token = csrf_of(admin_client.get("/servers/new").text)
    ca = trustme.CA(organization_name="Preview CA")
    shown = admin_client.post(
        "/servers/certificate-info",
        data={"certificate": ca.cert_pem.bytes().decode()},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert shown.status_code == 200
    assert "Preview CA" in shown.text
    assert "Expires" in shown.text
    wrong = admin_client.post(
        "/servers/certificate-info",
        data={"certificate": "not a certificate"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert 'role="alert"' in wrong.text


def test_unknown_server_and_duplicate_name_get_clear_answers(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    missing = admin_client.get("/servers/nope/edit")
    assert missing.status_code == 404
    assert "no outbound server named &#39;nope&#39;" in missing.text
    _refresh_server(web)
    token = csrf_of(admin_client.get("/servers/new").text)
    clash = admin_client.post(
        "/servers/new",
        data={
            **FORM,
            "oauth_refresh_token": "r" * 20,
            "oauth_client_secret": "s" * 20,
            "csrf_token": token,
        },
    )
    assert clash.status_code == 409
    assert "already exists" in clash.text
    assert 'id="err-name"' in clash.text


def test_signed_out_htmx_call_is_sent_to_sign_in(web: WebUsers) -> None:
    with httpx2.Client(base_url=web.url, trust_env=False) as client:
        answer = client.post(
            "/servers/certificate-info", data={"certificate": ""}, headers={"HX-Request": "true"}
        )
        assert answer.status_code == 303
        assert answer.headers["hx-redirect"].startswith("/sign-in")


def test_typed_secrets_survive_a_failed_save_without_coming_back_in_clear(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    token = csrf_of(admin_client.get("/servers/new").text)
    form = {
        "csrf_token": token,
        "name": "itsm",
        "host": "itsm example.com",  # invalid: the save fails
        "protocol": "https",
        "headers": "Content-Type: application/json",
        "verify_certificate": "disable",
        "auth_method": "basic",
        "basic_username": "wi",
        "basic_password": "typed-basic-secret",
    }
    failed = admin_client.post("/servers/new", data=form)
    assert failed.status_code == 422
    assert "typed-basic-secret" not in failed.text
    carried = re.search(r'name="carried_basic_password" value="([^"]+)"', failed.text)
    assert carried
    assert 'id="basic_password" name="basic_password" type="password" value="********"' in (
        failed.text
    )
    # The user fixes the host and saves again without retyping the password.
    retried = admin_client.post(
        "/servers/new",
        data={
            **form,
            "host": "itsm.example.com",
            "basic_password": "********",
            "carried_basic_password": carried.group(1),
        },
    )
    assert retried.status_code == 303
    auth = web.live.services.servers.get_config("itsm").auth
    assert auth.password.get_secret_value() == "typed-basic-secret"  # type: ignore[union-attr]


def test_client_certificate_and_key_are_set_kept_and_never_shown(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("wi-client@example.com")
    cert_pem = leaf.cert_chain_pems[0].bytes().decode()
    key_pem = leaf.private_key_pem.bytes().decode()
    form = {
        "name": "mtls",
        "host": "itsm.example.com",
        "protocol": "https",
        "headers": "Content-Type: application/json",
        "verify_certificate": "enable",
        "auth_method": "none",
        "client_certificate": cert_pem,
        "client_key": key_pem,
        "enabled": "on",
    }
    token = csrf_of(admin_client.get("/servers/new").text)
    assert admin_client.post("/servers/new", data={**form, "csrf_token": token}).status_code == 303
    servers = web.live.services.servers
    stored = servers.get_config("mtls")
    assert stored.client_key is not None
    assert stored.client_key.get_secret_value().strip() == key_pem.strip()

    dialog = admin_client.get("/servers/mtls/edit").text
    assert "PRIVATE KEY" not in dialog
    assert "BEGIN CERTIFICATE" in dialog  # the certificate is not a secret
    saved = admin_client.post(
        "/servers/mtls/edit",
        data={**form, "host": "itsm2.example.com", "client_key": "********", "csrf_token": token},
    )
    assert saved.status_code == 303
    again = servers.get_config("mtls")
    assert again.host == "itsm2.example.com"
    assert again.client_key is not None
    assert again.client_key.get_secret_value().strip() == key_pem.strip()

    # A key without its certificate is an error next to the key field.
    lonely = admin_client.post(
        "/servers/new",
        data={**form, "name": "lonely", "client_certificate": "", "csrf_token": token},
    )
    assert lonely.status_code == 422
    assert 'id="err-client_key"' in lonely.text
    assert "go together" in lonely.text
    assert "PRIVATE KEY" not in lonely.text  # the typed key comes back only encrypted
    # Clearing the certificate of a saved server removes mutual TLS, key included.
    cleared = admin_client.post(
        "/servers/mtls/edit",
        data={**form, "client_certificate": "", "client_key": "********", "csrf_token": token},
    )
    assert cleared.status_code == 303
    assert servers.get_config("mtls").client_key is None

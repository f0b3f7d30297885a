"""Signing in, sessions, CSRF and roles over real HTTP against a live WI."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

import httpx2
import trustme
import uvicorn

from tests.servers.live_wi import LiveWI, free_port
from tests.web.conftest import WebUsers, browser_client, csrf_of, sign_in
from workflow_integrator.app import build_services, create_app
from workflow_integrator.settings import Settings

BASIC_SERVER = {
    "name": "itsm",
    "host": "itsm.example.com",
    "protocol": "https",
    "headers": "Content-Type: application/json",
    "verify_certificate": "disable",
    "auth_method": "basic",
    "basic_username": "wi",
    "basic_password": "basic-secret-value",
    "enabled": "on",
}


def test_pages_are_closed_until_sign_in_but_health_is_open(web: WebUsers) -> None:
    with browser_client(web.url) as client:
        for path in ("/", "/servers", "/servers/new", "/servers/x/edit"):
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/sign-in")
        assert client.get("/healthz").status_code == 200
        assert client.get("/sign-in").status_code == 200
        assert client.get("/static/htmx.min.js").status_code == 200


def test_sign_in_sets_a_hardened_cookie_and_sign_out_ends_the_session(web: WebUsers) -> None:
    with browser_client(web.url) as client:
        answer = sign_in(client, *web.admin)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/servers"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("wi_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        # Served over plain HTTP here, so the cookie cannot be Secure (it would be lost).
        assert "Secure" not in cookie
        page = client.get("/servers")
        assert page.status_code == 200
        assert "alice" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        stolen = client.cookies.get("wi_session")
        assert client.post("/sign-out", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    # The old cookie value is dead on the server, not just deleted in the browser.
    with browser_client(web.url) as other:
        other.cookies.set("wi_session", stolen or "")
        assert other.get("/servers").status_code == 303


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(web: WebUsers) -> None:
    with browser_client(web.url) as client:
        wrong_password = sign_in(client, web.admin[0], "not-the-password")
        unknown_user = sign_in(client, "mallory", "not-the-password")
        assert wrong_password.status_code == unknown_user.status_code == 401
        assert "wrong user name or password" in wrong_password.text
        assert "wrong user name or password" in unknown_user.text
        assert "wi_session" not in client.cookies


def test_repeated_failures_lock_the_account_for_a_while(web: WebUsers) -> None:
    with browser_client(web.url) as client:
        for _ in range(5):
            assert sign_in(client, web.admin[0], "guess-guess-guess").status_code == 401
        locked = sign_in(client, *web.admin)  # even the right password waits
        assert locked.status_code == 429
        assert "try again in" in locked.text


def test_sign_in_form_from_another_site_is_refused(web: WebUsers) -> None:
    with browser_client(web.url) as client:
        answer = client.post(
            "/sign-in",
            data={"name": web.admin[0], "password": web.admin[1], "sign_in_nonce": "forged"},
        )
        assert answer.status_code == 403
        assert "wi_session" not in client.cookies


def test_state_changing_requests_without_the_csrf_token_are_refused(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    no_token = admin_client.post("/servers/new", data=BASIC_SERVER)
    assert no_token.status_code == 403
    assert "CSRF" in no_token.text
    wrong_token = admin_client.post("/servers/new", data={**BASIC_SERVER, "csrf_token": "x" * 43})
    assert wrong_token.status_code == 403
    # The API called with the session cookie is guarded the same way.
    api = admin_client.post(
        "/api/v1/outbound-servers",
        json={"name": "api-made", "host": "h.example.com"},
    )
    assert api.status_code == 403
    token = csrf_of(admin_client.get("/servers/new").text)
    cross_site = admin_client.post(
        "/servers/new",
        data={**BASIC_SERVER, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert web.live.services.servers.names() == []
    saved = admin_client.post("/servers/new", data={**BASIC_SERVER, "csrf_token": token})
    assert saved.status_code == 303
    assert web.live.services.servers.names() == ["itsm"]


def test_session_can_call_the_api_with_its_csrf_token(admin_client: httpx2.Client) -> None:
    token = csrf_of(admin_client.get("/servers/new").text)
    made = admin_client.post(
        "/api/v1/outbound-servers",
        json={"name": "api-made", "host": "h.example.com", "auth": {"method": "none"}},
        headers={"X-CSRF-Token": token},
    )
    assert made.status_code == 201, made.text
    assert admin_client.get("/api/v1/outbound-servers").status_code == 200


def test_viewer_sees_but_cannot_change(web: WebUsers, viewer_client: httpx2.Client) -> None:
    web.live.services.servers.create(
        {
            "name": "itsm",
            "host": "itsm.example.com",
            "auth": {"method": "basic", "username": "wi", "password": "basic-secret-value"},
        }
    )
    listing = viewer_client.get("/servers")
    assert listing.status_code == 200
    assert "itsm.example.com" in listing.text
    assert "New Server" not in listing.text
    dialog = viewer_client.get("/servers/itsm/edit")
    assert dialog.status_code == 200
    assert 'id="save"' not in dialog.text
    token = csrf_of(dialog.text)
    save = viewer_client.post(
        "/servers/itsm/edit",
        data={**BASIC_SERVER, "host": "changed.example.com", "csrf_token": token},
    )
    assert save.status_code == 403
    assert viewer_client.post("/servers/itsm/delete", data={"csrf_token": token}).status_code == 403
    api = viewer_client.delete("/api/v1/outbound-servers/itsm", headers={"X-CSRF-Token": token})
    assert api.status_code == 403
    assert web.live.services.servers.get("itsm").host == "itsm.example.com"


def test_pages_never_contain_stored_secrets(web: WebUsers, admin_client: httpx2.Client) -> None:
    token = csrf_of(admin_client.get("/servers/new").text)
    assert (
        admin_client.post("/servers/new", data={**BASIC_SERVER, "csrf_token": token}).status_code
        == 303
    )
    for path in (
        "/servers",
        "/servers/itsm/edit",
        "/servers/new?duplicate=itsm",
        "/servers/itsm/delete",
    ):
        page = admin_client.get(path)
        assert page.status_code == 200, path
        assert "basic-secret-value" not in page.text, path
    assert 'value="********"' in admin_client.get("/servers/itsm/edit").text


def test_cookie_is_secure_when_served_over_https(wi_settings: Settings, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "server.pem", tmp_path / "server.key"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    services = build_services(wi_settings)
    services.users.add("alice", "admin", "alice-password-123")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(wi_settings, services),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_certfile=str(certfile),
            ssl_keyfile=str(keyfile),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "WI did not start"
            time.sleep(0.02)
        trust = ssl.create_default_context()
        ca.configure_trust(trust)
        with httpx2.Client(
            base_url=f"https://127.0.0.1:{port}", verify=trust, trust_env=False
        ) as client:
            answer = sign_in(client, "alice", "alice-password-123")
            cookie = next(
                c for c in answer.headers.get_list("set-cookie") if c.startswith("wi_session=")
            )
            assert "Secure" in cookie
            assert "HttpOnly" in cookie
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()


def test_first_admin_changing_the_password_removes_the_generated_one(live_wi: LiveWI) -> None:
    settings = live_wi.settings
    created = live_wi.services.users.ensure_initial_admin(settings.data_dir)
    assert created is not None
    name, password, path = created
    with browser_client(live_wi.url) as client:
        assert 'id="first-start"' in client.get("/sign-in").text
        assert sign_in(client, name, password).status_code == 303
        form = client.get("/account/password")
        changed = client.post(
            "/account/password",
            data={
                "csrf_token": csrf_of(form.text),
                "current_password": password,
                "new_password": "my-own-admin-password",
                "repeat_password": "my-own-admin-password",
            },
        )
        assert changed.status_code == 303
        assert not path.exists()
        assert 'id="first-start"' not in client.get("/sign-in").text
        # The session ended with the change.
        assert client.get("/servers").status_code == 303
        assert sign_in(client, name, password).status_code == 401
        assert sign_in(client, name, "my-own-admin-password").status_code == 303


def test_odd_tokens_are_refused_not_crashed_on(web: WebUsers, admin_client: httpx2.Client) -> None:
    odd = admin_client.post("/servers/new", data={"name": "x", "csrf_token": "jäger-ß-✓"})
    assert odd.status_code == 403
    with browser_client(web.url) as client:
        client.get("/sign-in")
        forged = client.post(
            "/sign-in", data={"name": "alice", "password": "x", "sign_in_nonce": "ünïcode"}
        )
        assert forged.status_code == 403
    huge = admin_client.post(
        "/servers/new",
        content=b"name=x&pad=" + b"a" * 2_000_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413

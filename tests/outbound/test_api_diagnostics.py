"""Fetch Token and Test connection through the REST API and the CLI of a live WI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.outbound.configs import password_grant, refresh_grant
from tests.servers.live_wi import LiveWI
from tests.servers.oauth import CLIENT_SECRET, PASSWORD, OAuthServer
from tests.servers.receiver import Receiver
from workflow_integrator.cli import app as cli_app
from workflow_integrator.cli import context as cli_context

BASE = "/api/v1/outbound-servers"


def create(live: LiveWI, name: str, host: str, auth: dict[str, Any]) -> None:
    with live.client() as client:
        response = client.post(
            BASE, json={"name": name, "host": host, "protocol": "http", "auth": auth}
        )
    assert response.status_code == 201, response.text


def db_bytes(live: LiveWI) -> bytes:
    folder = Path(live.settings.data_dir)
    return b"".join(p.read_bytes() for p in folder.glob("wi.db*"))


def test_fetch_token_for_a_saved_server(
    live_wi: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    create(
        live_wi, "itsm", receiver.host, password_grant(oauth_server.token_url, scope="useraccount")
    )
    with live_wi.client() as client:
        response = client.post(f"{BASE}/itsm/fetch-token")
    assert response.status_code == 200
    body = response.json()
    [issued] = oauth_server.access
    assert body["ok"] is True and body["stage"] is None
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "useraccount"
    assert body["token_preview"] == f"{issued[:4]}…{issued[-4:]}"
    assert isinstance(body["elapsed_ms"], int)
    assert issued not in response.text
    # Stored for deliveries, encrypted: neither token is in the database file in clear.
    stored = db_bytes(live_wi)
    assert issued.encode() not in stored
    assert all(t.encode() not in stored for t in oauth_server.refresh)
    assert PASSWORD.encode() not in stored and CLIENT_SECRET.encode() not in stored


def test_fetch_token_for_unsaved_settings_with_secrets_from_a_base(
    live_wi: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    create(live_wi, "itsm", receiver.host, password_grant(oauth_server.token_url))
    masked = password_grant(oauth_server.token_url, password="********")
    del masked["client_secret"]
    unsaved = {"name": "itsm-copy", "host": receiver.host, "protocol": "http", "auth": masked}
    with live_wi.client() as client:
        borrowed = client.post(f"{BASE}/fetch-token", json={**unsaved, "base": "itsm"})
        wrong = client.post(
            f"{BASE}/fetch-token",
            json={**unsaved, "base": "itsm", "auth": {**masked, "client_secret": "nope-wrong"}},
        )
        no_base = client.post(f"{BASE}/fetch-token", json=unsaved)
    assert borrowed.status_code == 200, borrowed.text
    assert borrowed.json()["ok"] is True
    assert wrong.json()["stage"] == "oauth_error"
    assert wrong.json()["oauth_error"] == "invalid_client" and wrong.json()["status"] == 401
    assert no_base.status_code == 422  # the mask means nothing without a saved server


def test_test_connection_sends_one_authenticated_request(
    live_wi: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    receiver.authorize = oauth_server.accepts
    create(live_wi, "itsm", receiver.host, password_grant(oauth_server.token_url))
    with live_wi.client() as client:
        default = client.post(f"{BASE}/itsm/test")
        chosen = client.post(f"{BASE}/itsm/test", json={"method": "POST", "path": "/api/ping"})
        missing = client.post(f"{BASE}/itsm/test", json={"path": "/status/404"})
    assert default.json()["ok"] is True and default.json()["status"] == 200
    assert receiver.requests[0].method == "GET" and receiver.requests[0].path == "/"
    assert chosen.json()["ok"] is True
    assert (receiver.requests[1].method, receiver.requests[1].path) == ("POST", "/api/ping")
    assert missing.json()["stage"] == "http" and missing.json()["status"] == 404
    assert oauth_server.requests == {"password": 1}  # the transport and token were reused


def test_bad_requests(live_wi: LiveWI, receiver: Receiver, oauth_server: OAuthServer) -> None:
    create(live_wi, "basic", receiver.host, {"method": "basic", "username": "u", "password": "pw"})
    with live_wi.client() as client:
        assert client.post(f"{BASE}/nope/fetch-token").status_code == 404
        assert client.post(f"{BASE}/nope/test").status_code == 404
        not_oauth = client.post(f"{BASE}/basic/fetch-token")
        bad_method = client.post(f"{BASE}/basic/test", json={"method": "BREW"})
        bad_path = client.post(f"{BASE}/basic/test", json={"path": "no-slash"})
    assert not_oauth.status_code == 422 and "Fetch Token" in not_oauth.text
    assert bad_method.status_code == 422 and "method" in bad_method.text
    assert bad_path.status_code == 422
    with live_wi.client(live_wi.viewer_token) as viewer:
        assert viewer.post(f"{BASE}/basic/test").status_code == 403
    with live_wi.client("not-a-token") as stranger:
        assert stranger.post(f"{BASE}/basic/fetch-token").status_code == 401


def test_revoked_refresh_token_shows_needs_credentials_until_a_new_one_is_saved(
    live_wi: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    first = oauth_server.issue_refresh_token()
    create(live_wi, "rt", receiver.host, refresh_grant(oauth_server.token_url, first))
    with live_wi.client() as client:
        assert client.post(f"{BASE}/rt/fetch-token").json()["ok"] is True
        oauth_server.revoke_refresh_tokens()
        refused = client.post(f"{BASE}/rt/fetch-token").json()
        state = client.get(f"{BASE}/rt").json()
        new = oauth_server.issue_refresh_token()
        patched = client.patch(f"{BASE}/rt", json={"auth": {"refresh_token": new}})
        again = client.post(f"{BASE}/rt/fetch-token").json()
    assert refused["ok"] is False and refused["oauth_error"] == "invalid_grant"
    assert state["state"] == "needs_credentials"
    assert "new refresh token" in state["state_reason"]
    assert patched.status_code == 200 and patched.json()["state"] == "ok"
    assert again["ok"] is True


@pytest.fixture
def cli(live_wi: LiveWI, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("WI_DATA_DIR", str(live_wi.settings.data_dir))
    cli_context.services.cache_clear()
    yield CliRunner()
    cli_context.services.cache_clear()


def test_cli_fetch_token_and_test(
    cli: CliRunner, live_wi: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    create(live_wi, "itsm", receiver.host, password_grant(oauth_server.token_url))
    fetched = cli.invoke(cli_app, ["servers", "fetch-token", "itsm"])
    assert fetched.exit_code == 0, fetched.output
    assert "OK" in fetched.output and "token_preview" in fetched.output
    assert all(token not in fetched.output for token in oauth_server.access)
    tested = cli.invoke(
        cli_app, ["servers", "test", "itsm", "--method", "PUT", "--path", "/x", "--json"]
    )
    assert tested.exit_code == 0, tested.output
    assert '"status": 200' in tested.output
    assert receiver.last().method == "PUT"
    failing = cli.invoke(cli_app, ["servers", "test", "itsm", "--path", "/status/500"])
    assert failing.exit_code == 1 and "http" in failing.output
    bad = cli.invoke(cli_app, ["servers", "test", "itsm", "--method", "BREW"])
    assert bad.exit_code == 2


def test_unsaved_fetch_token_with_the_bases_refresh_token_keeps_its_rotation(
    live_wi: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    first = oauth_server.issue_refresh_token()
    create(live_wi, "rt", receiver.host, refresh_grant(oauth_server.token_url, first))
    masked = refresh_grant(oauth_server.token_url, "********", client_secret="********")
    unsaved = {"name": "rt", "host": receiver.host, "protocol": "http", "auth": masked}
    with live_wi.client() as client:
        tries = [
            client.post(f"{BASE}/fetch-token", json={**unsaved, "base": "rt"}) for _ in range(2)
        ]
        saved = client.post(f"{BASE}/rt/fetch-token")
    assert [t.json()["ok"] for t in tries] == [True, True]
    assert "WI stored it" in tries[0].json()["notes"][0]
    assert saved.json()["ok"] is True  # the saved server's refresh token chain is intact
    assert oauth_server.refresh_reused == 0
    assert oauth_server.requests == {"refresh_token": 3}

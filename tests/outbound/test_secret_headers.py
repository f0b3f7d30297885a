"""Credentials in headers are secrets: encrypted at rest, masked in every read, kept by the mask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.responses import JSONResponse

from tests.foundation.wi_cli import run_wi
from tests.outbound.configs import password_grant, server
from tests.servers.live_wi import LiveWI
from tests.servers.receiver import Receiver
from workflow_integrator.domain.headers import HeaderError, parse_headers
from workflow_integrator.domain.redaction import (
    MASK,
    is_secret_header,
    keep_masked_headers,
    redact_header_text,
)
from workflow_integrator.outbound import fetch_token
from workflow_integrator.services.errors import InvalidInput
from workflow_integrator.store.secretbox import place

BASE = "/api/v1/outbound-servers"
API_KEY = "S3CRET-api-key-value-0042"
TENANT = "tenant-credential-7788"
HEADERS = f"Content-Type: application/json, X-API-Key: {API_KEY}, X-Tenant: {TENANT}"


def db_bytes(live: LiveWI) -> bytes:
    return b"".join(p.read_bytes() for p in Path(live.settings.data_dir).glob("wi.db*"))


def create(live: LiveWI, host: str, **fields: Any) -> dict[str, Any]:
    with live.client() as client:
        response = client.post(
            BASE,
            json={"name": "keyed", "host": host, "protocol": "http", "headers": HEADERS,
                  "secret_headers": ["X-Tenant"], **fields},
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- the rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Authorization", "Proxy-Authorization", "Cookie", "X-API-Key", "X-Client-Key",
     "X-Auth-Token", "Client-Secret", "X-Password", "api_key"],
)
def test_credential_headers_are_secret(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["Idempotency-Key", "X-WI-Delivery-Id", "Content-Type", "Accept"])
def test_other_headers_are_not(name: str) -> None:
    assert not is_secret_header(name)
    assert is_secret_header(name, ["accept", "content-type", "idempotency-key", "x-wi-delivery-id"])


def test_masking_and_keeping_by_name_and_order() -> None:
    stored = "Cookie: a=1, Cookie: b=2, Authorization: Bearer abc.def, Accept: */*"
    shown = redact_header_text(stored)
    assert shown == (
        f"Cookie: {MASK}, Cookie: {MASK}, Authorization: Bearer {MASK}, Accept: */*"
    )
    assert keep_masked_headers(shown, stored) == stored
    with pytest.raises(HeaderError, match="'X-API-Key' shows the mask") as refused:
        keep_masked_headers(f"X-API-Key: {MASK}", "Accept: */*")
    assert "*/*" not in str(refused.value)


def test_header_errors_never_quote_a_value() -> None:
    with pytest.raises(HeaderError) as no_colon:
        parse_headers(API_KEY)
    assert API_KEY not in str(no_colon.value)


# -- through the API, the CLI and a real receiver --------------------------------------


def test_secret_headers_are_encrypted_masked_and_kept(
    live_wi: LiveWI, receiver: Receiver
) -> None:
    created = create(live_wi, receiver.host)
    masked = f"Content-Type: application/json, X-API-Key: {MASK}, X-Tenant: {MASK}"
    assert created["headers"] == masked
    assert created["secret_headers"] == ["X-Tenant"]
    stored = db_bytes(live_wi)
    assert API_KEY.encode() not in stored and TENANT.encode() not in stored
    with live_wi.services.engine.connect() as connection:
        row = connection.execute(text("SELECT config, secrets FROM outbound_servers")).one()
    assert API_KEY not in str(row.config) and row.secrets.startswith("wi2:")
    with live_wi.client(live_wi.viewer_token) as viewer:
        read = viewer.get(f"{BASE}/keyed")
        listed = viewer.get(BASE)
    assert read.json()["headers"] == masked
    assert API_KEY not in read.text + listed.text and TENANT not in read.text + listed.text
    with live_wi.client() as client:
        # Saving what was read (the masks) keeps the stored values; a new plain header joins.
        kept = client.put(
            f"{BASE}/keyed",
            json={**{k: read.json()[k] for k in ("host", "protocol", "secret_headers")},
                  "headers": masked + ", X-Source: wi"},
        )
        patched = client.patch(f"{BASE}/keyed", json={"timeout_seconds": 20})
        tested = client.post(f"{BASE}/keyed/test", json={"path": "/ping"})
    assert kept.status_code == 200, kept.text
    assert patched.status_code == 200 and tested.json()["ok"] is True
    sent = receiver.last().headers
    assert sent["x-api-key"] == API_KEY and sent["x-tenant"] == TENANT
    assert sent["x-source"] == "wi"


def test_a_mask_with_nothing_saved_is_a_clear_422(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        response = client.post(
            BASE, json={"name": "new", "host": "10.0.0.5", "headers": f"X-API-Key: {MASK}"}
        )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "headers"
    assert "'X-API-Key' shows the mask ******** but no value is saved" in error["msg"]


def test_export_masks_header_secrets_and_sealed_export_restores_them(
    live_wi: LiveWI, receiver: Receiver, tmp_path: Path
) -> None:
    create(live_wi, receiver.host)
    servers = live_wi.services.servers
    [masked] = servers.export()
    assert API_KEY not in json.dumps(masked) and f"X-API-Key: {MASK}" in masked["headers"]
    [sealed] = servers.export(secrets="encrypt", passphrase="pass phrase 1")
    assert API_KEY not in json.dumps(sealed)
    servers.delete("keyed")
    with pytest.raises(InvalidInput):
        servers.import_([masked])  # the masks have nothing to keep
    servers.import_([sealed], passphrase="pass phrase 1")
    assert servers.get_config("keyed").headers == HEADERS
    cli = run_wi(Path(live_wi.settings.data_dir), "servers", "export", "--format", "json")
    assert cli.returncode == 0, cli.stderr
    assert API_KEY not in cli.stdout and TENANT not in cli.stdout and MASK in cli.stdout


@pytest.mark.parametrize(
    ("token", "flaw"),
    [
        ("abc\r\nX-Injected: 1", "line break"),
        ("abc\ndef", "line break"),
        ("abc\x00def", "control characters"),
        ("abc\tdef", "control characters"),
        ("abc def", "blanks"),
    ],
)
def test_a_malformed_static_token_is_refused_without_quoting_it(
    live_wi: LiveWI, token: str, flaw: str
) -> None:
    with live_wi.client() as client:
        response = client.post(
            BASE, json={"name": "bad-token", "host": "10.0.0.5",
                        "auth": {"method": "bearer", "token": token}},
        )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-2:] == ["auth", "token"] or error["loc"][-1] == "token"
    assert flaw in error["msg"]
    assert json.dumps(token)[1:-1] not in response.text


def test_a_malformed_token_saved_earlier_is_refused_without_quoting_it(
    live_wi: LiveWI, receiver: Receiver
) -> None:
    servers = live_wi.services.servers
    servers.create({"name": "old", "host": receiver.host, "protocol": "http",
                    "auth": {"method": "bearer", "token": "fine-token-1234"}})
    bad = "old-token\r\nX-Injected: yes"
    server_id = servers.id_of("old")
    where = place("outbound_servers", server_id, "secrets")
    with live_wi.services.engine.begin() as connection:
        connection.execute(
            text("UPDATE outbound_servers SET secrets = :s WHERE id = :id"),
            {"s": live_wi.services.secretbox.encrypt(json.dumps({"auth.token": bad}), where),
             "id": server_id},
        )
    with live_wi.client() as client:
        read = client.get(f"{BASE}/old")  # still readable
        tested = client.post(f"{BASE}/old/test")
    assert read.status_code == 200 and read.json()["auth"]["token"] == MASK
    assert tested.status_code == 200 and tested.json()["ok"] is False
    assert "cannot be sent (it holds a line break)" in tested.json()["message"]
    assert "old-token" not in tested.text and not receiver.requests


async def test_a_malformed_access_token_from_the_endpoint_is_not_sent(receiver: Receiver) -> None:
    receiver.respond = lambda _: JSONResponse(
        {"access_token": "issued-token\r\nX-Injected: yes", "token_type": "Bearer"}
    )
    diagnosis = await fetch_token(
        server("10.0.0.1", auth=password_grant(f"{receiver.url}/token"))
    )
    assert diagnosis.stage == "parse" and "it holds a line break" in diagnosis.message
    assert "issued-token" not in diagnosis.message


def test_a_malformed_token_is_refused_on_an_existing_server_too(live_wi: LiveWI) -> None:
    live_wi.services.servers.create({"name": "kept", "host": "10.0.0.5",
                                     "auth": {"method": "bearer", "token": "fine-token-1234"}})
    with live_wi.client() as client:
        response = client.patch(f"{BASE}/kept", json={"auth": {"token": "new\ttoken"}})
    assert response.status_code == 422 and "control characters" in response.text

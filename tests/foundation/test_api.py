"""The outbound-server REST API over real HTTP: status codes, bodies, roles, secrets kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.foundation.pem import self_signed
from tests.servers.live_wi import LiveWI

URL = "/api/v1/outbound-servers"
MASK = "********"

BASIC = {"method": "basic", "username": "wi-service", "password": "basic-pw-1"}
OAUTH_PASSWORD = {
    "method": "oauth2",
    "grant_type": "password",
    "token_url": "https://itsm.example.com/oauth_token.do",
    "username": "wi-service",
    "password": "oauth-login-pw",
    "client_id": "client-1",
    "client_secret": "oauth-client-secret",
}


def server(name: str = "servicenow-prod", **fields: Any) -> dict[str, Any]:
    """A valid server document."""
    return {
        "name": name,
        "host": "itsm.example.com",
        "headers": "Content-Type: application/json, X-Source: SecureChange",
        "verify_certificate": "enable",
        "auth": BASIC,
        **fields,
    }


@pytest.fixture
def api(live_wi_any_db: LiveWI) -> Iterator[httpx2.Client]:
    """Admin client of a WI on SQLite, then on PostgreSQL."""
    with live_wi_any_db.client() as client:
        yield client


@pytest.fixture(scope="module")
def shared_api(shared_wi: LiveWI) -> Iterator[httpx2.Client]:
    """Admin client of the module's WI (SQLite), for tests that do not need a fresh store."""
    with shared_wi.client() as client:
        yield client


def secret_of(live: LiveWI, name: str, field: str) -> str | None:
    """The stored, decrypted value of ``auth.<field>`` (what a delivery would send)."""
    value = getattr(live.services.servers.get_config(name).auth, field)
    return value.get_secret_value() if value is not None else None


# -- lifecycle ------------------------------------------------------------------------------


def test_create_list_read_replace_patch_delete(api: httpx2.Client) -> None:
    created = api.post(URL, json=server())
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{URL}/servicenow-prod"
    body = created.json()
    assert body["name"] == "servicenow-prod"
    assert body["base_url"] == "https://itsm.example.com"
    assert body["auth"] == {"method": "basic", "username": "wi-service", "password": MASK}
    assert body["revision"] == 1

    api.post(URL, json=server("jira", host="jira.example.com", auth={"method": "none"}))
    listed = api.get(URL)
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()] == ["jira", "servicenow-prod"]

    read = api.get(created.headers["Location"])
    assert read.status_code == 200
    assert read.json() == {**body, "updated_at": read.json()["updated_at"]}

    replaced = api.put(
        f"{URL}/servicenow-prod",
        json={"name": "servicenow-prod", "host": "10.0.0.5:8443", "protocol": "http",
              "auth": {"method": "none"}},
    )
    assert replaced.status_code == 200, replaced.text
    got = replaced.json()
    assert got["base_url"] == "http://10.0.0.5:8443"
    # PUT replaces: what the body leaves out returns to its default.
    assert got["headers"] == "Content-Type: application/json"
    assert got["verify_certificate"] == "disable"
    assert got["auth"] == {"method": "none"}
    assert got["revision"] == 2
    assert api.get(f"{URL}/servicenow-prod").json()["host"] == "10.0.0.5:8443"

    patched = api.patch(
        f"{URL}/servicenow-prod",
        json={"timeout_seconds": 12.5, "proxy": "10.20.0.9:3128", "enabled": False},
    )
    assert patched.status_code == 200, patched.text
    got = patched.json()
    assert (got["timeout_seconds"], got["proxy"], got["enabled"]) == (
        12.5, "http://10.20.0.9:3128", False
    )
    assert got["host"] == "10.0.0.5:8443"  # untouched by the patch
    unset = api.patch(f"{URL}/servicenow-prod", json={"proxy": None})
    assert unset.json()["proxy"] is None  # merge patch: null removes

    deleted = api.delete(f"{URL}/servicenow-prod")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(f"{URL}/servicenow-prod").status_code == 404
    assert [s["name"] for s in api.get(URL).json()] == ["jira"]


def test_rename_keeps_the_id_and_frees_the_old_name(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    api.post(URL, json=server("old-name"))
    server_id = live_wi_any_db.services.servers.id_of("old-name")
    renamed = api.post(f"{URL}/old-name/rename", json={"name": "new-name"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "new-name"
    assert live_wi_any_db.services.servers.id_of("new-name") == server_id
    assert api.get(f"{URL}/old-name").status_code == 404
    assert api.get(f"{URL}/new-name").json()["auth"]["password"] == MASK
    assert secret_of(live_wi_any_db, "new-name", "password") == "basic-pw-1"
    # The old name is free again.
    assert api.post(URL, json=server("old-name")).status_code == 201


def test_rename_onto_an_existing_name_is_409(api: httpx2.Client) -> None:
    api.post(URL, json=server("a"))
    api.post(URL, json=server("b"))
    clash = api.post(f"{URL}/a/rename", json={"name": "b"})
    assert clash.status_code == 409
    assert "'b' already exists" in clash.json()["detail"]
    assert api.get(f"{URL}/a").status_code == 200


def test_rename_to_an_invalid_name_is_422(api: httpx2.Client) -> None:
    api.post(URL, json=server("a"))
    bad = api.post(f"{URL}/a/rename", json={"name": "a/b"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][-1] == "name"


def test_put_cannot_rename_silently(api: httpx2.Client) -> None:
    api.post(URL, json=server("a"))
    response = api.put(f"{URL}/a", json=server("other"))
    assert response.status_code == 422
    assert "/rename" in response.json()["detail"][0]["msg"]
    assert api.get(f"{URL}/other").status_code == 404


def test_duplicate_create_is_409_and_keeps_the_first(api: httpx2.Client) -> None:
    assert api.post(URL, json=server("dup")).status_code == 201
    again = api.post(URL, json=server("dup", host="other.example.com"))
    assert again.status_code == 409
    assert api.get(f"{URL}/dup").json()["host"] == "itsm.example.com"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/missing", None),
        ("PUT", "/missing", server("missing")),
        ("PATCH", "/missing", {"enabled": False}),
        ("DELETE", "/missing", None),
        ("POST", "/missing/rename", {"name": "x"}),
    ],
)
def test_unknown_name_is_404(
    shared_api: httpx2.Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = shared_api.request(method, URL + path, json=body)
    assert response.status_code == 404
    assert "no outbound server named 'missing'" in response.json()["detail"]


def test_invalid_patch_changes_nothing(api: httpx2.Client) -> None:
    api.post(URL, json=server("a"))
    before = api.get(f"{URL}/a").json()
    response = api.patch(f"{URL}/a", json={"host": "bad host", "timeout_seconds": -1})
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert ["body", "host"] in locs
    assert ["body", "timeout_seconds"] in locs
    assert api.get(f"{URL}/a").json() == before


# -- request bodies ---------------------------------------------------------------------------


def test_422_has_one_entry_per_bad_field(shared_api: httpx2.Client) -> None:
    response = shared_api.post(
        URL,
        json={"name": " x", "host": "h:0", "protocol": "ftp",
              "auth": {"method": "basic", "username": "u"}},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert sorted(tuple(e["loc"]) for e in detail) == sorted(
        [("body", "name"), ("body", "host"), ("body", "protocol"),
         ("body", "auth", "password")]
    )
    assert all(isinstance(e["msg"], str) and e["msg"] for e in detail)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(b'{"name": "x", ', "not valid JSON", id="truncated"),
        pytest.param(b"name=x", "not valid JSON", id="form"),
        pytest.param(b"[1, 2]", "must be a JSON object", id="array"),
        pytest.param(b'"text"', "must be a JSON object", id="string"),
        pytest.param(b"", "needs a JSON object body", id="empty"),
        pytest.param(b'{"max_concurrency": 1' + b"0" * 5000 + b"}", "cannot be read as JSON",
                     id="huge-integer"),
    ],
)
def test_bad_json_is_422_not_500(shared_api: httpx2.Client, content: bytes, fragment: str) -> None:
    for method, path in (("POST", URL), ("PUT", f"{URL}/any"), ("PATCH", f"{URL}/any")):
        response = shared_api.request(
            method, path, content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (method, response.text)
        assert fragment in response.json()["detail"][0]["msg"]


def test_json_that_is_not_utf8_is_415(shared_api: httpx2.Client) -> None:
    for content in (b"\xff\xfe{}", '{"name": "x"}'.encode("utf-16")):
        response = shared_api.post(URL, content=content,
                                   headers={"Content-Type": "application/json"})
        assert response.status_code == 415, response.text
        assert "not valid UTF-8" in response.json()["detail"]


def test_bad_rename_body_is_422(shared_api: httpx2.Client) -> None:
    shared_api.post(URL, json=server("rename-body"))
    for content in (b"{", b"[]", b'{"new": "x"}'):
        response = shared_api.post(
            f"{URL}/rename-body/rename",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text


@pytest.mark.parametrize("path", [URL, f"{URL}/rename-body/rename", f"{URL}/rename-body"])
def test_deeply_nested_json_is_422(shared_api: httpx2.Client, path: str) -> None:
    shared_api.post(URL, json=server("rename-body"))
    method = "PATCH" if path.endswith("rename-body") else "POST"
    response = shared_api.request(
        method, path, content=b"[" * 50_000 + b"]" * 50_000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "nested more than 32 levels deep" in response.json()["detail"][0]["msg"]


def test_oversized_body_is_413(shared_api: httpx2.Client, shared_wi: LiveWI) -> None:
    limit = shared_wi.settings.max_body_bytes
    big = server("big", headers="X-Pad: " + "a" * (limit + 10))
    response = shared_api.post(URL, json=big)
    assert response.status_code == 413
    assert f"larger than {limit} bytes" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    # Without Content-Length (chunked), the limit is enforced while the body streams in.
    streamed = shared_api.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert shared_api.get(f"{URL}/big").status_code == 404


# -- authentication and roles -----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wi_not-a-real-token"}, {"Authorization": "Basic YTpi"}],
    ids=["none", "unknown-token", "basic-scheme"],
)
def test_without_a_valid_token_401(shared_wi: LiveWI, headers: dict[str, str]) -> None:
    with httpx2.Client(base_url=shared_wi.url, trust_env=False) as anonymous:
        for method, path in (("GET", URL), ("POST", URL), ("GET", f"{URL}/x"),
                             ("DELETE", f"{URL}/x")):
            response = anonymous.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "wi tokens create" in response.json()["detail"]


def test_viewer_reads_but_cannot_write(shared_wi: LiveWI, shared_api: httpx2.Client) -> None:
    shared_api.post(URL, json=server("viewed"))
    with shared_wi.client(shared_wi.viewer_token) as viewer:
        assert viewer.get(URL).status_code == 200
        read = viewer.get(f"{URL}/viewed")
        assert read.status_code == 200
        assert read.json()["auth"]["password"] == MASK
        for method, path, body in (
            ("POST", URL, server("by-viewer")),
            ("PUT", f"{URL}/viewed", server("viewed", host="evil.example.com")),
            ("PATCH", f"{URL}/viewed", {"host": "evil.example.com"}),
            ("DELETE", f"{URL}/viewed", None),
            ("POST", f"{URL}/viewed/rename", {"name": "stolen"}),
        ):
            response = viewer.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert "viewer role" in response.json()["detail"]
    assert shared_api.get(f"{URL}/viewed").json()["host"] == "itsm.example.com"
    assert shared_api.get(f"{URL}/by-viewer").status_code == 404


def test_healthz_is_open(shared_wi: LiveWI) -> None:
    with httpx2.Client(base_url=shared_wi.url, trust_env=False) as anonymous:
        response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_api_documentation_needs_a_token_or_a_session(shared_wi: LiveWI) -> None:
    with httpx2.Client(base_url=shared_wi.url, trust_env=False) as anonymous:
        spec = anonymous.get("/openapi.json")
        page = anonymous.get("/docs")
    assert spec.status_code == 401
    assert page.status_code == 303 and page.headers["location"] == "/sign-in?next=%2Fdocs"
    with shared_wi.client(shared_wi.viewer_token) as viewer:
        assert viewer.get("/openapi.json").status_code == 200
        docs = viewer.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_openapi_documents_the_outbound_server_api(shared_wi: LiveWI) -> None:
    with shared_wi.client() as client:
        doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    assert set(paths[URL]) >= {"get", "post"}
    assert set(paths[URL + "/{name}"]) >= {"get", "put", "patch", "delete"}
    rename = paths[URL + "/{name}/rename"]["post"]["requestBody"]["content"]["application/json"]
    assert rename["schema"] == {"$ref": "#/components/schemas/RenameBody"}
    body = paths[URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/OutboundServer"}
    schemas = doc["components"]["schemas"]
    props = schemas["OutboundServer"]["properties"]
    for field in ("name", "host", "protocol", "headers", "verify_certificate", "certificate",
                  "proxy", "timeout_seconds", "max_concurrency", "enabled", "auth"):
        assert field in props, field
    # Every $ref in the document resolves.
    refs = {ref.rsplit("/", 1)[-1] for ref in _refs(doc)}
    assert refs <= set(schemas), refs - set(schemas)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# -- secrets: keep, replace, never carried over ----------------------------------------------


def test_put_with_mask_or_omitted_secret_keeps_it(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    api.post(URL, json=server("keep", auth=OAUTH_PASSWORD))
    masked = {**OAUTH_PASSWORD, "password": MASK, "client_secret": MASK, "scope": "itil"}
    response = api.put(f"{URL}/keep", json=server("keep", auth=masked))
    assert response.status_code == 200, response.text
    assert response.json()["auth"]["scope"] == "itil"
    assert secret_of(live_wi_any_db, "keep", "password") == "oauth-login-pw"
    assert secret_of(live_wi_any_db, "keep", "client_secret") == "oauth-client-secret"

    omitted = {k: v for k, v in OAUTH_PASSWORD.items() if k not in ("password", "client_secret")}
    assert api.put(f"{URL}/keep", json=server("keep", auth=omitted)).status_code == 200
    assert secret_of(live_wi_any_db, "keep", "password") == "oauth-login-pw"
    assert secret_of(live_wi_any_db, "keep", "client_secret") == "oauth-client-secret"


def test_patch_keeps_secrets_and_replaces_the_one_sent(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    api.post(URL, json=server("patch", auth=OAUTH_PASSWORD))
    assert api.patch(f"{URL}/patch", json={"timeout_seconds": 5}).status_code == 200
    assert secret_of(live_wi_any_db, "patch", "password") == "oauth-login-pw"
    response = api.patch(f"{URL}/patch", json={"auth": {"client_secret": "rotated-secret"}})
    assert response.status_code == 200, response.text
    assert response.json()["auth"]["client_secret"] == MASK
    assert secret_of(live_wi_any_db, "patch", "client_secret") == "rotated-secret"
    assert secret_of(live_wi_any_db, "patch", "password") == "oauth-login-pw"
    assert api.patch(f"{URL}/patch", json={"auth": {"password": MASK}}).status_code == 200
    assert secret_of(live_wi_any_db, "patch", "password") == "oauth-login-pw"


def test_put_with_a_new_secret_replaces_it(api: httpx2.Client, live_wi_any_db: LiveWI) -> None:
    api.post(URL, json=server("new"))
    new_auth = {**BASIC, "password": "basic-pw-2"}
    assert api.put(f"{URL}/new", json=server("new", auth=new_auth)).status_code == 200
    assert secret_of(live_wi_any_db, "new", "password") == "basic-pw-2"


@pytest.mark.parametrize(
    ("new_auth", "loc"),
    [
        pytest.param({"method": "oauth2", "grant_type": "password", "token_url":
                      "https://itsm.example.com/t", "username": "wi-service", "password": MASK,
                      "client_id": "c", "client_secret": "fresh"},
                     ["auth", "password"], id="basic-password-not-reused-by-oauth2"),
        pytest.param({"method": "bearer", "token": MASK}, ["auth", "token"],
                     id="mask-means-nothing-for-a-new-method"),
    ],
)
def test_switching_method_does_not_carry_secrets_over(
    api: httpx2.Client, new_auth: dict[str, Any], loc: list[str]
) -> None:
    api.post(URL, json=server("switch"))
    response = api.put(f"{URL}/switch", json=server("switch", auth=new_auth))
    assert response.status_code == 422, response.text
    assert ["body", *loc] in [e["loc"] for e in response.json()["detail"]]


def test_switching_grant_does_not_carry_the_client_secret_over(api: httpx2.Client) -> None:
    api.post(URL, json=server("grant", auth=OAUTH_PASSWORD))
    refresh = {"method": "oauth2", "grant_type": "refresh_token",
               "token_url": OAUTH_PASSWORD["token_url"], "client_id": "client-1",
               "refresh_token": "new-refresh", "client_secret": MASK}
    response = api.put(f"{URL}/grant", json=server("grant", auth=refresh))
    assert response.status_code == 422, response.text
    assert ["body", "auth", "client_secret"] in [e["loc"] for e in response.json()["detail"]]


def test_switching_back_does_not_revive_an_old_secret(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    api.post(URL, json=server("back"))
    assert api.put(f"{URL}/back", json=server("back", auth={"method": "none"})).status_code == 200
    again = api.put(f"{URL}/back", json=server("back", auth={**BASIC, "password": MASK}))
    assert again.status_code == 422
    assert live_wi_any_db.services.servers.get_config("back").auth.method == "none"


def test_patch_switches_method_with_only_the_new_fields(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    api.post(URL, json=server("patch-switch"))
    response = api.patch(
        f"{URL}/patch-switch", json={"auth": {"method": "bearer", "token": "new-bearer"}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["auth"]["method"] == "bearer"
    assert secret_of(live_wi_any_db, "patch-switch", "token") == "new-bearer"


def test_proxy_password_and_client_key_are_kept(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    pair = self_signed("wi-client")
    api.post(
        URL,
        json=server("mtls", proxy="http://svc:proxy-pw@10.20.0.9:3128",
                    client_certificate=pair.cert_pem, client_key=pair.key_pem),
    )
    shown = api.get(f"{URL}/mtls").json()
    assert shown["proxy"] == "http://svc:********@10.20.0.9:3128"
    assert shown["client_key"] == MASK
    # Send back what was read: nothing changes.
    doc = {k: shown[k] for k in ("name", "host", "headers", "verify_certificate", "proxy",
                                 "client_certificate", "client_key")}
    assert api.put(f"{URL}/mtls", json={**doc, "auth": BASIC}).status_code == 200
    config = live_wi_any_db.services.servers.get_config("mtls")
    assert config.proxy is not None and config.proxy.password is not None
    assert config.proxy.password.get_secret_value() == "proxy-pw"
    assert config.client_key is not None
    assert config.client_key.get_secret_value() == pair.key_pem
    # A new proxy password replaces the old one.
    api.patch(f"{URL}/mtls", json={"proxy": "http://svc:proxy-pw-2@10.20.0.9:3128"})
    config = live_wi_any_db.services.servers.get_config("mtls")
    assert config.proxy is not None and config.proxy.password is not None
    assert config.proxy.password.get_secret_value() == "proxy-pw-2"
    # The mask keeps the stored password when the proxy moves, as for every secret.
    api.patch(f"{URL}/mtls", json={"proxy": "http://svc:********@10.99.0.1:3128"})
    config = live_wi_any_db.services.servers.get_config("mtls")
    assert config.proxy is not None and config.proxy.url == "http://10.99.0.1:3128"
    assert config.proxy.password is not None
    assert config.proxy.password.get_secret_value() == "proxy-pw-2"


def test_patch_switches_grant_with_only_the_new_fields(
    api: httpx2.Client, live_wi_any_db: LiveWI
) -> None:
    api.post(URL, json=server("patch-grant", auth=OAUTH_PASSWORD))
    response = api.patch(
        f"{URL}/patch-grant",
        json={"auth": {"grant_type": "refresh_token", "token_url": OAUTH_PASSWORD["token_url"],
                       "client_id": "client-1", "client_secret": "new-client-secret",
                       "refresh_token": "new-refresh"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["auth"]["grant_type"] == "refresh_token"
    assert "username" not in response.json()["auth"]
    assert secret_of(live_wi_any_db, "patch-grant", "refresh_token") == "new-refresh"
    assert secret_of(live_wi_any_db, "patch-grant", "client_secret") == "new-client-secret"


# -- contract with the other rooms: usage checks, change hooks, state -------------------------


def test_delete_is_refused_while_something_uses_the_server(
    shared_wi: LiveWI, shared_api: httpx2.Client
) -> None:
    shared_api.post(URL, json=server("in-use"))
    used_id = shared_wi.services.servers.id_of("in-use")
    checks = shared_wi.services.servers.usage_checks

    def check(_session: Any, server_id: int) -> list[str]:
        return ["integration 'firewall-change'"] if server_id == used_id else []

    checks.append(check)
    try:
        refused = shared_api.delete(f"{URL}/in-use")
        assert refused.status_code == 409
        assert refused.json()["used_by"] == ["integration 'firewall-change'"]
        assert "is used by integration 'firewall-change'" in refused.json()["detail"]
        assert shared_api.get(f"{URL}/in-use").status_code == 200
    finally:
        checks.remove(check)
    assert shared_api.delete(f"{URL}/in-use").status_code == 204


def test_change_hooks_run_when_connection_settings_change(
    shared_wi: LiveWI, shared_api: httpx2.Client
) -> None:
    shared_api.post(URL, json=server("hooked", auth=OAUTH_PASSWORD))
    server_id = shared_wi.services.servers.id_of("hooked")
    calls: list[int] = []

    def hook(_session: Any, changed_id: int) -> None:
        calls.append(changed_id)

    shared_wi.services.servers.change_hooks.append(hook)
    try:
        shared_api.patch(f"{URL}/hooked", json={"timeout_seconds": 3, "max_concurrency": 2})
        shared_api.put(f"{URL}/hooked", json=server("hooked", auth={**OAUTH_PASSWORD,
                       "password": MASK, "client_secret": MASK}, timeout_seconds=3,
                       max_concurrency=2))
        assert calls == []  # nothing that a transport or token cache depends on
        shared_api.patch(f"{URL}/hooked", json={"auth": {"password": "new-login-pw"}})
        assert calls == [server_id]
        shared_api.patch(f"{URL}/hooked", json={"proxy": "10.20.0.9:3128"})
        shared_api.patch(f"{URL}/hooked", json={"verify_certificate": "disable"})
        assert calls == [server_id] * 3
    finally:
        shared_wi.services.servers.change_hooks.remove(hook)


def test_new_credentials_clear_needs_credentials(
    shared_wi: LiveWI, shared_api: httpx2.Client
) -> None:
    from workflow_integrator.store.servers import set_state

    refresh = {"method": "oauth2", "grant_type": "refresh_token",
               "token_url": OAUTH_PASSWORD["token_url"], "client_id": "c",
               "client_secret": "cs", "refresh_token": "expired-refresh"}
    shared_api.post(URL, json=server("held", auth=refresh))
    server_id = shared_wi.services.servers.id_of("held")
    with shared_wi.services.sessions() as session, session.begin():
        set_state(session, server_id, "needs_credentials", "invalid_grant: token expired")
    shown = shared_api.get(f"{URL}/held").json()
    assert (shown["state"], shown["state_reason"]) == (
        "needs_credentials", "invalid_grant: token expired"
    )
    shared_api.patch(f"{URL}/held", json={"timeout_seconds": 5})
    assert shared_api.get(f"{URL}/held").json()["state"] == "needs_credentials"
    shared_api.patch(f"{URL}/held", json={"auth": {"refresh_token": "fresh-refresh"}})
    shown = shared_api.get(f"{URL}/held").json()
    assert (shown["state"], shown["state_reason"]) == ("ok", None)


def test_concurrent_creates_of_one_name_give_one_201_and_409s(live_wi_any_db: LiveWI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(index: int) -> int:
        with live_wi_any_db.client() as client:
            body = server("race", host=f"h{index}.example.com")
            return client.post(URL, json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(create, range(8)))
    assert codes == [201] + [409] * 7
    assert [s.name for s in live_wi_any_db.services.servers.list_all()] == ["race"]


def test_a_certificate_that_expired_after_saving_keeps_the_server_readable(
    shared_wi: LiveWI, shared_api: httpx2.Client
) -> None:
    from tests.foundation.pem import expired
    from workflow_integrator.store.servers import OutboundServerRow

    created = shared_api.post(
        URL,
        json=server("aged", verify_certificate="certificate",
                    certificate=self_signed("aged.example.com").cert_pem),
    )
    assert created.status_code == 201
    old = expired("aged.example.com")
    # Time passes: the stored certificate is now the expired one.
    with shared_wi.services.sessions() as session, session.begin():
        row = session.get(OutboundServerRow, shared_wi.services.servers.id_of("aged"))
        assert row is not None
        row.config = {**row.config, "certificate": old.cert_pem}
    read = shared_api.get(f"{URL}/aged")
    assert read.status_code == 200, read.text
    assert read.json()["certificate_info"][0]["sha256_fingerprint"] == old.sha256_fingerprint
    assert any(
        f"expired on {old.not_after:%Y-%m-%d}" in w
        for w in read.json()["warnings"]
    )
    assert any(s["name"] == "aged" for s in shared_api.get(URL).json())
    # Other edits still work; a new expired certificate is still refused.
    assert shared_api.patch(f"{URL}/aged", json={"enabled": False}).status_code == 200
    newer_but_expired = expired("new.example.com").cert_pem
    refused = shared_api.patch(f"{URL}/aged", json={"certificate": newer_but_expired})
    assert refused.status_code == 422
    assert "expired on" in refused.json()["detail"][0]["msg"]

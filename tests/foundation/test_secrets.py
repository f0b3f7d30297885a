"""Secrets at rest: never in the database file, never in an answer, keys handled with care."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import make_settings
from tests.foundation.pem import self_signed
from tests.foundation.wi_cli import run_wi
from tests.servers.live_wi import LiveWI, serve_wi
from workflow_integrator.app import build_services
from workflow_integrator.services.errors import InvalidInput
from workflow_integrator.settings import Settings
from workflow_integrator.store.secretbox import SecretBox, SecretKeyError, new_key, place

URL = "/api/v1/outbound-servers"
CLIENT = self_signed("wi-client")
# The base64 body of the client key: its distinctive bytes in PEM form.
CLIENT_KEY_BODY = "".join(CLIENT.key_pem.strip().splitlines()[1:-1])

SECRETS = {
    "basic password": "Basic-Pw-7f3a9c",
    "oauth login password": "Oauth-Login-Pw-11b2",
    "oauth client secret": "Oauth-Client-Secret-5d8e",
    "refresh token": "Refresh-Token-a41c77",
    "refresh client secret": "Refresh-Client-Secret-0e9f",
    "bearer token": "Bearer-Token-c3d2e1",
    "proxy password": "Proxy-Pw-9a8b7c",
    "client key": CLIENT_KEY_BODY,
}

SERVERS: list[dict[str, Any]] = [
    {
        "name": "basic",
        "host": "basic.example.com",
        "auth": {"method": "basic", "username": "u", "password": SECRETS["basic password"]},
        "proxy": f"http://svc:{SECRETS['proxy password']}@10.20.0.9:3128",
        "client_certificate": CLIENT.cert_pem,
        "client_key": CLIENT.key_pem,
    },
    {
        "name": "oauth-password",
        "host": "itsm.example.com",
        "auth": {
            "method": "oauth2",
            "grant_type": "password",
            "token_url": "https://itsm.example.com/oauth_token.do",
            "username": "wi",
            "password": SECRETS["oauth login password"],
            "client_id": "cid",
            "client_secret": SECRETS["oauth client secret"],
        },
    },
    {
        "name": "oauth-refresh",
        "host": "jira.example.com",
        "auth": {
            "method": "oauth2",
            "grant_type": "refresh_token",
            "token_url": "https://jira.example.com/token",
            "refresh_token": SECRETS["refresh token"],
            "client_id": "cid",
            "client_secret": SECRETS["refresh client secret"],
            "client_auth": "client_secret_post",
        },
    },
    {
        "name": "bearer",
        "host": "10.0.0.5:8443",
        "auth": {"method": "bearer", "token": SECRETS["bearer token"]},
    },
]


def _forms(secret: str) -> list[bytes]:
    """The secret as stored bytes might show it: plain, UTF-16 and base64."""
    raw = secret.encode()
    return [
        raw,
        secret.encode("utf-16-le"),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
    ]


def assert_no_secret_in(data: bytes, where: str) -> None:
    """No form of any known secret occurs in ``data``."""
    for label, secret in SECRETS.items():
        for form in _forms(secret):
            assert form not in data, f"the {label} appears in {where}"


def database_bytes(settings: Settings) -> bytes:
    """The SQLite file and its -wal and -shm companions, as they lie on disk."""
    db = settings.data_dir / "wi.db"
    files = [db, db.with_name("wi.db-wal"), db.with_name("wi.db-shm")]
    assert db.exists()
    return b"".join(f.read_bytes() for f in files if f.exists())


@pytest.fixture
def stocked(tmp_path: Path) -> Iterator[LiveWI]:
    """A live WI on SQLite holding every kind of secret, written through the API."""
    with serve_wi(make_settings(tmp_path / "data")) as live:
        with live.client() as api:
            for doc in SERVERS:
                response = api.post(URL, json=doc)
                assert response.status_code == 201, response.text
                assert_no_secret_in(response.content, f"the create response of {doc['name']}")
        yield live


def test_no_secret_in_the_database_files(stocked: LiveWI) -> None:
    data = database_bytes(stocked.settings)
    assert b"oauth-refresh" in data and b"jira.example.com" in data  # the rows are there
    assert_no_secret_in(data, "the SQLite files")
    for token in (stocked.admin_token, stocked.viewer_token):
        assert token.encode() not in data, "an API token is stored in clear"
    # After a checkpoint the pages move from the WAL into the main file: still nothing.
    with stocked.services.engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    assert_no_secret_in(database_bytes(stocked.settings), "the SQLite files after a checkpoint")


def test_secrets_survive_the_round_trip(stocked: LiveWI) -> None:
    servers = stocked.services.servers
    basic = servers.get_config("basic")
    assert basic.auth.method == "basic"
    assert basic.auth.password is not None
    assert basic.auth.password.get_secret_value() == SECRETS["basic password"]
    assert basic.proxy is not None and basic.proxy.password is not None
    assert basic.proxy.password.get_secret_value() == SECRETS["proxy password"]
    assert basic.client_key is not None
    assert basic.client_key.get_secret_value() == CLIENT.key_pem
    refresh = servers.get_config("oauth-refresh").auth
    assert refresh.method == "oauth2" and refresh.grant_type == "refresh_token"
    assert refresh.refresh_token is not None
    assert refresh.refresh_token.get_secret_value() == SECRETS["refresh token"]
    bearer = servers.get_config("bearer").auth
    assert bearer.method == "bearer" and bearer.token is not None
    assert bearer.token.get_secret_value() == SECRETS["bearer token"]


def test_no_secret_in_any_api_answer(stocked: LiveWI) -> None:
    with stocked.client() as api, stocked.client(stocked.viewer_token) as viewer:
        answers = [api.get(URL), viewer.get(URL)]
        for doc in SERVERS:
            answers.append(api.get(f"{URL}/{doc['name']}"))
            answers.append(viewer.get(f"{URL}/{doc['name']}"))
            answers.append(api.put(f"{URL}/{doc['name']}", json=doc))
            answers.append(api.patch(f"{URL}/{doc['name']}", json={"timeout_seconds": 9}))
        # An invalid write must not echo what it was sent either.
        answers.append(api.put(f"{URL}/basic", json={**SERVERS[0], "host": "bad host"}))
        answers.append(api.post(URL, json={**SERVERS[1], "name": "x/y"}))
        answers.append(api.post(f"{URL}/bearer/rename", json={"name": "bearer-2"}))
    for answer in answers:
        assert answer.status_code < 500, answer.text
        assert_no_secret_in(answer.content, f"{answer.request.method} {answer.request.url}")
    shown = json.loads(answers[0].content)
    assert {s["name"]: s["auth"].get("password") for s in shown}["basic"] == "********"


def test_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    services = build_services(settings)
    try:
        key_file = settings.data_dir / "secret.key"
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        services.servers.create(SERVERS[3])
        with services.engine.connect() as connection:
            row_id, stored = connection.execute(
                text("SELECT id, secrets FROM outbound_servers")).one()
        where = place("outbound_servers", row_id, "secrets")
        assert SECRETS["bearer token"] in SecretBox([key]).decrypt(stored, where)
    finally:
        services.close()


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    build_services(settings).close()
    (settings.data_dir / "secret.key").chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        build_services(settings)


def test_wi_secret_key_is_used_when_set(tmp_path: Path) -> None:
    key = new_key()
    settings = make_settings(tmp_path / "data")
    settings.secret_key = __import__("pydantic").SecretStr(key)
    services = build_services(settings)
    try:
        services.servers.create(SERVERS[3])
        assert not (settings.data_dir / "secret.key").exists()
        with services.engine.connect() as connection:
            row_id, stored = connection.execute(
                text("SELECT id, secrets FROM outbound_servers")).one()
        where = place("outbound_servers", row_id, "secrets")
        assert SECRETS["bearer token"] in SecretBox([key]).decrypt(stored, where)
        with pytest.raises(SecretKeyError):
            SecretBox([new_key()]).decrypt(stored, where)
    finally:
        services.close()


def _stored_ciphertexts(settings: Settings) -> list[tuple[str, str]]:
    services = build_services(settings)
    try:
        with services.engine.connect() as connection:
            return [
                (row[0], place("outbound_servers", row[1], "secrets"))
                for row in connection.execute(
                    text("SELECT secrets, id FROM outbound_servers WHERE secrets IS NOT NULL")
                )
            ]
    finally:
        services.close()


def _check_rotated(settings: Settings, old_key: str, new: str) -> None:
    ciphertexts = _stored_ciphertexts(settings)
    assert len(ciphertexts) == len(SERVERS)
    for ciphertext, where in ciphertexts:
        with pytest.raises(SecretKeyError):
            SecretBox([old_key]).decrypt(ciphertext, where)
        SecretBox([new]).decrypt(ciphertext, where)
    services = build_services(settings)
    try:
        auth = services.servers.get_config("oauth-password").auth
        assert auth.method == "oauth2" and auth.client_secret is not None
        assert auth.client_secret.get_secret_value() == SECRETS["oauth client secret"]
        basic = services.servers.get_config("basic")
        assert basic.proxy is not None and basic.proxy.password is not None
        assert basic.proxy.password.get_secret_value() == SECRETS["proxy password"]
    finally:
        services.close()


def test_rotate_key_with_the_key_file(stocked: LiveWI) -> None:
    settings = stocked.settings
    key_file = settings.data_dir / "secret.key"
    old_key = key_file.read_text().strip()
    result = run_wi(settings.data_dir, "secrets", "rotate-key")
    assert result.returncode == 0, result.stderr
    assert f"re-encrypted {len(SERVERS)} secret record(s)" in result.stdout
    keys = key_file.read_text().split()
    assert len(keys) == 1 and keys[0] != old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    _check_rotated(settings, old_key, keys[0])
    # The running WI was not restarted: it must still serve the servers it had, and
    # what it writes now must be readable by the next start (which has only the new key).
    with stocked.client() as api:
        assert api.get(f"{URL}/basic").status_code == 200
        new_auth = {"method": "bearer", "token": "written-after-rotation"}
        assert api.put(f"{URL}/bearer", json={**SERVERS[3], "auth": new_auth}).status_code == 200
    restarted = build_services(settings)
    try:
        token = restarted.servers.get_config("bearer").auth
        assert token.method == "bearer" and token.token is not None
        assert token.token.get_secret_value() == "written-after-rotation"
    finally:
        restarted.close()


def test_rotate_key_with_wi_secret_key(tmp_path: Path) -> None:
    old_key = new_key()
    settings = make_settings(tmp_path / "data")
    settings.secret_key = __import__("pydantic").SecretStr(old_key)
    services = build_services(settings)
    try:
        for doc in SERVERS:
            services.servers.create(doc)
    finally:
        services.close()
    result = run_wi(settings.data_dir, "secrets", "rotate-key", WI_SECRET_KEY=old_key)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip().splitlines()[-1]
    assert printed != old_key
    assert not (settings.data_dir / "secret.key").exists()
    settings.secret_key = __import__("pydantic").SecretStr(printed)
    _check_rotated(settings, old_key, printed)


def test_rotate_key_refuses_a_bad_new_key(stocked: LiveWI) -> None:
    key_file = stocked.settings.data_dir / "secret.key"
    before = key_file.read_text()
    result = run_wi(stocked.settings.data_dir, "secrets", "rotate-key", "--new-key", "c2hvcnQ")
    assert result.returncode == 2
    assert "--new-key: a secret key must decode to 32 bytes" in result.stderr
    assert key_file.read_text() == before
    with stocked.client() as api:
        assert isinstance(api.get(f"{URL}/basic").json(), dict)


def test_no_secret_in_the_server_log(stocked: LiveWI, capfd: pytest.CaptureFixture[str]) -> None:
    with stocked.client() as api:
        api.put(f"{URL}/basic", json={**SERVERS[0], "host": "bad host"})
        api.put(f"{URL}/basic", json=SERVERS[0])
    out, err = capfd.readouterr()
    assert_no_secret_in((out + err).encode(), "the output of WI")


def test_sealed_export_carries_every_secret_to_another_wi(stocked: LiveWI, tmp_path: Path) -> None:
    masked = stocked.services.servers.export()
    assert_no_secret_in(json.dumps(masked).encode(), "a masked export")
    sealed = stocked.services.servers.export(secrets="encrypt", passphrase="pass phrase")
    assert_no_secret_in(json.dumps(sealed).encode(), "a sealed export")
    other = build_services(make_settings(tmp_path / "other"))
    try:
        report = other.servers.import_(sealed, passphrase="pass phrase")
        assert sorted(report.created) == sorted(doc["name"] for doc in SERVERS)
        for doc in SERVERS:
            assert other.servers.get_config(doc["name"]) == stocked.services.servers.get_config(
                doc["name"]
            )
        # A masked export cannot create servers with secrets elsewhere: it says which.
        with pytest.raises(InvalidInput, match=r"auth\.password") as caught:
            other.servers.import_([{**masked[0], "name": "copy"}])
        assert_no_secret_in(str(caught.value).encode(), "an import error")
    finally:
        other.close()


@pytest.mark.parametrize(
    ("doc", "loc", "fragment"),
    [
        pytest.param({"proxy": "http://svc@10.20.0.9:3128", "proxy_password": 5},
                     "0.proxy_password", "must be the sealed text", id="proxy-password-number"),
        pytest.param({"proxy": "http://svc@10.20.0.9:3128", "proxy_password": "wi-sealed1:AAAA"},
                     "0.proxy_password", "an exported secret is damaged", id="proxy-cut"),
        pytest.param({"auth": {"method": "basic", "username": "u",
                               "password": "wi-sealed1:!!!!"}},
                     "0.auth.password", "an exported secret is damaged", id="password-garbage"),
        pytest.param({"proxy": "gopher://p:1", "proxy_password": "wi-sealed1:AAAA"},
                     "0.proxy", "proxy scheme 'gopher' is not supported", id="proxy-bad"),
    ],
)
def test_damaged_sealed_import_names_the_field(
    wi_settings: Settings, doc: dict[str, Any], loc: str, fragment: str
) -> None:
    services = build_services(wi_settings)
    try:
        with pytest.raises(InvalidInput) as caught:
            services.servers.import_(
                [{"name": "damaged", "host": "h.example.com", **doc}], passphrase="pass phrase"
            )
        assert f"{loc}: " in str(caught.value)
        assert fragment in str(caught.value)
        assert services.servers.names() == []
    finally:
        services.close()


def test_wrong_key_is_a_clear_error_not_a_bare_500(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    services = build_services(settings)
    services.servers.create(SERVERS[3])
    services.close()
    settings.secret_key = __import__("pydantic").SecretStr(new_key())  # not the one used
    with serve_wi(settings) as live, live.client() as api:
        for response in (api.get(URL), api.get(f"{URL}/bearer")):
            assert response.status_code == 500
            detail = response.json()["detail"]
            assert "stored secrets cannot be read" in detail
            assert "WI_SECRET_KEY" in detail
            assert_no_secret_in(response.content, "the key error")

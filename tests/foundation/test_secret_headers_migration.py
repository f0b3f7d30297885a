"""0010_secret_headers: header credentials saved in clear before it are encrypted, and kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from workflow_integrator.app import build_services
from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine
from workflow_integrator.store.secretbox import SecretBox, load_keys, place

API_KEY = "clear-api-key-from-0009"
COOKIE = "session=clear-cookie-0009"
KEYED = f"Content-Type: application/json, X-API-Key: {API_KEY}"
WITH_AUTH = f"Cookie: {COOKIE}, Accept: application/json"
PLAIN = "Content-Type: application/json, X-Source: wi"

SERVERS = sa.table(
    "outbound_servers", sa.column("id", sa.Integer), sa.column("name", sa.String),
    sa.column("config", sa.JSON), sa.column("secrets", sa.Text), sa.column("state", sa.String),
    sa.column("revision", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


@pytest.fixture
def engine(any_db_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(any_db_settings.resolved_database_url)
    yield engine
    engine.dispose()


def _box(settings: Settings) -> SecretBox:
    return SecretBox(load_keys(None, settings.resolved_secret_key_file))


def _config(name: str, headers: str, auth: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "host": f"{name}.example.com", "protocol": "https",
            "headers": headers, "verify_certificate": "disable", "certificate": None,
            "proxy": None, "timeout_seconds": 30, "client_certificate": None,
            "client_key": None, "max_concurrency": 8, "enabled": True, "auth": auth}


def _rows_of_0009(engine: Engine, box: SecretBox) -> None:
    """Three servers as 0009 stored them: header credentials in the clear config."""
    now = datetime(2026, 1, 5, tzinfo=UTC)
    basic_secrets = box.encrypt(json.dumps({"auth.password": "basic-pw-0009"}),
                                place("outbound_servers", 2, "secrets"))
    rows = [
        (1, "keyed", _config("keyed", KEYED, {"method": "none"}), None),
        (2, "basic", _config("basic", WITH_AUTH, {"method": "basic", "username": "wi",
                                                  "password": None}), basic_secrets),
        (3, "plain", _config("plain", PLAIN, {"method": "none"}), None),
    ]
    with engine.begin() as connection:
        for server_id, name, config, secrets in rows:
            connection.execute(sa.insert(SERVERS).values(
                id=server_id, name=name, config=config, secrets=secrets, state="ok",
                revision=1, created_at=now, updated_at=now))


def _stored(engine: Engine) -> dict[str, tuple[dict[str, Any], str | None]]:
    with engine.connect() as connection:
        return {row.name: (row.config, row.secrets)
                for row in connection.execute(sa.select(SERVERS))}


def test_upgrade_encrypts_header_credentials_and_keeps_every_row(
    engine: Engine, any_db_settings: Settings
) -> None:
    box = _box(any_db_settings)
    migrate.upgrade(engine, "0009_smtp")
    _rows_of_0009(engine, box)
    migrate.upgrade(engine, "0010_secret_headers", secretbox=box)
    stored = _stored(engine)
    dump = json.dumps({name: [config, secrets] for name, (config, secrets) in stored.items()})
    assert API_KEY not in dump and COOKIE not in dump
    assert stored["keyed"][0]["headers"] == "Content-Type: application/json, X-API-Key: ********"
    assert stored["plain"] == (_config("plain", PLAIN, {"method": "none"}), None)
    services = build_services(any_db_settings)
    try:
        assert services.servers.get_config("keyed").headers == KEYED
        basic = services.servers.get_config("basic")
        assert basic.headers == WITH_AUTH
        assert basic.auth.password.get_secret_value() == "basic-pw-0009"  # type: ignore[union-attr]
        assert services.servers.get("basic").headers.startswith("Cookie: ********")
    finally:
        services.close()
    with pytest.raises(RuntimeError, match="needs the secret key"):
        migrate.downgrade(engine, "0009_smtp")  # 0009 would show the masks as values
    # Left where it was: build_services above upgraded it to the newest revision.
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.downgrade(engine, "0009_smtp", secretbox=box)
    restored = _stored(engine)
    assert restored["keyed"][0]["headers"] == KEYED and restored["keyed"][1] is None
    assert restored["basic"][0]["headers"] == WITH_AUTH
    assert json.loads(box.decrypt(str(restored["basic"][1]), place(
        "outbound_servers", 2, "secrets"))) == {"auth.password": "basic-pw-0009"}


def test_upgrade_without_the_key_is_finished_at_start(
    engine: Engine, any_db_settings: Settings
) -> None:
    box = _box(any_db_settings)
    migrate.upgrade(engine, "0009_smtp")
    _rows_of_0009(engine, box)
    migrate.upgrade(engine)  # no key handed over: nothing can be encrypted yet
    assert API_KEY in json.dumps(_stored(engine)["keyed"][0])
    services = build_services(any_db_settings)
    try:
        assert services.servers.get_config("keyed").headers == KEYED
    finally:
        services.close()
    assert API_KEY not in json.dumps({k: list(v) for k, v in _stored(engine).items()})

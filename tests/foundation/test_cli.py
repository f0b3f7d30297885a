"""The ``wi`` command, run for real in subprocesses on data folders of the tests' own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import make_settings
from tests.foundation.pem import self_signed
from tests.foundation.wi_cli import run_many, run_wi
from tests.servers.live_wi import serve_wi
from workflow_integrator.app import Services, build_services
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine

PASSPHRASE = "correct horse battery staple"
CLIENT = self_signed("wi-client")
SECRETS = ("Cli-Basic-Pw-41", "Cli-Client-Secret-42", "Cli-Refresh-43", "Cli-Proxy-Pw-44")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder shared by the module's tests (each uses its own server names)."""
    return tmp_path_factory.mktemp("cli") / "data"


def config(data: Path, name: str) -> OutboundServer:
    """What WI stored for ``name``, secrets decrypted (what a delivery would use)."""
    services = build_services(make_settings(data))
    try:
        return services.servers.get_config(name)
    finally:
        services.close()


@contextmanager
def services_on(data: Path) -> Iterator[Services]:
    """WI's services on ``data``, in this process (to set up and to inspect)."""
    services = build_services(make_settings(data))
    try:
        yield services
    finally:
        services.close()


def names(data: Path) -> list[str]:
    """The servers in ``data``."""
    with services_on(data) as services:
        return services.servers.names()


def ensure_servers(data: Path) -> None:
    """The servers the add tests create, made in-process when a test runs on its own."""
    documents = [
        {"name": "servicenow", "host": "itsm.example.com:8443/api",
         "auth": {"method": "basic", "username": "wi-service", "password": SECRETS[0]},
         "proxy": f"svc:{SECRETS[3]}@10.20.0.9:3128"},
        {"name": "jira", "host": "https://jira.example.com/rest",
         "auth": {"method": "oauth2", "grant_type": "refresh_token",
                  "token_url": "https://jira.example.com/token", "refresh_token": SECRETS[2],
                  "client_id": "cid", "client_secret": SECRETS[1]}},
        {"name": "remedy", "host": "[fd00::5]:8443", "protocol": "http"},
    ]
    with services_on(data) as services:
        present = services.servers.names()
        for doc in documents:
            if doc["name"] not in present:
                services.servers.create(doc)


def exported(data: Path) -> list[dict[str, Any]]:
    """Every server of ``data`` as an export shows it."""
    with services_on(data) as services:
        return services.servers.export()


def secret(value: Any) -> str:
    """The clear value of a SecretStr."""
    assert value is not None
    return str(value.get_secret_value())


# -- add, list, show ------------------------------------------------------------------------


def test_add_with_options_then_list_and_show(data: Path) -> None:
    added = run_wi(
        data, "servers", "add", "--name", "servicenow", "--host", "itsm.example.com:8443/api",
        "--headers", "Content-Type: application/json, X-Source: SecureChange",
        "--auth", "basic", "--username", "wi-service", "--password", SECRETS[0],
        "--proxy", f"svc:{SECRETS[3]}@10.20.0.9:3128", "--timeout", "12",
    )
    assert added.returncode == 0, added.stderr
    assert "created outbound server servicenow (https://itsm.example.com:8443/api)" in added.stdout
    assert "TLS certificate verification is disabled" in added.stdout  # the warning
    assert "secrets stored encrypted: password" in added.stdout
    assert all(s not in added.stdout + added.stderr for s in SECRETS)

    stored = config(data, "servicenow")
    assert stored.auth.method == "basic"
    assert secret(stored.auth.password) == SECRETS[0]
    assert stored.proxy is not None and secret(stored.proxy.password) == SECRETS[3]
    assert stored.timeout_seconds == 12

    table, listed, shown, shown_json = run_many(
        data,
        ["servers", "list"],
        ["servers", "list", "--json"],
        ["servers", "show", "servicenow"],
        ["servers", "show", "servicenow", "--json"],
    )
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "servicenow" in line)
    for cell in ("itsm.example.com:8443/api", "HTTPS", "basic", "disable", "ok", "yes"):
        assert cell in row, (cell, row)

    doc = next(s for s in json.loads(listed.stdout) if s["name"] == "servicenow")
    assert doc["auth"] == {"method": "basic", "username": "wi-service", "password": "********"}
    assert doc["proxy"] == "http://svc:********@10.20.0.9:3128"

    assert shown.returncode == 0, shown.stderr
    for text in ("https://itsm.example.com:8443/api", "X-Source: SecureChange",
                 "auth.password", "********", "http://svc:********@10.20.0.9:3128"):
        assert text in shown.stdout, text
    as_json = json.loads(shown_json.stdout)
    assert as_json["timeout_seconds"] == 12
    assert all(s not in shown.stdout + json.dumps(as_json) for s in SECRETS)


def test_add_from_yaml_and_json_files(data: Path, tmp_path: Path) -> None:
    cert = self_signed("jira.example.com")
    yaml_file = tmp_path / "jira.yaml"
    yaml_file.write_text(
        yaml.safe_dump(
            {
                "name": "jira",
                "host": "https://jira.example.com/rest",
                "verify_certificate": "certificate",
                "certificate": cert.cert_pem,
                "auth": {
                    "method": "oauth2",
                    "grant_type": "refresh_token",
                    "token_url": "https://jira.example.com/token",
                    "refresh_token": SECRETS[2],
                    "client_id": "cid",
                    "client_secret": SECRETS[1],
                    "client_auth": "client_secret_post",
                },
            }
        )
    )
    json_file = tmp_path / "remedy.json"
    json_file.write_text(
        json.dumps({"name": "remedy", "host": "[fd00::5]:8443", "protocol": "http"})
    )
    for result in run_many(
        data,
        ["servers", "add", "--file", str(yaml_file), "--json"],
        ["servers", "add", "--file", str(json_file), "--json"],
        # Options win over the file, also when they name another auth method.
        ["servers", "add", "--file", str(yaml_file), "--name", "jira-bearer",
         "--auth", "bearer", "--token", "option-token"],
    ):
        assert result.returncode == 0, result.stderr
        assert all(s not in result.stdout for s in SECRETS)
    jira = config(data, "jira")
    assert jira.protocol == "https" and jira.host == "jira.example.com/rest"
    assert jira.auth.method == "oauth2" and jira.auth.grant_type == "refresh_token"
    assert secret(jira.auth.refresh_token) == SECRETS[2]
    assert jira.auth.client_auth == "client_secret_post"
    assert config(data, "remedy").base_url == "http://[fd00::5]:8443"
    bearer = config(data, "jira-bearer")
    assert bearer.host == "jira.example.com/rest"
    assert bearer.auth.method == "bearer" and secret(bearer.auth.token) == "option-token"


# -- edit and delete ------------------------------------------------------------------------


def test_edit_with_options_file_and_rename(data: Path, tmp_path: Path) -> None:
    with services_on(data) as services:
        services.servers.create(
            {"name": "edit-me", "host": "10.0.0.7",
             "auth": {"method": "bearer", "token": "first-token"}}
        )
        server_id = services.servers.id_of("edit-me")

    edited = run_wi(data, "servers", "edit", "edit-me", "--timeout", "7", "--disabled",
                    "--verify-certificate", "enable")
    assert edited.returncode == 0, edited.stderr
    stored = config(data, "edit-me")
    assert (stored.timeout_seconds, stored.enabled, stored.verify_certificate) == (
        7, False, "enable"
    )
    assert secret(stored.auth.token) == "first-token"  # untouched options keep their value

    replacement = tmp_path / "edit.yaml"
    replacement.write_text("host: 10.0.0.8:8443\nauth:\n  method: bearer\n  token: '********'\n")
    replaced = run_wi(data, "servers", "edit", "edit-me", "--file", str(replacement),
                      "--rename", "edited")
    assert replaced.returncode == 0, replaced.stderr
    stored = config(data, "edited")
    assert stored.host == "10.0.0.8:8443"
    assert stored.enabled is True and stored.timeout_seconds == 30  # --file replaces
    assert secret(stored.auth.token) == "first-token"  # the mask kept the token
    with services_on(data) as services:
        assert services.servers.id_of("edited") == server_id
        assert "edit-me" not in services.servers.names()
    # '-' asks for the secret, so it stays out of the shell history; here it is piped in.
    asked = run_wi(data, "servers", "edit", "edited", "--token", "-", stdin="piped-token\n")
    assert asked.returncode == 0, asked.stderr
    assert "piped-token" not in asked.stdout + asked.stderr
    assert secret(config(data, "edited").auth.token) == "piped-token"
    switched = run_wi(data, "servers", "edit", "edited", "--auth", "basic", "--username", "wi",
                      "--password", "switched-pw")
    assert switched.returncode == 0, switched.stderr
    stored = config(data, "edited")
    assert stored.auth.method == "basic" and secret(stored.auth.password) == "switched-pw"


def test_delete(data: Path) -> None:
    with services_on(data) as services:
        services.servers.create({"name": "doomed", "host": "10.0.0.9"})
    deleted = run_wi(data, "servers", "delete", "doomed", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted outbound server doomed" in deleted.stdout
    assert "doomed" not in names(data)
    again = run_wi(data, "servers", "delete", "doomed", "--yes")
    assert again.returncode == 2
    assert "no outbound server named 'doomed'" in again.stderr


# -- bad input ------------------------------------------------------------------------------


def test_bad_input_is_a_clear_message_and_exit_code_2(data: Path, tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    cases = [
        (["servers", "add", "--name", "bad", "--host", "x.example.com:99999",
          "--auth", "basic", "--username", "u"],
         ["host: port '99999' is not a number between 1 and 65535",
          "auth.password: the login password is required"]),
        (["servers", "show", "nowhere"], ["no outbound server named 'nowhere'"]),
        (["servers", "add", "--file", str(tmp_path / "missing.yaml")], ["cannot read"]),
        (["servers", "add", "--file", str(bad_yaml)], ["is not valid YAML"]),
        (["servers", "edit", "servicenow"], ["nothing to change"]),
        (["servers", "export", "ghost"], ["no outbound server named ghost"]),
        (["servers", "export", "--encrypt-secrets"], ["set WI_EXPORT_PASSPHRASE"]),
    ]
    before = exported(data)
    for (args, messages), result in zip(
        cases, run_many(data, *(args for args, _ in cases)), strict=True
    ):
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        for message in messages:
            assert message in result.stderr, (message, result.stderr)
        assert "Traceback" not in result.stderr
    assert exported(data) == before


# -- export and import ----------------------------------------------------------------------


def test_export_masks_secrets_in_yaml_and_json(data: Path, tmp_path: Path) -> None:
    ensure_servers(data)
    out = tmp_path / "export.json"
    as_yaml, as_json = run_many(
        data,
        ["servers", "export", "servicenow", "jira"],
        ["servers", "export", "--format", "json", "--output", str(out)],
    )
    assert as_yaml.returncode == 0, as_yaml.stderr
    docs = yaml.safe_load(as_yaml.stdout)["outbound_servers"]
    assert [d["name"] for d in docs] == ["jira", "servicenow"]
    assert all(s not in as_yaml.stdout for s in SECRETS)
    assert docs[1]["auth"]["password"] == "********"
    assert docs[1]["proxy"] == "http://svc:********@10.20.0.9:3128"

    assert as_json.returncode == 0, as_json.stderr
    text = out.read_text()
    assert all(s not in text for s in SECRETS)
    assert {d["name"] for d in json.loads(text)["outbound_servers"]} >= {"jira", "servicenow"}


def test_encrypted_export_restores_working_secrets_elsewhere(data: Path, tmp_path: Path) -> None:
    ensure_servers(data)
    exported = tmp_path / "sealed.yaml"
    result = run_wi(data, "servers", "export", "servicenow", "jira", "--encrypt-secrets",
                    "--output", str(exported), WI_EXPORT_PASSPHRASE=PASSPHRASE)
    assert result.returncode == 0, result.stderr
    assert all(s not in exported.read_text() for s in SECRETS)

    other = tmp_path / "second" / "data"
    wrong = run_wi(other, "servers", "import", str(exported), WI_EXPORT_PASSPHRASE="wrong")
    assert wrong.returncode == 2
    assert "passphrase does not open" in wrong.stderr
    imported = run_wi(other, "servers", "import", str(exported), WI_EXPORT_PASSPHRASE=PASSPHRASE)
    assert imported.returncode == 0, imported.stderr
    assert "created: jira, servicenow" in imported.stdout
    servicenow = config(other, "servicenow")
    assert secret(servicenow.auth.password) == SECRETS[0]
    assert servicenow.proxy is not None and secret(servicenow.proxy.password) == SECRETS[3]
    jira = config(other, "jira")
    assert secret(jira.auth.refresh_token) == SECRETS[2]
    assert secret(jira.auth.client_secret) == SECRETS[1]
    # The second WI has its own key: the first one's cannot open its secrets.
    assert (other / "secret.key").read_text() != (data / "secret.key").read_text()


def test_import_validates_everything_first(data: Path, tmp_path: Path) -> None:
    before = exported(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "outbound_servers": [
                    {"name": "fine-one", "host": "fine.example.com"},
                    {"name": "broken-host", "host": "x.example.com:0"},
                    {"name": "servicenow", "host": "itsm.example.com", "protocol": "gopher"},
                ]
            }
        )
    )
    result = run_wi(data, "servers", "import", str(bad))
    assert result.returncode == 2
    assert "1.host: port '0' is not a number" in result.stderr
    assert "2.protocol:" in result.stderr
    assert exported(data) == before
    assert "fine-one" not in names(data)


def test_import_dry_run_changes_nothing(data: Path, tmp_path: Path) -> None:
    ensure_servers(data)
    docs = exported(data)
    remedy = next(d for d in docs if d["name"] == "remedy")
    remedy["timeout_seconds"] = 99
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"outbound_servers": [
        remedy, {"name": "brand-new", "host": "new.example.com"},
        next(d for d in docs if d["name"] == "jira"),
    ]}))
    result = run_wi(data, "servers", "import", str(plan), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would be created: brand-new" in result.stdout
    assert "would be updated: remedy" in result.stdout
    assert "would be unchanged: jira" in result.stdout
    assert "brand-new" not in names(data)
    assert config(data, "remedy").timeout_seconds == 30


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_create_list_revoke_against_a_live_wi(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = run_wi(data, "tokens", "create", "--name", "ci-bot", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("wi_") and len(token) > 40
    assert "not shown again" in created.stdout

    listed, duplicate, bad_role, unknown = run_many(
        data,
        ["tokens", "list", "--json"],
        ["tokens", "create", "--name", "ci-bot"],
        ["tokens", "create", "--name", "root", "--role", "superuser"],
        ["tokens", "revoke", "nobody"],
    )
    assert bad_role.returncode == 2
    assert "role must be one of admin, viewer" in bad_role.stderr
    assert unknown.returncode == 2
    assert "no API token named 'nobody'" in unknown.stderr
    entries = {t["name"]: t for t in json.loads(listed.stdout)}
    assert entries["ci-bot"]["role"] == "viewer"
    assert token not in listed.stdout
    assert entries["ci-bot"]["hint"] == token[:7] + "…"
    assert duplicate.returncode == 2
    assert "already exists" in duplicate.stderr

    with serve_wi(make_settings(data)) as live, live.client(token) as client:
        assert client.get("/api/v1/outbound-servers").status_code == 200
        assert client.post("/api/v1/outbound-servers", json={}).status_code == 403
        revoked = run_wi(data, "tokens", "revoke", "ci-bot")
        assert revoked.returncode == 0, revoked.stderr
        assert "revoked API token ci-bot" in revoked.stdout
        assert client.get("/api/v1/outbound-servers").status_code == 401
    table = run_wi(data, "tokens", "list")
    assert "ci-bot" not in table.stdout
    assert "test-admin" in table.stdout


# -- database -------------------------------------------------------------------------------


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    data = tmp_path / "data"
    head = migrate.head_revision()
    first = run_wi(data, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"database at revision {head}" in first.stdout
    again = run_wi(data, "db", "upgrade")
    assert "(no change)" in again.stdout
    current = run_wi(data, "db", "current")
    assert current.returncode == 0, current.stderr
    assert f"database: {head}; newest: {head}" in current.stdout
    engine = make_engine(f"sqlite:///{data / 'wi.db'}")
    assert migrate.current_revision(engine) == head
    engine.dispose()

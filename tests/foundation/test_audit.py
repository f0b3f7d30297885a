"""The audit log: changes through the API and the CLI are recorded with who made them,
from where, and a diff whose secrets are masked; only admins read it (the UI's page is
in tests/web/test_audit_page.py)."""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from pathlib import Path

import httpx2
from sqlalchemy import text

from tests.foundation.wi_cli import run_wi
from tests.servers.live_wi import LiveWI
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.store.audit import AuditFilter

PASSWORD = "s3cret-basic-password"

SERVER = {
    "name": "itsm",
    "host": "itsm.example.com",
    "verify_certificate": "enable",
    "auth": {"method": "basic", "username": "wi", "password": PASSWORD},
}


def raw_log(live: LiveWI) -> str:
    """Everything the audit table holds, as text (to look for secrets in it)."""
    with live.services.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_log")).all()
    return json.dumps([[str(v) for v in row] for row in rows])


def test_an_api_change_is_recorded_with_the_token_address_and_a_masked_diff(
    live_wi: LiveWI,
) -> None:
    with live_wi.client() as api:
        assert api.post("/api/v1/outbound-servers", json=SERVER).status_code == 201
        changed = api.patch("/api/v1/outbound-servers/itsm",
                            json={"host": "itsm2.example.com",
                                  "auth": {"password": "another-password-1"}})
        assert changed.status_code == 200
        # A refused change (the name is taken) leaves no record: same transaction.
        assert api.post("/api/v1/outbound-servers", json=SERVER).status_code == 409
        page = api.get("/api/v1/audit", params={"kind": "server"})
    assert page.status_code == 200
    update, create = page.json()["items"]
    assert create["actor"] == "test-admin"
    assert create["actor_kind"] == "token"
    assert create["address"] == "127.0.0.1"
    assert create["action"] == "create"
    assert create["subject"] == "itsm"
    assert create["changes"]["auth.password"] == [None, MASK]
    assert create["changes"]["host"] == [None, "itsm.example.com"]
    assert "client_key" not in create["changes"]  # no key before, none after
    assert update["action"] == "update"
    assert update["changes"]["host"] == ["itsm.example.com", "itsm2.example.com"]
    assert update["changes"]["auth.password"] == [MASK, MASK]
    with live_wi.client() as api:
        for key in ("key-one-1234", "key-two-5678"):
            headers = f"Content-Type: application/json, X-API-Key: {key}"
            assert api.patch("/api/v1/outbound-servers/itsm",
                             json={"headers": headers}).status_code == 200
        key_added, key_changed = api.get("/api/v1/audit", params={"kind": "server",
                                                                 "limit": 2}).json()["items"][::-1]
    masked_key = f"Content-Type: application/json, X-API-Key: {MASK}"
    assert key_added["changes"]["headers"] == ["Content-Type: application/json", masked_key]
    assert key_changed["changes"] == {"headers": [MASK, MASK]}
    raw = raw_log(live_wi)
    for secret in (PASSWORD, "another-password-1", "key-one-1234", "key-two-5678"):
        assert secret not in raw


def test_filters_and_pages(live_wi: LiveWI) -> None:
    tokens = live_wi.services.tokens
    for n in range(5):
        tokens.create(f"reader-{n}", "viewer")
    with live_wi.client() as api:
        first = api.get("/api/v1/audit", params={"kind": "token", "limit": 3}).json()
        assert [r["subject"] for r in first["items"]] == ["reader-4", "reader-3", "reader-2"]
        second = api.get("/api/v1/audit", params={
            "kind": "token", "limit": 3, "before_id": first["next_before_id"]}).json()
        assert [r["subject"] for r in second["items"]][:2] == ["reader-1", "reader-0"]
        one = api.get("/api/v1/audit", params={"subject": "reader-3"}).json()["items"]
        assert [(r["action"], r["changes"]) for r in one] == [
            ("create", {"name": [None, "reader-3"], "role": [None, "viewer"]})]
        bad = api.get("/api/v1/audit", params={"kind": "printer", "since": "0.5"})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("query", "kind"),
                                                               ("query", "since")}


def test_viewers_and_trigger_tokens_cannot_read_the_log(live_wi: LiveWI) -> None:
    with live_wi.client(live_wi.viewer_token) as viewer:
        refused = viewer.get("/api/v1/audit")
    assert refused.status_code == 403
    _, trigger = live_wi.services.tokens.create("trigger", "trigger")
    with live_wi.client(trigger) as source:
        assert source.get("/api/v1/audit").status_code == 403
    with httpx2.Client(base_url=live_wi.url, trust_env=False) as anonymous:
        assert anonymous.get("/api/v1/audit").status_code == 401


def test_a_cli_change_is_recorded_as_the_os_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = run_wi(data, "users", "add", "carol", "--role", "viewer", "--password-stdin",
                   stdin="carol-password-789\n")
    assert added.returncode == 0, added.stderr
    listed = run_wi(data, "audit", "list", "--json", "--kind", "user")
    assert listed.returncode == 0, listed.stderr
    [user] = json.loads(listed.stdout)
    assert (user["actor"], user["actor_kind"], user["address"]) == (getpass.getuser(), "cli",
                                                                    "local")
    assert (user["action"], user["subject"]) == ("create", "carol")
    assert user["changes"] == {"name": [None, "carol"], "password": [None, MASK],
                               "role": [None, "viewer"]}
    assert "carol-password-789" not in listed.stdout


def test_retention_prunes_records_older_than_the_setting(live_wi: LiveWI) -> None:
    services = live_wi.services
    services.tokens.create("old-change", "viewer")
    now = services.clock.now()
    kept = services.audit.keep - timedelta(days=1)
    assert services.audit.prune(now + kept) == 0
    assert services.audit.prune(now + services.audit.keep + timedelta(days=1)) >= 1
    assert services.audit.list(_all()) == []


def _all() -> AuditFilter:
    return AuditFilter(limit=1000)

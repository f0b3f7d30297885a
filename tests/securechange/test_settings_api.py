"""``/api/v1/securechange`` and ``wi securechange``: settings, masking, test connection."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from sqlalchemy import text
from typer.testing import CliRunner

from tests.servers.live_wi import LiveWI
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.cli import app as cli_app
from workflow_integrator.cli import context

MASK = "********"


def test_unconfigured_then_saved_with_the_password_masked(
    live_wi: LiveWI, sc_simulator: SimulatorHandle
) -> None:
    with live_wi.client() as c:
        before = c.get("/api/v1/securechange").json()
        saved = c.put("/api/v1/securechange", json=sc_simulator.connection_settings())
        shown = c.get("/api/v1/securechange").json()
    assert before["configured"] is False and before["password"] is None
    assert saved.status_code == 200
    assert shown["password"] == MASK
    assert shown["host"] == sc_simulator.url.removeprefix("http://")
    assert shown["protocol"] == "http"
    assert shown["base_url"] == sc_simulator.api_url
    assert sc_simulator.password not in json.dumps(shown)


def test_mask_keeps_the_stored_password_and_null_clears_it(
    live_wi_any_db: LiveWI, sc_simulator: SimulatorHandle
) -> None:
    with live_wi_any_db.client() as c:
        c.put("/api/v1/securechange", json=sc_simulator.connection_settings())
        kept = c.put("/api/v1/securechange", json={
            **sc_simulator.connection_settings(), "password": MASK, "timeout_seconds": 5})
        test_kept = c.post("/api/v1/securechange/test")
        cleared = c.put("/api/v1/securechange", json={
            **sc_simulator.connection_settings(), "password": None})
    assert kept.json()["password"] == MASK and kept.json()["timeout_seconds"] == 5
    assert test_kept.json()["ok"] is True
    assert cleared.json()["password"] is None


def test_password_is_encrypted_at_rest(live_wi: LiveWI, sc_simulator: SimulatorHandle) -> None:
    with live_wi.client() as c:
        c.put("/api/v1/securechange", json=sc_simulator.connection_settings())
    with live_wi.services.engine.connect() as conn:
        row = conn.execute(text("SELECT config, password FROM securechange_settings")).one()
    assert sc_simulator.password not in str(row.config)
    assert row.password and sc_simulator.password not in row.password


def test_test_connection_saved_and_unsaved(
    live_wi: LiveWI, sc_simulator: SimulatorHandle
) -> None:
    with live_wi.client() as c:
        nothing_saved = c.post("/api/v1/securechange/test")
        c.put("/api/v1/securechange", json=sc_simulator.connection_settings())
        saved_ok = c.post("/api/v1/securechange/test")
        wrong = c.post("/api/v1/securechange/test", json={
            **sc_simulator.connection_settings(), "password": "not-it"})
    assert nothing_saved.status_code == 404
    assert saved_ok.json()["ok"] is True and saved_ok.json()["status"] == 200
    assert wrong.json()["ok"] is False
    assert "refused the user name or password" in wrong.json()["message"]
    assert "not-it" not in wrong.text


def test_validation_names_each_field(live_wi: LiveWI) -> None:
    with live_wi.client() as c:
        bad = c.put("/api/v1/securechange", json={
            "host": "sc example", "username": "", "timeout_seconds": 0, "password": "pw-x"})
        no_cert = c.put("/api/v1/securechange", json={
            "host": "sc.example.com", "username": "u", "verify_certificate": "certificate"})
    assert bad.status_code == 422
    fields = {tuple(e["loc"]) for e in bad.json()["detail"]}
    assert fields == {("body", "host"), ("body", "username"), ("body", "timeout_seconds")}
    assert "pw-x" not in bad.text
    assert no_cert.status_code == 422
    assert no_cert.json()["detail"][0]["loc"] == ["body", "certificate"]


def test_viewer_reads_but_cannot_change(live_wi: LiveWI, sc_simulator: SimulatorHandle) -> None:
    with live_wi.client(live_wi.viewer_token) as viewer:
        assert viewer.get("/api/v1/securechange").status_code == 200
        assert viewer.put("/api/v1/securechange",
                          json=sc_simulator.connection_settings()).status_code == 403
        assert viewer.post("/api/v1/securechange/test").status_code == 403


@dataclass
class CliResult:
    """What a user sees from one ``wi`` command."""

    returncode: int
    stdout: str
    stderr: str


def wi_cli(live: LiveWI, *args: str, stdin: str | None = None) -> CliResult:
    """Run ``wi ARGS`` in-process on the live WI's data folder (its database and key)."""
    context.services.cache_clear()
    env = {k: None for k in os.environ if k.startswith("WI_")}
    env["WI_DATA_DIR"] = str(live.settings.data_dir)
    try:
        result = CliRunner().invoke(cli_app, list(args), input=stdin, env=env)
    finally:
        if context.services.cache_info().currsize:
            context.services().close()
        context.services.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


def test_cli_set_show_test(live_wi: LiveWI, sc_simulator: SimulatorHandle) -> None:
    done = wi_cli(live_wi, "securechange", "set", "--host", sc_simulator.url, "--user",
                  sc_simulator.username, "--password", "-", "--json",
                  stdin=sc_simulator.password + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout[done.stdout.index("{"):])["password"] == MASK
    shown = wi_cli(live_wi, "securechange", "show")
    assert "********" in shown.stdout and sc_simulator.password not in shown.stdout
    retimed = wi_cli(live_wi, "securechange", "set", "--timeout", "7", "--json")
    assert json.loads(retimed.stdout)["timeout_seconds"] == 7
    rotated = wi_cli(live_wi, "secrets", "rotate-key")
    assert rotated.returncode == 0 and "re-encrypted 1 secret" in rotated.stdout
    ok = wi_cli(live_wi, "securechange", "test")  # the password survived the key rotation
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = wi_cli(live_wi, "securechange", "set", "--verify", "sometimes")
    assert bad.returncode == 2 and "verify_certificate" in bad.stderr

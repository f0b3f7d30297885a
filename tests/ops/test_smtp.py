"""Mail server settings and the test e-mail, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.foundation.wi_cli import run_wi
from tests.servers.live_wi import LiveWI
from tests.servers.smtp import SMTP_PASSWORD, SMTP_USER, MailServer, mail_server

pytestmark = pytest.mark.filterwarnings(
    # aiosmtpd cannot tell that implicit TLS is TLS; the test server still requires the login.
    "ignore:Requiring AUTH while not requiring TLS"
)


@pytest.fixture
def starttls_server() -> Iterator[MailServer]:
    with mail_server("starttls") as server:
        yield server


@pytest.fixture
def tls_server() -> Iterator[MailServer]:
    with mail_server("tls") as server:
        yield server


def test_settings_saved_password_encrypted_masked_and_kept(
    live_wi_any_db: LiveWI, starttls_server: MailServer
) -> None:
    with live_wi_any_db.client() as api:
        assert api.get("/api/v1/smtp").json()["configured"] is False
        saved = api.put("/api/v1/smtp", json=starttls_server.settings())
        assert saved.status_code == 200, saved.text
        view = saved.json()
        assert view["password"] == "********"
        assert view["effective_port"] == starttls_server.port
        assert SMTP_PASSWORD not in saved.text
        # Sending the mask back (as a read shows it) keeps the stored password.
        again = api.put("/api/v1/smtp", json={**view, "sender": "ops@example.com"})
        assert again.status_code == 200, again.text
        sent = api.post("/api/v1/smtp/test", json={"to": "oncall@example.com"})
        assert sent.status_code == 200
        assert sent.json()["ok"] is True, sent.json()
    with live_wi_any_db.services.engine.connect() as connection:
        stored = connection.execute(text("SELECT password, config FROM smtp_settings")).one()
    assert SMTP_PASSWORD not in str(stored)
    assert stored[0].startswith("wi2:")  # sealed with the current, place-bound format
    received = starttls_server.messages[-1]
    assert received.login == SMTP_USER
    assert received.mail_from == "ops@example.com"
    assert received.rcpt_tos == ["oncall@example.com"]
    assert received.message["Subject"] == "Workflow Integrator: test e-mail"
    assert received.message["From"] == "ops@example.com"


def test_starttls_is_required_and_used_before_login(
    live_wi: LiveWI, starttls_server: MailServer
) -> None:
    with live_wi.client() as api:
        plain = api.post("/api/v1/smtp/test", json={
            "to": "a@example.com", "settings": starttls_server.settings(security="plain"),
        }).json()
        assert plain["ok"] is False
        assert "127.0.0.1" in plain["message"]
        assert SMTP_PASSWORD not in plain["message"]
        good = api.post("/api/v1/smtp/test", json={
            "to": "a@example.com", "settings": starttls_server.settings(),
        }).json()
        assert good["ok"] is True, good
    # Only the STARTTLS attempt reached the login: the plain one was refused before it.
    assert starttls_server.logins == [(SMTP_USER, True)]
    assert len(starttls_server.messages) == 1


def test_implicit_tls(live_wi: LiveWI, tls_server: MailServer) -> None:
    with live_wi.client() as api:
        result = api.post("/api/v1/smtp/test", json={
            "to": "b@example.com", "settings": tls_server.settings(),
        }).json()
    assert result["ok"] is True, result
    assert tls_server.messages[0].rcpt_tos == ["b@example.com"]
    assert tls_server.messages[0].login == SMTP_USER


def test_failures_name_the_stage_and_never_the_password(
    live_wi: LiveWI, starttls_server: MailServer, tls_server: MailServer
) -> None:
    with live_wi.client() as api:
        def attempt(server: MailServer, **overrides: object) -> dict[str, object]:
            answer = api.post("/api/v1/smtp/test", json={
                "to": "c@example.com", "settings": server.settings(**overrides)})
            assert answer.status_code == 200, answer.text
            result: dict[str, object] = answer.json()
            assert result["ok"] is False
            assert SMTP_PASSWORD not in str(result)
            return result

        wrong = attempt(starttls_server, password="not-the-password")
        assert "refused the login of 'wi-mailer'" in str(wrong["message"])
        # The system trust store does not know the test CA.
        untrusted = attempt(tls_server, verify_certificate="enable", certificate=None)
        assert "TLS with 127.0.0.1" in str(untrusted["message"])
        assert "Verify certificate" in str(untrusted["message"])
        starttls_server.refuse.add("nobody@example.com")
        refused = api.post("/api/v1/smtp/test", json={
            "to": "nobody@example.com", "settings": starttls_server.settings()}).json()
        assert refused["ok"] is False
        assert refused["refused"] == ["nobody@example.com"]
    assert starttls_server.messages == []


def test_bad_input_names_the_field(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        cases = [
            ({"host": "mail.example.com:587", "sender": "wi@example.com"}, "host", "port"),
            ({"host": "mail.example.com", "sender": "WI <wi@example>"}, "sender",
             "name@example.com"),
            ({"host": "mail.example.com", "sender": "wi@example.com", "security": "ssl"},
             "security", "starttls"),
            ({"host": "mail.example.com", "sender": "wi@example.com", "password": "x"},
             "username", "user name"),
            ({"host": "mail.example.com", "sender": "wi@example.com", "port": 0}, "port", ""),
        ]
        for body, field, words in cases:
            answer = api.put("/api/v1/smtp", json=body)
            assert answer.status_code == 422, (body, answer.text)
            detail = answer.json()["detail"]
            assert any(e["loc"][-1] == field and words in e["msg"] for e in detail), detail
        bad_to = api.post("/api/v1/smtp/test", json={"to": "not an address"})
        assert bad_to.status_code == 422
        assert bad_to.json()["detail"][0]["loc"] == ["body", "to"]
        unsaved = api.post("/api/v1/smtp/test", json={"to": "a@example.com"})
        assert unsaved.status_code == 404
        assert "not configured" in unsaved.json()["detail"]


def test_viewer_reads_but_cannot_change(live_wi: LiveWI) -> None:
    with live_wi.client(live_wi.viewer_token) as api:
        assert api.get("/api/v1/smtp").status_code == 200
        body = {"host": "mail.example.com", "sender": "wi@example.com"}
        assert api.put("/api/v1/smtp", json=body).status_code == 403
        assert api.post("/api/v1/smtp/test", json={"to": "a@example.com"}).status_code == 403


def test_cli_set_show_test(tmp_path: Path, starttls_server: MailServer) -> None:
    data = tmp_path / "data"
    ca = tmp_path / "ca.pem"
    ca.write_text(starttls_server.ca_pem)
    result = run_wi(data, "smtp", "set", "--host", "127.0.0.1", "--port",
                    str(starttls_server.port), "--security", "starttls", "--verify",
                    "certificate", "--certificate", str(ca), "--user", SMTP_USER,
                    "--password", "-", "--sender", "wi@example.com",
                    stdin=SMTP_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "password: ********" in result.stdout
    shown = run_wi(data, "smtp", "show")
    assert f"port: {starttls_server.port}" in shown.stdout
    assert SMTP_PASSWORD not in shown.stdout + shown.stderr
    # Changing one option keeps the others, the password included.
    changed = run_wi(data, "smtp", "set", "--sender", "alerts@example.com")
    assert changed.returncode == 0, changed.stderr
    sent = run_wi(data, "smtp", "test", "--to", "oncall@example.com")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("OK sent to oncall@example.com")
    assert starttls_server.messages[-1].mail_from == "alerts@example.com"
    bad = run_wi(data, "smtp", "set", "--sender", "nope")
    assert bad.returncode == 2
    assert "sender:" in bad.stderr
    failing = run_wi(data, "smtp", "set", "--password", "wrong")
    assert failing.returncode == 0
    refused = run_wi(data, "smtp", "test", "--to", "oncall@example.com")
    assert refused.returncode == 1
    assert "FAILED" in refused.stdout and "refused the login" in refused.stdout

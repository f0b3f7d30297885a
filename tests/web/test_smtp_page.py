"""The Mail page: save the mail server and send a test e-mail, as a signed-in admin."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.servers.smtp import SMTP_PASSWORD, SMTP_USER, MailServer, mail_server
from tests.web.conftest import csrf_of


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    with mail_server("starttls") as server:
        yield server


def _form(server: MailServer, **overrides: str) -> dict[str, str]:
    form = {
        "host": "127.0.0.1", "port": str(server.port), "security": "starttls",
        "verify_certificate": "certificate", "certificate": server.ca_pem,
        "username": SMTP_USER, "password": SMTP_PASSWORD, "sender": "wi@example.com",
        "timeout_seconds": "10", "to": "oncall@example.com",
    }
    form.update(overrides)
    return form


def test_send_test_email_then_save(admin_client: httpx2.Client, smtp_server: MailServer) -> None:
    page = admin_client.get("/smtp")
    assert page.status_code == 200
    assert 'href="/smtp"' in page.text  # in the menu
    csrf = csrf_of(page.text)
    # Unsaved settings, as typed, are what the test uses.
    tested = admin_client.post("/smtp/test", data={**_form(smtp_server), "csrf_token": csrf})
    assert tested.status_code == 200
    assert "Test e-mail sent" in tested.text
    assert SMTP_PASSWORD not in tested.text
    assert smtp_server.messages[-1].rcpt_tos == ["oncall@example.com"]
    saved = admin_client.post("/smtp", data={**_form(smtp_server), "csrf_token": csrf})
    assert saved.status_code == 303
    shown = admin_client.get(saved.headers["location"])
    assert "Saved the mail server settings." in shown.text
    assert "Stored and hidden" in shown.text
    assert SMTP_PASSWORD not in shown.text
    # An empty password box keeps the stored password.
    again = admin_client.post("/smtp/test", data={
        **_form(smtp_server, password="", to="second@example.com"), "csrf_token": csrf})
    assert "Test e-mail sent" in again.text
    assert smtp_server.messages[-1].rcpt_tos == ["second@example.com"]


def test_errors_next_to_fields_and_failures_shown(
    admin_client: httpx2.Client, smtp_server: MailServer
) -> None:
    csrf = csrf_of(admin_client.get("/smtp").text)
    bad = admin_client.post("/smtp", data={
        **_form(smtp_server, sender="nobody"), "csrf_token": csrf})
    assert bad.status_code == 422
    assert 'id="err-sender"' in bad.text
    assert 'value="127.0.0.1"' in bad.text  # what was typed stays
    wrong = admin_client.post("/smtp/test", data={
        **_form(smtp_server, password="wrong-password"), "csrf_token": csrf})
    assert "Test e-mail failed" in wrong.text
    assert "refused the login" in wrong.text


def test_viewer_is_refused(viewer_client: httpx2.Client) -> None:
    assert viewer_client.get("/smtp").status_code == 403
    assert 'href="/smtp"' not in viewer_client.get("/servers").text

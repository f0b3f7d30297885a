"""The Audit page: a change made in the UI is recorded as the signed-in user, and the
page (admins only, in the menu) shows it with secrets masked."""

from __future__ import annotations

import httpx2

from tests.foundation.test_audit import raw_log
from tests.web.conftest import WebUsers, csrf_of
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.store.audit import AuditFilter


def test_a_ui_change_is_recorded_as_the_signed_in_user(
    web: WebUsers, admin_client: httpx2.Client, viewer_client: httpx2.Client
) -> None:
    token = csrf_of(admin_client.get("/smtp").text)
    saved = admin_client.post("/smtp", data={
        "csrf_token": token, "host": "mail.example.com", "port": "", "security": "starttls",
        "verify_certificate": "enable", "certificate": "", "username": "wi",
        "password": "smtp-password-42", "sender": "wi@example.com", "timeout_seconds": "30",
    })
    assert saved.status_code in (200, 303), saved.text
    records = web.live.services.audit.list(AuditFilter(limit=1000))
    smtp = next(r for r in records if r["subject_kind"] == "smtp")
    assert (smtp["actor"], smtp["actor_kind"], smtp["address"]) == ("alice", "user",
                                                                    "127.0.0.1")
    assert smtp["changes"]["host"] == [None, "mail.example.com"]
    assert smtp["changes"]["password"] == [None, MASK]
    assert "smtp-password-42" not in raw_log(web.live)
    page = admin_client.get("/audit", params={"kind": "smtp"})
    assert page.status_code == 200
    assert "alice" in page.text and "mail.example.com" in page.text
    assert "smtp-password-42" not in page.text
    assert 'href="/audit"' in page.text  # the nav entry, for admins
    refused = viewer_client.get("/audit")
    assert refused.status_code == 403
    assert 'href="/audit"' not in viewer_client.get("/servers").text

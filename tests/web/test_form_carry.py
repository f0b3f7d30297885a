"""Secrets a form carries are sealed with their own expiring key, bound to their field."""

from __future__ import annotations

import re

import httpx2
import pytest
from sqlalchemy import select

from tests.web.conftest import WebUsers, csrf_of
from workflow_integrator.store.secretbox import FORM_SEAL_SECONDS, SecretBox, new_key
from workflow_integrator.store.servers import OutboundServerRow


class Clock:
    def __init__(self) -> None:
        self.seconds = 1_800_000_000.0

    def __call__(self) -> float:
        return self.seconds


def test_form_seal_opens_only_for_its_field_and_only_while_fresh() -> None:
    clock = Clock()
    box = SecretBox([new_key()], now=clock)
    sealed = box.seal_for_form("typed-secret", "basic_password")
    assert box.open_from_form(sealed, "basic_password") == "typed-secret"
    with pytest.raises(ValueError, match="for this field"):
        box.open_from_form(sealed, "client_secret")
    stored = box.encrypt("a stored secret", "outbound_servers/1/secrets")  # at-rest key
    with pytest.raises(ValueError):
        box.open_from_form(stored, "basic_password")
    clock.seconds += FORM_SEAL_SECONDS + 1
    with pytest.raises(ValueError, match="expired"):
        box.open_from_form(sealed, "basic_password")


def _form(token: str, name: str, **extra: str) -> dict[str, str]:
    return {"csrf_token": token, "name": name, "host": "itsm.example.com",
            "protocol": "https", "headers": "Content-Type: application/json",
            "verify_certificate": "disable", "auth_method": "basic",
            "basic_username": "wi", **extra}


def test_a_stored_ciphertext_pasted_into_a_carried_field_is_not_a_secret(
    web: WebUsers, admin_client: httpx2.Client
) -> None:
    token = csrf_of(admin_client.get("/servers/new").text)
    saved = admin_client.post("/servers/new",
                              data=_form(token, "alpha", basic_password="alpha-secret"))
    assert saved.status_code == 303
    with web.live.services.sessions() as session:
        stored = session.scalar(select(OutboundServerRow.secrets)
                                .where(OutboundServerRow.name == "alpha"))
    assert stored
    # A failed save shows the dialog again; its carried field now holds the stored value.
    failed = admin_client.post("/servers/new", data=_form(
        token, "beta", basic_password="********", carried_basic_password=stored,
        host="bad host"))
    assert failed.status_code == 422
    assert not re.search(r'name="carried_basic_password"', failed.text)
    pasted = admin_client.post("/servers/new", data=_form(
        token, "beta", basic_password="********", carried_basic_password=stored))
    assert pasted.status_code == 422  # the password counts as not typed
    assert "alpha-secret" not in pasted.text

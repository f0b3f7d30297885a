"""The Outbound Server Configuration dialog's fields, and their API document.

One table says which input holds which field of the API document, so the dialog,
Save, Fetch Token (whose script reads ``data-path``) and error placement agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workflow_integrator.domain.headers import DEFAULT_HEADERS, HeaderError, parse_headers
from workflow_integrator.domain.redaction import (
    MASK,
    keep_masked_headers,
    redact_header_text,
)


@dataclass(frozen=True)
class AuthChoice:
    """One entry of the method selector: its inputs and what they map to."""

    key: str
    label: str
    method: str
    grant_type: str | None
    fields: tuple[str, ...]


AUTH_CHOICES: tuple[AuthChoice, ...] = (
    AuthChoice("basic", "Basic", "basic", None, ("username", "password")),
    AuthChoice(
        "oauth2_password",
        "OAuth 2.0 · Resource Owner Password Credentials",
        "oauth2",
        "password",
        ("token_url", "username", "password", "client_id", "client_secret", "scope", "client_auth"),
    ),
    AuthChoice(
        "oauth2_refresh_token",
        "OAuth 2.0 · Refresh Token",
        "oauth2",
        "refresh_token",
        ("token_url", "refresh_token", "client_id", "client_secret", "scope", "client_auth"),
    ),
    AuthChoice(
        "bearer",
        "Bearer Token",
        "bearer",
        None,
        ("token", "token_script", "token_script_timeout_seconds", "token_script_ttl_seconds"),
    ),
    AuthChoice("none", "None", "none", None, ()),
)
SECRET_FIELDS = frozenset({"password", "client_secret", "refresh_token", "token"})
SERVER_FIELDS = (
    "name",
    "host",
    "protocol",
    "headers",
    "verify_certificate",
    "certificate",
    "proxy",
)
ADVANCED_FIELDS = ("timeout_seconds", "max_concurrency")
SERVER_TAB_FIELDS = frozenset(
    {*SERVER_FIELDS, *ADVANCED_FIELDS, "enabled", "client_certificate", "client_key",
     "secret_headers"}
)


LABELS = {
    "name": "Outbound name",
    "host": "Outbound Host",
    "protocol": "Protocol",
    "headers": "HTTP headers",
    "secret_headers": "Secret header names",
    "verify_certificate": "Verify certificate",
    "certificate": "Certificate",
    "proxy": "Proxy server",
    "timeout_seconds": "Timeout",
    "max_concurrency": "Parallel requests",
    "enabled": "Enabled",
    "client_certificate": "Client certificate",
    "client_key": "Client private key",
    "auth_method": "Authentication method",
    "username": "Login user name",
    "password": "Login password",
    "token_url": "Access Token URL",
    "client_id": "Client ID",
    "client_secret": "Client Secret",
    "scope": "Scope",
    "client_auth": "Client authentication",
    "refresh_token": "Refresh Token",
    "token": "Token",
    "token_script": "Token Script",
    "token_script_timeout_seconds": "Script timeout",
    "token_script_ttl_seconds": "Script re-run interval",
}


def label_of(input_id: str) -> str:
    """The label a user sees for a dialog input (``oauth_client_id`` → Client ID)."""
    if input_id in LABELS:
        return LABELS[input_id]
    _, _, field = input_id.partition("_")
    return LABELS.get(field, input_id)


def input_name(method: str, grant_type: str | None, field: str) -> str:
    """The form input of an auth field: ``basic_username``, ``oauth_token_url``..."""
    prefix = "oauth" if method == "oauth2" else method
    return f"{prefix}_{field}"


SECRET_INPUTS: frozenset[str] = frozenset(
    input_name(choice.method, choice.grant_type, field)
    for choice in AUTH_CHOICES
    for field in choice.fields
    if field in SECRET_FIELDS
)
"""Every password-type input of the dialog."""
CARRIED_PREFIX = "carried_"


def carry_secrets(
    values: dict[str, str], encrypt: Callable[[str, str], str]
) -> dict[str, str]:
    """For re-showing the dialog: typed secrets become the mask plus their ciphertext.

    The browser never gets a typed secret back in clear, yet need not type it again.
    ``encrypt(value, field)`` seals for that field (``SecretBox.seal_for_form``).
    """
    carried = {k: v for k, v in values.items() if not k.startswith(CARRIED_PREFIX)}
    for name in (*SECRET_INPUTS, "client_key"):
        value = carried.get(name, "")
        if value and value != MASK:
            carried[name] = MASK
            carried[CARRIED_PREFIX + name] = encrypt(value, name)
        elif value == MASK and values.get(CARRIED_PREFIX + name):
            carried[CARRIED_PREFIX + name] = values[CARRIED_PREFIX + name]
    headers = carried.get("headers", "")
    try:
        parse_headers(headers)
        shown = redact_header_text(headers, _names(carried.get("secret_headers", "")))
    except HeaderError:
        shown = headers  # unreadable: it goes back as typed, to be corrected
    if shown != headers:
        # Typed secret header values go back masked, their text sealed like other secrets.
        carried["headers"] = shown
        carried[CARRIED_PREFIX + "headers"] = encrypt(headers, "headers")
    elif values.get(CARRIED_PREFIX + "headers"):
        carried[CARRIED_PREFIX + "headers"] = values[CARRIED_PREFIX + "headers"]
    return carried


def restore_secrets(
    values: dict[str, str], decrypt: Callable[[str, str], str]
) -> dict[str, str]:
    """Undo :func:`carry_secrets` for inputs still showing the mask."""
    restored = {k: v for k, v in values.items() if not k.startswith(CARRIED_PREFIX)}
    for name in (*SECRET_INPUTS, "client_key"):
        sealed = values.get(CARRIED_PREFIX + name)
        if sealed and restored.get(name) == MASK:
            try:
                restored[name] = decrypt(sealed, name)
            except (RuntimeError, ValueError):  # a tampered value counts as not typed
                restored[name] = ""
    sealed = values.get(CARRIED_PREFIX + "headers")
    if sealed:
        try:
            typed = decrypt(sealed, "headers")
            restored["headers"] = keep_masked_headers(restored.get("headers", ""), typed)
        except (RuntimeError, ValueError):  # tampered, or a mask with nothing typed behind it
            pass  # the service keeps saved values or names the header
    return restored


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def auth_choice(method: str | None, grant_type: str | None) -> AuthChoice:
    """The selector entry for a method (and OAuth grant type)."""
    for choice in AUTH_CHOICES:
        if choice.method == method and (choice.grant_type in (None, grant_type or "password")):
            return choice
    return AUTH_CHOICES[0]


def blank_values() -> dict[str, str]:
    """The dialog of a new server: the seed's defaults."""
    return {
        "name": "",
        "host": "",
        "protocol": "https",
        "headers": DEFAULT_HEADERS,
        "secret_headers": "",
        "verify_certificate": "disable",
        "certificate": "",
        "proxy": "",
        "timeout_seconds": "30",
        "max_concurrency": "8",
        "enabled": "on",
        "auth_method": "basic",
        "oauth_grant_type": "password",
        "oauth_client_auth": "client_secret_basic",
    }


def values_from_document(doc: Mapping[str, Any]) -> dict[str, str]:
    """Form values of a saved server (its masked API document)."""
    values = blank_values()
    for field in (*SERVER_FIELDS, *ADVANCED_FIELDS):
        value = doc.get(field)
        values[field] = "" if value is None else _text(value)
    values["enabled"] = "on" if doc.get("enabled", True) else ""
    values["secret_headers"] = ", ".join(doc.get("secret_headers") or [])
    values["client_certificate"] = doc.get("client_certificate") or ""
    values["client_key"] = doc.get("client_key") or ""
    auth = doc.get("auth") or {}
    choice = auth_choice(auth.get("method"), auth.get("grant_type"))
    values["auth_method"] = "oauth2" if choice.method == "oauth2" else choice.method
    if choice.grant_type:
        values["oauth_grant_type"] = choice.grant_type
    for field in choice.fields:
        value = auth.get(field)
        values[input_name(choice.method, choice.grant_type, field)] = (
            "" if value is None else _text(value)
        )
    return values


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def document_from_form(form: Mapping[str, str], base: Mapping[str, Any] | None) -> dict[str, Any]:
    """The API document the dialog describes, over ``base`` (the saved server, masked).

    Fields the dialog does not show (mutual TLS, script timeouts) come from ``base``
    so that saving the dialog never drops them; secrets left as the mask are kept
    by the service.
    """
    doc: dict[str, Any] = dict(base or {})
    for field in SERVER_FIELDS:
        doc[field] = form.get(field, "")
    for field in ("certificate", "proxy"):
        if not str(doc[field]).strip() or (
            field == "certificate" and doc["verify_certificate"] != "certificate"
        ):
            doc[field] = None
    for field in ADVANCED_FIELDS:
        raw = form.get(field, "").strip()
        if raw:
            doc[field] = raw
        else:
            doc.pop(field, None)
    doc["enabled"] = form.get("enabled") == "on"
    doc["secret_headers"] = _names(form.get("secret_headers", ""))
    client_certificate = form.get("client_certificate", "").strip()
    doc["client_certificate"] = client_certificate or None
    # A masked key without a certificate is dropped by the service (clearing removes mTLS).
    doc["client_key"] = form.get("client_key", "").strip() or None
    for readonly in (
        "base_url",
        "certificate_info",
        "state",
        "state_reason",
        "warnings",
        "revision",
        "created_at",
        "updated_at",
    ):
        doc.pop(readonly, None)
    method = form.get("auth_method", "basic")
    grant = form.get("oauth_grant_type", "password") if method == "oauth2" else None
    choice = auth_choice(method, grant)
    base_auth = dict((base or {}).get("auth") or {})
    same_kind = base_auth.get("method") == choice.method and (
        choice.method != "oauth2" or base_auth.get("grant_type", "password") == choice.grant_type
    )
    auth: dict[str, Any] = base_auth if same_kind else {}
    auth["method"] = choice.method
    if choice.grant_type:
        auth["grant_type"] = choice.grant_type
    for field in choice.fields:
        raw = form.get(input_name(choice.method, choice.grant_type, field), "")
        if field in SECRET_FIELDS:
            auth[field] = raw if raw else None
        elif field in ("scope", "token_script", "token_script_ttl_seconds"):
            auth[field] = raw.strip() or None
        elif field == "token_script_timeout_seconds":
            if raw.strip():
                auth[field] = raw.strip()
            else:
                auth.pop(field, None)
        else:
            auth[field] = raw.strip()
    doc["auth"] = auth
    return doc


def field_of(loc: list[Any], form: Mapping[str, str]) -> str | None:
    """The input an error location ``loc`` belongs to, or None for the whole form."""
    parts = [part for part in loc if part != "body"]
    if not parts:
        return None
    head = str(parts[0])
    if head == "auth":
        method = form.get("auth_method", "basic")
        if len(parts) < 2 or str(parts[1]) in ("method", "grant_type"):
            return "auth_method"
        grant = form.get("oauth_grant_type", "password") if method == "oauth2" else None
        return input_name(method, grant, str(parts[1]))
    if head in SERVER_TAB_FIELDS:
        return head
    return None

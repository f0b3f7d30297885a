"""The OAuth 2.0 token request (RFC 6749 §4.3 and §6) and the reading of its answer."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from workflow_integrator.domain.headers import token_flaw
from workflow_integrator.domain.outbound_server import OAuth2PasswordAuth, OAuth2RefreshTokenAuth
from workflow_integrator.outbound.errors import OutboundError, classify, describe

OAuth2Config = OAuth2PasswordAuth | OAuth2RefreshTokenAuth


@dataclass(frozen=True)
class TokenResponse:
    """A successful token endpoint answer (RFC 6749 §5.1)."""

    access_token: str
    token_type: str
    expires_in: int | None
    scope: str | None
    refresh_token: str | None

    def __repr__(self) -> str:  # never print the tokens
        return (
            f"TokenResponse(token_type={self.token_type!r}, expires_in={self.expires_in!r}, "
            f"scope={self.scope!r}, refresh_token={'set' if self.refresh_token else None})"
        )


def _client_basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def grant_form(config: OAuth2Config, *, refresh_token: str | None) -> dict[str, str]:
    """The form fields of a token request: the refresh grant when a refresh token is given."""
    if refresh_token is not None:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    elif isinstance(config, OAuth2PasswordAuth):
        form = {
            "grant_type": "password",
            "username": config.username,
            "password": config.password.get_secret_value() if config.password else "",
        }
    else:
        raise ValueError("a refresh-token grant needs a refresh token")
    if config.scope:
        form["scope"] = config.scope
    return form


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _oauth_failure(response: httpx2.Response, body: Any) -> OutboundError:
    error = str(body.get("error")) if isinstance(body, dict) and body.get("error") else None
    description = body.get("error_description") if isinstance(body, dict) else None
    description = str(description)[:500] if description else None
    where = _endpoint(str(response.request.url))
    if error:
        hints = {
            "invalid_client": "check the client ID, the client secret and the client "
            "authentication method (client_secret_basic or client_secret_post)",
            "invalid_grant": "the user name/password or refresh token was refused "
            "(wrong, expired or revoked)",
            "unauthorized_client": "this client may not use this grant type; ask the "
            "server's administrator to allow it",
            "invalid_scope": "the scope is not accepted; correct or clear it",
            "unsupported_grant_type": "the server does not support this grant type",
        }
        hint = hints.get(error, "see the error description")
        return OutboundError(
            "oauth_error",
            f"the token endpoint {where} answered {response.status_code} with OAuth error "
            f"'{error}': {hint}",
            status=response.status_code,
            oauth_error=error,
            oauth_error_description=description,
        )
    return OutboundError(
        "http",
        f"the token endpoint {where} answered HTTP {response.status_code} "
        f"{response.reason_phrase} without an OAuth error; check the Access Token URL",
        status=response.status_code,
    )


def parse_token_response(response: httpx2.Response) -> TokenResponse:
    """Read a token endpoint answer, raising ``OutboundError`` with the stage on failure."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if response.status_code != 200:
        raise _oauth_failure(response, body)
    where = _endpoint(str(response.request.url))
    if not isinstance(body, dict):
        kind = response.headers.get("content-type", "no content type")
        raise OutboundError(
            "parse",
            f"the token endpoint {where} answered 200 but not with a JSON object ({kind}); "
            "check the Access Token URL",
            status=200,
        )
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise OutboundError(
            "parse", f"the token endpoint {where} answered 200 without an access_token", status=200
        )
    flaw = token_flaw(access)
    if flaw is not None:
        raise OutboundError(
            "parse",
            f"the token endpoint {where} issued an access token that cannot be sent as "
            f"'Authorization: Bearer <token>' ({flaw})",
            status=200,
        )
    token_type = str(body.get("token_type") or "Bearer")
    if token_type.lower() != "bearer":
        raise OutboundError(
            "parse",
            f"the token endpoint {where} issued a '{token_type}' token; WI sends Bearer tokens",
            status=200,
        )
    expires = body.get("expires_in")
    try:
        expires_in = int(expires) if expires is not None else None
    except (TypeError, ValueError):
        raise OutboundError(
            "parse", f"the token endpoint {where} sent expires_in={expires!r}, not a number"
        ) from None
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return TokenResponse(
        access_token=access,
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=expires_in,
        scope=str(scope) if scope else None,
        refresh_token=str(refresh) if refresh else None,
    )


async def request_token(
    client: httpx2.AsyncClient,
    config: OAuth2Config,
    *,
    refresh_token: str | None = None,
    via_proxy: str | None = None,
) -> TokenResponse:
    """POST one token request through ``client`` (the server's TLS, proxy and timeout)."""
    form = grant_form(config, refresh_token=refresh_token)
    headers = {"Accept": "application/json"}
    secret = config.client_secret.get_secret_value() if config.client_secret else ""
    if config.client_auth == "client_secret_basic":
        headers["Authorization"] = _client_basic(config.client_id, secret)
    else:
        form["client_id"] = config.client_id
        form["client_secret"] = secret
    try:
        response = await client.post(config.token_url, data=form, headers=headers)
    except httpx2.HTTPError as exc:
        target = _endpoint(config.token_url)
        raise OutboundError(
            classify(exc, via_proxy=via_proxy is not None),
            "token endpoint: " + describe(exc, target=target, via_proxy=via_proxy),
        ) from None
    if response.status_code == 407 and via_proxy is not None:
        raise OutboundError(
            "proxy",
            f"the proxy {via_proxy} asks for credentials (407) on the way to the token "
            "endpoint; check the proxy user name and password",
            status=407,
        )
    return parse_token_response(response)

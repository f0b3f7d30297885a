"""Browser sessions, CSRF protection and security headers for the web UI (ASGI middleware).

A signed-in browser carries the ``wi_session`` cookie. Every state-changing request
made with that cookie (UI forms, htmx calls and API calls alike) must carry the
session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf_token`` form field,
and, when the browser sends an ``Origin``, come from this site. Requests with an API
token (``Authorization: Bearer``) are not cookie-borne and are left to the API.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_integrator.services.audit import Actor, set_actor
from workflow_integrator.services.users import SignedIn, UserService

SESSION_COOKIE = "wi_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/sign-in", "/static/", "/healthz", "/readyz", "/favicon.ico")
"""Reachable without signing in."""
NOT_UI_PREFIXES = ("/api/", "/openapi.json", "/metrics")
"""Served by the API, which has its own authentication (API tokens). A new endpoint
outside ``/api/`` that machines call (metrics, webhooks) must be added here."""
API_DOCS_PAGES = ("/docs",)
"""The API documentation: a UI page (sign-in required) that also opens with an API
token. Served from WI's own files under the same content security policy."""

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        b"form-action 'self'; base-uri 'self'; object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def session_cookie(scope: Scope) -> str | None:
    """The ``wi_session`` cookie of a request, if any."""
    raw = Headers(scope=scope).get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def is_https(scope: Scope) -> bool:
    """Whether the browser reached WI over HTTPS (directly or via a trusted proxy)."""
    return scope.get("scheme") == "https"


class WebSessionMiddleware:
    """Resolves the session cookie into ``request.state.principal`` and guards writes."""

    def __init__(self, app: ASGIApp, users: UserService, max_body_bytes: int) -> None:
        self.app = app
        self.users = users
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        is_ui = not path.startswith(NOT_UI_PREFIXES)
        signed: SignedIn | None = None
        token = session_cookie(scope)
        # Static files are public: no database lookup for each of them.
        if token and not headers.get("authorization") and not path.startswith("/static/"):
            signed = await anyio.to_thread.run_sync(self.users.resume, token)
        state: dict[str, Any] = scope.setdefault("state", {})
        if signed is not None:
            state["principal"] = signed.principal
            client = scope.get("client")
            # Changes made by this request are recorded as this user's (audit log).
            set_actor(Actor(signed.principal.name, "user", client[0] if client else None))
            state["csrf_token"] = signed.csrf_token
            state["session_token"] = token

        if signed is not None and scope["method"] not in SAFE_METHODS:
            problem, receive = await self._check_csrf(scope, headers, receive, signed)
            if problem:
                status = 413 if problem.startswith("request body is larger") else 403
                await _reject(send, status, problem, is_ui)
                return

        # The API documentation also opens with an API token (checked by its route).
        token_for_docs = path.startswith(API_DOCS_PAGES) and bool(headers.get("authorization"))
        if is_ui and signed is None and not path.startswith(PUBLIC_PREFIXES) and not token_for_docs:
            await _to_sign_in(scope, headers, send)
            return

        if not is_ui:
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in extra:
                        extra.append(name.decode(), value.decode())
                if signed is not None:
                    # Pages show what a signed-in user may see: never from a shared cache.
                    extra["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _check_csrf(
        self, scope: Scope, headers: Headers, receive: Receive, signed: SignedIn
    ) -> tuple[str | None, Receive]:
        origin = headers.get("origin")
        if origin and origin != "null":
            host = headers.get("host", "")
            if urlsplit(origin).netloc != host:
                return f"cross-site request refused (Origin {origin} is not {host})", receive
        presented = headers.get(CSRF_HEADER)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if presented is None and content_type == "application/x-www-form-urlencoded":
            body = b""
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if len(body) > self.max_body_bytes:
                    return f"request body is larger than {self.max_body_bytes} bytes", receive
                more = bool(message.get("more_body"))
            values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [])
            presented = values[0] if values else None
            receive = _replay(body)
        # Compared as bytes: compare_digest refuses non-ASCII text instead of saying "no".
        if not presented or not hmac.compare_digest(presented.encode(), signed.csrf_token.encode()):
            return (
                "the form's security token is missing or out of date (CSRF check); "
                "reload the page and try again",
                receive,
            )
        return None, receive


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _reject(send: Send, status: int, message: str, html: bool) -> None:
    if html:
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Refused</title>"
            f"<h1>Request refused</h1><p role=alert>{_escape(message)}</p>"
            '<p><a href="/servers">Back to Workflow Integrator</a></p></html>'
        ).encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": message}).encode()
        kind = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _to_sign_in(scope: Scope, headers: Headers, send: Send) -> None:
    target = scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    location = "/sign-in" if target in ("/", "") else f"/sign-in?next={quote(target, safe='')}"
    response_headers = [(b"location", location.encode()), *SECURITY_HEADERS]
    if headers.get("hx-request"):
        # htmx follows HX-Redirect with a full page load instead of swapping a fragment.
        response_headers.append((b"hx-redirect", location.encode()))
    status = 303
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": b""})


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )

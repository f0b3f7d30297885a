"""The delivery benchmark's receiver, run in its own process:
``python -m uvicorn bench.receiver:app --port N``.

An "ITSM" taking OAuth 2.0: ``POST /oauth/token`` (password grant) issues bearer tokens
living ``BENCH_TOKEN_SECONDS`` (default 3600); every other POST needs a token it issued
and answers 201 with a ticket number. ``GET /stats`` says how many tokens were issued and
requests accepted (the benchmark counts token endpoint calls with it).
"""

from __future__ import annotations

import itertools
import os
import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

USER, PASSWORD = "wi", "pw-0123456789"
CLIENT_ID, CLIENT_SECRET = "wi-bench", "cs-0123456789"
TOKEN_SECONDS = int(os.environ.get("BENCH_TOKEN_SECONDS", "3600"))

_tokens: set[str] = set()
_counts = {"token_calls": 0, "accepted": 0, "refused": 0}
_numbers = itertools.count(1)


async def token(request: Request) -> Response:
    """The token endpoint: a password grant with the benchmark's user and client."""
    _counts["token_calls"] += 1
    form = await request.form()
    if (form.get("grant_type") != "password" or form.get("username") != USER
            or form.get("password") != PASSWORD or not _client_ok(request, form)):
        return JSONResponse({"error": "invalid_grant"}, 400)
    value = secrets.token_urlsafe(24)
    _tokens.add(value)
    return JSONResponse({"access_token": value, "token_type": "Bearer",
                         "expires_in": TOKEN_SECONDS})


def _client_ok(request: Request, form: object) -> bool:
    # Client credentials may come in the form or as HTTP Basic; both are accepted.
    get = getattr(form, "get", None)
    if get is not None and get("client_id") == CLIENT_ID:
        return bool(get("client_secret") == CLIENT_SECRET)
    return request.headers.get("authorization", "").lower().startswith("basic ")


async def receive(request: Request) -> Response:
    """Read the body and acknowledge it, as a ticketing system's create call would."""
    await request.body()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or value not in _tokens:
        _counts["refused"] += 1
        return JSONResponse({"error": "invalid_token"}, 401)
    _counts["accepted"] += 1
    return Response(f'{{"result": {{"number": "INC{next(_numbers):07d}"}}}}'.encode(), 201,
                    media_type="application/json")


async def stats(_: Request) -> Response:
    """Token endpoint calls and accepted requests so far."""
    return JSONResponse(_counts)


async def ready(_: Request) -> Response:
    """Answers once the process is up."""
    return Response(b"ok")


app = Starlette(routes=[
    Route("/ready", ready),
    Route("/stats", stats),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/{path:path}", receive, methods=["POST", "PUT", "PATCH"]),
])

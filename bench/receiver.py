"""A minimal receiver for the delivery benchmark, run in its own process:
``python -m uvicorn bench.receiver:app --port N``. It answers every request 201."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def receive(request: Request) -> Response:
    """Read the body and acknowledge it, as a ticketing system's create call would."""
    await request.body()
    return Response(b'{"result": {"number": "INC0000001"}}', 201,
                    media_type="application/json")


async def ready(_: Request) -> Response:
    """Answers once the process is up."""
    return Response(b"ok")


app = Starlette(routes=[
    Route("/ready", ready),
    Route("/{path:path}", receive, methods=["POST", "PUT", "PATCH"]),
])

"""A receiver that records every request (headers as received) and answers by simple rules.

``wi demo`` puts it behind its sample ITSM; the test suite asserts on what it recorded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] | None


@dataclass
class Receiver:
    """A running receiver: its URL and what it received."""

    url: str
    port: int
    requests: list[Received] = field(default_factory=list)
    # Decides whether a request's Authorization is accepted (None: everything is).
    authorize: Callable[[str | None], bool] | None = None
    # Answers a request instead of the default rules (None: the rules below apply).
    respond: Callable[[Received], Response] | None = None
    in_flight: int = 0
    max_in_flight: int = 0  # most requests handled at the same moment
    # Answer every request with this status and these headers (None: as usual).
    answer: tuple[int, dict[str, str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        """``127.0.0.1:port`` as typed into the Outbound Host field."""
        return f"127.0.0.1:{self.port}"

    def clear(self) -> None:
        """Forget recorded requests and the authorisation rule."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0
        self.authorize = None
        self.answer = None
        self.respond = None

    def last(self) -> Received:
        """The newest request."""
        with self._lock:
            return self.requests[-1]


def recording_route(receiver: Receiver) -> Route:
    """A catch-all route that records each request into ``receiver`` and answers it."""

    async def record(request: Request) -> Response:
        body = await request.body()
        seen = Received(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            client=(request.client.host, request.client.port) if request.client else None,
        )
        with receiver._lock:
            receiver.requests.append(seen)
        _, sleep, millis = request.url.path.rpartition("/sleep/")
        if sleep and millis.isdigit():  # ".../sleep/100" answers after 100 ms
            with receiver._lock:
                receiver.in_flight += 1
                receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
            await asyncio.sleep(int(millis) / 1000)
            with receiver._lock:
                receiver.in_flight -= 1
        if receiver.respond is not None:
            return receiver.respond(seen)
        rule = receiver.authorize
        if rule is not None and not rule(request.headers.get("authorization")):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if receiver.answer is not None:
            status, headers = receiver.answer
            return JSONResponse({"status": "as asked"}, status_code=status, headers=headers)
        _head, marker, code = request.url.path.rpartition("/status/")
        if marker and code.isdigit():  # ".../status/503" answers 503 (?retry_after=N adds it)
            wait = request.query_params.get("retry_after")
            extra = {"Retry-After": wait} if wait else None
            return JSONResponse({"status": "as asked"}, status_code=int(code), headers=extra)
        if request.url.path.endswith("/echo"):  # like httpbin: the request's headers back
            return JSONResponse({"headers": dict(request.headers.items())})
        return JSONResponse({"received": request.url.path})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Route("/{path:path}", record, methods=methods)

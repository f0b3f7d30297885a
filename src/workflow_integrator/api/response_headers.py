"""Headers on every answer: ``nosniff``; ``no-store`` on API answers; HSTS over HTTPS."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths whose answers are API data (JSON holding what a token may read).
API_PREFIXES = ("/api/", "/openapi.json")
#: One year, the value HSTS preload lists ask for.
HSTS = "max-age=31536000; includeSubDomains"


class ResponseHeaders:
    """ASGI middleware adding the headers unless the route set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(API_PREFIXES)
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                if api:
                    # A shared cache or the browser's disk must not keep what a token read.
                    headers.setdefault("cache-control", "no-store")
                if https:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)

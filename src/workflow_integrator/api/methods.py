"""``OPTIONS`` and ``405 Method Not Allowed`` with the methods of the whole resource.

FastAPI keeps one route per method, and Starlette's 405 lists only the methods of
the first route whose path matched, so ``Allow`` on ``/api/v1/integrations`` said
``GET`` although ``POST`` works there too. This middleware answers ``OPTIONS`` with
every method of every route on the path, and puts the same list on each 405. A fixed
path answers 405 to a method it lacks instead of passing the request on to a route
with a parameter (so ``GET /api/v1/events/securechange`` is 405, not "bad event id").
So no server may be named ``fetch-token`` (the domain refuses it); a workflow named
``validate`` is not read, replaced or deleted by that name over the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def resource_methods(routes: Iterable[BaseRoute], path: str) -> tuple[set[str], bool]:
    """The methods of the resource at ``path``, and whether it is a fixed path.

    A fixed path (``/api/v1/events/securechange``) is its own resource, not a value of a
    parameter (``/api/v1/events/{event_id}``), as the OpenAPI document says.
    """
    # FastAPI includes routers lazily: their routes are reached through route contexts.
    matching = [route for route in iter_route_contexts(list(routes))
                if route.methods and route.path_regex is not None
                and route.path_regex.match(path)]
    fixed = [route for route in matching if "{" not in (route.path_format or "")]
    methods: set[str] = set()
    for route in fixed or matching:
        methods |= set(route.methods or ())
    return methods, bool(fixed)


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers on ``scope``'s path, and OPTIONS."""
    methods, _ = resource_methods(routes, scope["path"])
    return sorted(methods | {"OPTIONS"}) if methods else []


class AllowedMethods:
    """ASGI middleware: ``OPTIONS`` answers 204 with ``Allow``; a 405 gets the full ``Allow``."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allow = allowed_methods(self.routes(), scope)
            if allow:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(allow).encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
            await _not_found(send)
            return

        methods, fixed = resource_methods(self.routes(), scope["path"])
        if fixed and scope["method"] not in methods:
            # Not handed to a parameterised route that would read "securechange" as an id.
            await _not_allowed(send, sorted(methods | {"OPTIONS"}))
            return

        async def with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = allowed_methods(self.routes(), scope)
                if allow:
                    MutableHeaders(scope=message)["allow"] = ", ".join(allow)
            await send(message)

        await self.app(scope, receive, with_allow)


async def _not_allowed(send: Send, allow: list[str]) -> None:
    body = json.dumps({"detail": "Method Not Allowed"}).encode()
    await send({"type": "http.response.start", "status": 405,
                "headers": [(b"content-type", b"application/json"),
                            (b"allow", ", ".join(allow).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _not_found(send: Send) -> None:
    body = json.dumps({"detail": "Not Found"}).encode()
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

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
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    fixed: bool


class RouteMethods:
    """The methods of the resource at a path, worked out once per path.

    Walking every route and matching its pattern cost more than a third of a
    millisecond per request, on every request. The routes are fixed once the app
    serves, so the answer for a path is kept; should a route be added later, the
    table is built again.
    """

    #: Paths remembered at most: paths carry ids, so without a bound this would grow.
    CACHED_PATHS = 1024

    def __init__(self, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self._routes = routes
        self._version: tuple[int, ...] = ()
        self._table: list[_Route] = []
        self._by_path: OrderedDict[str, tuple[frozenset[str], bool]] = OrderedDict()

    def resource(self, path: str) -> tuple[frozenset[str], bool]:
        """The methods of the resource at ``path``, and whether it is a fixed path.

        A fixed path (``/api/v1/events/securechange``) is its own resource, not a value
        of a parameter (``/api/v1/events/{event_id}``), as the OpenAPI document says.
        """
        routes = list(self._routes())
        version = tuple(map(id, routes))
        if version != self._version:
            self._table = _table(routes)
            self._by_path.clear()
            self._version = version
        found = self._by_path.get(path)
        if found is None:
            found = _match(self._table, path)
            self._by_path[path] = found
            if len(self._by_path) > self.CACHED_PATHS:
                self._by_path.popitem(last=False)
        return found

    def allowed(self, path: str) -> list[str]:
        """Every method some route answers on ``path``, and OPTIONS."""
        methods, _ = self.resource(path)
        return sorted(methods | {"OPTIONS"}) if methods else []


def _table(routes: list[BaseRoute]) -> list[_Route]:
    # FastAPI includes routers lazily: their routes are reached through route contexts.
    return [_Route(route.path_regex, frozenset(route.methods),
                   "{" not in (route.path_format or ""))
            for route in iter_route_contexts(routes)
            if route.methods and route.path_regex is not None]


def _match(table: list[_Route], path: str) -> tuple[frozenset[str], bool]:
    matching = [route for route in table if route.pattern.match(path)]
    fixed = [route for route in matching if route.fixed]
    methods: set[str] = set()
    for route in fixed or matching:
        methods |= route.methods
    return frozenset(methods), bool(fixed)


class AllowedMethods:
    """ASGI middleware: ``OPTIONS`` answers 204 with ``Allow``; a 405 gets the full ``Allow``."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app = app
        self.methods = RouteMethods(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allow = self.methods.allowed(scope["path"])
            if allow:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(allow).encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
            await _not_found(send)
            return

        methods, fixed = self.methods.resource(scope["path"])
        if fixed and scope["method"] not in methods:
            # Not handed to a parameterised route that would read "securechange" as an id.
            await _not_allowed(send, sorted(methods | {"OPTIONS"}))
            return

        async def with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = self.methods.allowed(scope["path"])
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

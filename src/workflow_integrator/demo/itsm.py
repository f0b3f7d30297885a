"""A sample ITSM for ``wi demo``: an incident table behind an OAuth 2.0 token endpoint.

``POST /oauth/token`` issues tokens (password grant); ``POST /api/now/table/incident``
opens an incident and answers its number, ``PATCH .../incident/{number}`` changes it,
both only with a live bearer token. ``GET /`` shows what arrived, without credentials.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflow_integrator.demo.oauth import OAuthServer, token_endpoint
from workflow_integrator.demo.receiver import Received, Receiver, recording_route

INCIDENTS = "/api/now/table/incident"


@dataclass
class Itsm:
    """The ITSM's state: its token endpoint, what it received and the incidents opened."""

    oauth: OAuthServer
    receiver: Receiver = field(default_factory=lambda: Receiver(url="", port=0))
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(10001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_random_credentials(cls) -> Itsm:
        """An ITSM whose OAuth client and service user have fresh random secrets."""
        return cls(OAuthServer(client_id="wi-demo", client_secret=secrets.token_urlsafe(18),
                               username="wi-service", password=secrets.token_urlsafe(18)))

    def app(self) -> Starlette:
        """The ASGI app: token endpoint, the summary and the incident table."""
        self.receiver.respond = self._answer
        return Starlette(routes=[
            token_endpoint(self.oauth), Route("/", self._summary, methods=["GET"]),
            recording_route(self.receiver),
        ])

    def summary(self) -> dict[str, Any]:
        """What arrived: token requests, each API request (no headers) and the incidents."""
        with self.receiver._lock:
            seen = list(self.receiver.requests)
        with self._lock:
            incidents = [dict(i) for i in self.incidents.values()]
        return {
            "token_requests": self.oauth.token_requests,
            "requests": [{"method": r.method, "path": r.path, "body": _json(r.body)}
                         for r in seen],
            "incidents": incidents,
        }

    async def _summary(self, _: Request) -> Response:
        return JSONResponse(self.summary())

    def _answer(self, seen: Received) -> Response:
        if not self.oauth.accepts(seen.headers.get("authorization")):
            return JSONResponse({"error": "a valid bearer token is required"}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        body = _json(seen.body)
        fields = body if isinstance(body, dict) else {}
        if seen.method == "POST" and seen.path == INCIDENTS:
            with self._lock:
                number = f"INC{next(self._numbers):07d}"
                incident = {**fields, "number": number, "state": "New",
                            "opened_at": time.strftime("%Y-%m-%d %H:%M:%S")}
                self.incidents[number] = incident
            return JSONResponse({"result": incident}, 201)
        prefix, _, number = seen.path.rpartition("/")
        if prefix == INCIDENTS and seen.method in ("PATCH", "PUT", "GET"):
            with self._lock:
                found = self.incidents.get(number)
                if found is not None and seen.method != "GET":
                    found.update({k: v for k, v in fields.items() if k != "number"})
                answer = dict(found) if found is not None else None
            if answer is None:
                return JSONResponse({"error": f"no incident {number}"}, 404)
            return JSONResponse({"result": answer})
        return JSONResponse({"error": f"no such resource {seen.method} {seen.path}"}, 404)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")

"""The OAuth 2.0 token endpoint WI ships for ``wi demo``, served for the tests with fixed
credentials (the tests' outbound servers are configured with them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.applications import Starlette

from tests.servers.uvicorn_thread import ThreadServer, serve_restartable
from workflow_integrator.demo import oauth
from workflow_integrator.demo.oauth import token_endpoint

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "PASSWORD", "USERNAME", "OAuthServer",
           "run_oauth_server"]

CLIENT_ID = "wi-client"
CLIENT_SECRET = "client-secret-0123456789"
USERNAME = "wi-service"
PASSWORD = "user-password-9876543210"


@dataclass
class OAuthServer(oauth.OAuthServer):
    """The shipped endpoint's state, plus the running server the tests stop and start."""

    # ``server.stop()`` takes the endpoint down, ``start()`` brings it back.
    server: ThreadServer | None = None


@contextlib.contextmanager
def run_oauth_server(
    *, certfile: str | None = None, keyfile: str | None = None
) -> Iterator[OAuthServer]:
    """Run the token endpoint on 127.0.0.1 (HTTPS with the given certificate files)."""
    server = OAuthServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, username=USERNAME,
                         password=PASSWORD)
    with serve_restartable(Starlette(routes=[token_endpoint(server)]), certfile=certfile,
                           keyfile=keyfile) as running:
        server.server = running
        server.url = f"{'https' if certfile else 'http'}://127.0.0.1:{running.port}"
        yield server

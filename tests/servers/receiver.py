"""HTTP/HTTPS receivers that record every request (headers as received) for assertions.

The recording core ships with WI (``wi demo`` uses it); this serves it for the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.applications import Starlette

from tests.servers.uvicorn_thread import ThreadServer, serve_restartable
from workflow_integrator.demo import receiver as recording
from workflow_integrator.demo.receiver import Received, recording_route

__all__ = ["Received", "Receiver", "run_receiver"]


@dataclass
class Receiver(recording.Receiver):
    """The shipped recording receiver, plus the running server the tests stop and start."""

    # ``server.stop()`` takes the receiver down, ``start()`` brings it back.
    server: ThreadServer | None = None


@contextlib.contextmanager
def run_receiver(
    *, certfile: str | None = None, keyfile: str | None = None, client_ca: str | None = None
) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (HTTPS with the certificate files; mutual TLS with client_ca)."""
    scheme = "https" if certfile else "http"
    receiver = Receiver(url="", port=0)
    app = Starlette(routes=[recording_route(receiver)])
    with serve_restartable(app, certfile=certfile, keyfile=keyfile,
                           client_ca=client_ca) as running:
        receiver.server, receiver.port = running, running.port
        receiver.url = f"{scheme}://127.0.0.1:{running.port}"
        yield receiver

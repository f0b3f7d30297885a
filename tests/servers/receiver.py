"""HTTP/HTTPS receivers that record every request (headers as received) for assertions.

The recording core ships with WI (``wi demo`` uses it); this serves it for the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from starlette.applications import Starlette

from tests.servers.uvicorn_thread import serve
from workflow_integrator.demo.receiver import Received, Receiver, recording_route

__all__ = ["Received", "Receiver", "run_receiver"]


@contextlib.contextmanager
def run_receiver(
    *, certfile: str | None = None, keyfile: str | None = None, client_ca: str | None = None
) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (HTTPS with the certificate files; mutual TLS with client_ca)."""
    scheme = "https" if certfile else "http"
    receiver = Receiver(url="", port=0)
    app = Starlette(routes=[recording_route(receiver)])
    with serve(app, certfile=certfile, keyfile=keyfile, client_ca=client_ca) as port:
        receiver.port = port
        receiver.url = f"{scheme}://127.0.0.1:{port}"
        yield receiver

"""Run an ASGI app with uvicorn in a background thread on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadServer:
    """``app`` served in a thread on one port: :meth:`stop` takes it down (connections are
    refused) and :meth:`start` brings it back on the same port, as a server restarts."""

    def __init__(
        self,
        app: Any,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        client_ca: str | None = None,
    ) -> None:
        self.port = free_port()
        self._config = dict(
            app=app, host="127.0.0.1", port=self.port, log_level="warning",
            ssl_certfile=certfile, ssl_keyfile=keyfile, ssl_ca_certs=client_ca,
            ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
            lifespan="off", access_log=False,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether it is serving now."""
        return self._server is not None

    def start(self) -> None:
        """Serve (again); returns once the port accepts connections."""
        if self._server is not None:
            return
        server = uvicorn.Server(uvicorn.Config(**self._config))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving; connections to the port are refused until :meth:`start`."""
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None


@contextlib.contextmanager
def serve(
    app: Any,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_ca: str | None = None,
) -> Iterator[int]:
    """Serve ``app`` (HTTPS when a certificate is given; mutual TLS with ``client_ca``)."""
    with serve_restartable(app, certfile=certfile, keyfile=keyfile,
                           client_ca=client_ca) as server:
        yield server.port


@contextlib.contextmanager
def serve_restartable(
    app: Any,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_ca: str | None = None,
) -> Iterator[ThreadServer]:
    """Serve ``app`` until the block ends; the test may stop and start it meanwhile."""
    server = ThreadServer(app, certfile=certfile, keyfile=keyfile, client_ca=client_ca)
    server.start()
    try:
        yield server
    finally:
        server.stop()

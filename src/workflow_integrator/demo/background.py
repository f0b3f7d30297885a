"""An ASGI app served by uvicorn in a background thread, on a port it binds itself."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn


class BackgroundServer:
    """Serves ``app`` on ``host:port`` (0: any free port) until :meth:`stop`.

    With ``certfile`` and ``keyfile`` it speaks HTTPS. ``lifespan`` "on" runs the app's
    startup and shutdown (WI's delivery engine lives there).
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "server",
        certfile: str | None = None, keyfile: str | None = None,
        lifespan: Literal["on", "off"] = "off", **options: Any,
    ) -> None:
        self.name = name
        self.scheme = "https" if certfile else "http"
        self._host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise OSError(f"{name}: cannot listen on {host}:{port} ({exc.strerror})") from None
        self._socket.listen(128)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan=lifespan,
            ssl_certfile=certfile, ssl_keyfile=keyfile, **options,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port bound."""
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``scheme://host:port``."""
        return f"{self.scheme}://{self._host}:{self.port}"

    def start(self, timeout: float = 30) -> BackgroundServer:
        """Serve in a thread; returns once uvicorn has started (its lifespan included)."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=self.name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop serving (running the app's shutdown), wait for the thread, free the port."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        self._socket.close()

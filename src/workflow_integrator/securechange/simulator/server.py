"""Running the simulator: in a background thread (tests, demos) or in the foreground."""

from __future__ import annotations

import secrets
import socket
import threading
from pathlib import Path
from types import TracebackType

import uvicorn

from workflow_integrator.securechange.simulator.app import BASE_PATH, create_simulator_app
from workflow_integrator.securechange.simulator.lifecycle import Simulator
from workflow_integrator.securechange.simulator.store import TicketStore
from workflow_integrator.securechange.simulator.triggers import TriggerConfig, TriggerRunner


class SimulatorServer:
    """A SecureChange simulator listening on a local port.

    ``url`` is the server root (what WI's SecureChange host setting points at);
    ``api_url`` adds SecureChange's REST base path; ``simulator`` creates and moves
    tickets in-process.
    """

    def __init__(
        self,
        *,
        state_file: Path | None = None,
        username: str = "admin",
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        trigger: TriggerConfig | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        self.username = username
        # Without a given password, a random one: the simulator never ships a default.
        self.password = password or secrets.token_urlsafe(12)
        self.simulator = Simulator(TicketStore(state_file), TriggerRunner(trigger))
        self.app = create_simulator_app(self.simulator, username, self.password)
        self._tls = (ssl_certfile, ssl_keyfile) if ssl_certfile else None
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        if self._socket is None:
            return self._port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8443``."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The REST base URL (root plus ``/securechangeworkflow/api/securechange``)."""
        return self.url + BASE_PATH

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it; asyncio sets it only on sockets made with
        # IPPROTO_TCP, and without it each answer waits ~40 ms for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self._host, self._port))
        sock.listen(128)
        sock.set_inheritable(True)
        self._socket = sock
        return sock

    def _config(self, log_level: str) -> uvicorn.Config:
        certfile, keyfile = self._tls or (None, None)
        return uvicorn.Config(self.app, log_level=log_level, access_log=False,
                              lifespan="off", ssl_certfile=certfile, ssl_keyfile=keyfile)

    def start(self) -> SimulatorServer:
        """Start serving in a daemon thread; returns once the port answers."""
        sock = self._bind()
        self._server = uvicorn.Server(self._config("warning"))
        started = threading.Event()
        server = self._server

        def serve() -> None:
            server.run(sockets=[sock])

        self._thread = threading.Thread(target=serve, name="securechange-simulator",
                                        daemon=True)
        self._thread.start()
        for _ in range(500):
            if server.started:
                started.set()
                break
            threading.Event().wait(0.01)
        if not started.is_set():
            raise RuntimeError("the SecureChange simulator did not start")
        return self

    def serve_forever(self, log_level: str = "info") -> None:
        """Serve in the foreground until interrupted."""
        sock = self._bind()
        uvicorn.Server(self._config(log_level)).run(sockets=[sock])

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

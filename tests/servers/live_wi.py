"""WI itself, served by uvicorn on a free port in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import httpx2
import uvicorn
from argon2 import PasswordHasher

from workflow_integrator.app import BackgroundRunner, Services, build_services, create_app
from workflow_integrator.settings import Settings

# Still argon2id, with small costs: the suite hashes many passwords on 2 cores.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveWI:
    """A running WI: its URL, settings, services and an admin and a viewer API token."""

    url: str
    settings: Settings
    services: Services
    admin_token: str
    viewer_token: str

    def client(self, token: str | None = None) -> httpx2.Client:
        """An HTTP client for the API, authenticated as admin unless told otherwise."""
        return httpx2.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            trust_env=False,
            timeout=30,
        )


@contextmanager
def serve_wi(
    settings: Settings, *, password_hasher: PasswordHasher | None = None,
    background: tuple[BackgroundRunner, ...] = (),
) -> Iterator[LiveWI]:
    """Build WI on ``settings`` and serve it until the block ends.

    ``background``: the runners the app starts instead of its own (the delivery engine).
    """
    services = build_services(settings, password_hasher=password_hasher)
    if background:
        services = replace(services, background=background)
    _, admin = services.tokens.create("test-admin", "admin")
    _, viewer = services.tokens.create("test-viewer", "viewer")
    app = create_app(settings, services)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("WI did not start")
        time.sleep(0.02)
    try:
        yield LiveWI(f"http://127.0.0.1:{port}", settings, services, admin, viewer)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()

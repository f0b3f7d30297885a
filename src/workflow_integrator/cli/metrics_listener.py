"""The separate metrics listener (WI_METRICS_LISTEN) of ``wi serve`` and ``wi worker``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import start_http_server

from workflow_integrator.app import Services
from workflow_integrator.cli.context import fail


@contextmanager
def metrics_listener(services: Services) -> Iterator[None]:
    """Serve /metrics without a token on WI_METRICS_LISTEN (if set) while the block runs."""
    address = services.settings.metrics_address
    if address is None:
        yield
        return
    host, port = address
    try:
        # prometheus-client's own threaded server: scrapes never touch WI's event loop.
        server, thread = start_http_server(port, addr=host, registry=services.metrics.registry)
    except OSError as exc:
        fail(f"WI_METRICS_LISTEN {services.settings.metrics_listen}: cannot listen "
             f"({exc.strerror})")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Every outbound test also checks that no secret reached a log line or stderr."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.outbound.configs import BASIC_PASSWORD, STATIC_TOKEN
from tests.servers.oauth import CLIENT_SECRET, PASSWORD, OAuthServer
from tests.servers.outbound_plugin import PROXY_PASSWORD


@pytest.fixture(autouse=True)
def no_secret_in_logs(
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[None]:
    """Capture all logging at DEBUG and stderr; after the test, no secret may appear there."""
    caplog.set_level(logging.DEBUG)
    yield
    secrets = [CLIENT_SECRET, PASSWORD, PROXY_PASSWORD, BASIC_PASSWORD, STATIC_TOKEN]
    for value in request.node.funcargs.values():
        if isinstance(value, OAuthServer):
            with value.lock:
                secrets += list(value.access) + list(value.refresh)
    captured = caplog.text + capfd.readouterr().err
    leaked = [s[:6] + "…" for s in secrets if s in captured]
    assert not leaked, f"secrets found in log output or stderr: {leaked}"

"""Fixtures of the foundation tests: one live WI per module where tests can share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import make_settings
from tests.servers.live_wi import LiveWI, serve_wi


@pytest.fixture(scope="module")
def shared_wi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWI]:
    """WI on SQLite over real HTTP, shared by the tests of one module (unique names)."""
    with serve_wi(make_settings(tmp_path_factory.mktemp("wi") / "data")) as live:
        yield live

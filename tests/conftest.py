"""Shared fixtures: WI settings on temp folders, a live WI, a throwaway PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.live_wi import FAST_HASHER, LiveWI, free_port, serve_wi
from tests.servers.postgres import create_database, postgres_cluster
from workflow_integrator.settings import Settings

pytest_plugins = [
    "tests.servers.browser",
    "tests.servers.outbound_plugin",
    "tests.servers.simulator",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, but fail under CI: CI must never silently accept a missing part."""
    if IN_CI:
        pytest.fail(f"required test dependency missing under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def free_tcp_port() -> int:
    """A free port on 127.0.0.1."""
    return free_port()


def make_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """Settings isolated from the environment: own data folder, database and key file."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        secret_key=None,
    )


@pytest.fixture
def wi_settings(tmp_path: Path) -> Settings:
    """Settings on a temp data folder with an SQLite file."""
    return make_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """Admin URL of the suite's throwaway PostgreSQL (started once)."""
    try:
        cluster = postgres_cluster()
        url = cluster.__enter__()
    except Exception as exc:
        unavailable(f"cannot start PostgreSQL: {exc}")
        return
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture
def pg_url(pg_cluster: str) -> str:
    """URL of a fresh, empty PostgreSQL database."""
    return create_database(pg_cluster)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on SQLite and, as a second run, on PostgreSQL."""
    if request.param == "sqlite":
        return make_settings(tmp_path / "data")
    admin_url: str = request.getfixturevalue("pg_cluster")
    return make_settings(tmp_path / "data", create_database(admin_url))


@pytest.fixture
def live_wi(wi_settings: Settings) -> Iterator[LiveWI]:
    """WI served over real HTTP on SQLite."""
    with serve_wi(wi_settings, password_hasher=FAST_HASHER) as live:
        yield live


@pytest.fixture
def live_wi_any_db(any_db_settings: Settings) -> Iterator[LiveWI]:
    """WI served over real HTTP, once on SQLite and once on PostgreSQL."""
    with serve_wi(any_db_settings, password_hasher=FAST_HASHER) as live:
        yield live

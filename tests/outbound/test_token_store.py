"""The database token store on SQLite and PostgreSQL: encrypted, durable, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.outbound.configs import leased, password_grant, refresh_grant
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver
from workflow_integrator.app import Services, build_services
from workflow_integrator.outbound import AccessToken, OutboundError, TokenManager, TransportPool
from workflow_integrator.settings import Settings
from workflow_integrator.store.tokens import DatabaseTokenStore, OAuthTokenRow


@pytest.fixture
def services(any_db_settings: Settings) -> Iterator[Services]:
    services = build_services(any_db_settings)
    yield services
    services.close()


def create(services: Services, name: str, host: str, auth: dict[str, object]) -> int:
    services.servers.create({"name": name, "host": host, "protocol": "http", "auth": auth})
    return services.servers.id_of(name)


def store_of(services: Services) -> DatabaseTokenStore:
    return DatabaseTokenStore(services.engine, services.sessions, services.secretbox)


async def test_tokens_are_encrypted_and_survive_a_restart(
    services: Services, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    server_id = create(services, "itsm", receiver.host, password_grant(oauth_server.token_url))
    config = services.servers.get_config("itsm")
    pool = TransportPool(TokenManager(store_of(services)))
    await (await leased(pool, server_id, 1, config)).send("GET", "/")
    await pool.aclose()
    [access] = oauth_server.access
    [refresh] = oauth_server.refresh
    with services.sessions() as session:
        row = session.scalars(select(OAuthTokenRow)).one()
        assert access not in (row.access_token or "") and refresh not in (row.refresh_token or "")
    # A new process (new manager and store) reuses the stored token: no new token request.
    receiver.authorize = oauth_server.accepts
    fresh_pool = TransportPool(TokenManager(store_of(services)))
    assert (
        await (await leased(fresh_pool, server_id, 1, config)).send("GET", "/")
    ).status_code == 200
    await fresh_pool.aclose()
    assert oauth_server.token_requests == 1


async def test_changing_the_server_forgets_its_tokens_and_deleting_cascades(
    services: Services, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    server_id = create(services, "itsm", receiver.host, password_grant(oauth_server.token_url))
    store = store_of(services)
    await store.save_access_token(server_id, AccessToken("abc", datetime(2033, 5, 18, tzinfo=UTC)))
    await store.save_refresh_token(server_id, "rotated-refresh-token")
    services.servers.update("itsm", {"headers": "X-Only: headers"})  # not auth/TLS/proxy
    assert await store.load_refresh_token(server_id) == "rotated-refresh-token"
    services.servers.update("itsm", {"auth": {"scope": "other"}})
    assert await store.load_access_token(server_id) is None
    assert await store.load_refresh_token(server_id) is None
    await store.save_refresh_token(server_id, "again")
    services.servers.delete("itsm")
    with services.sessions() as session:
        assert session.scalars(select(OAuthTokenRow)).all() == []


async def test_needs_credentials_is_recorded_on_the_server(
    services: Services, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    token = oauth_server.issue_refresh_token()
    server_id = create(services, "rt", receiver.host, refresh_grant(oauth_server.token_url, token))
    oauth_server.revoke_refresh_tokens()
    pool = TransportPool(TokenManager(store_of(services)))
    with pytest.raises(Exception, match="refresh token"):
        await (await leased(pool, server_id, 1, services.servers.get_config("rt"))).send("GET", "/")
    await pool.aclose()
    view = services.servers.get("rt")
    assert view.state == "needs_credentials" and "invalid_grant" in (view.state_reason or "")


async def test_cold_cache_single_flight_through_the_database_store(
    services: Services, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    receiver.authorize = oauth_server.accepts
    oauth_server.delay_seconds = 0.2
    server_id = create(services, "itsm", receiver.host, password_grant(oauth_server.token_url))
    pool = TransportPool(TokenManager(store_of(services)))
    transport = await leased(pool, server_id, 1, services.servers.get_config("itsm"))
    responses = await asyncio.gather(*(transport.send("GET", f"/{i}") for i in range(100)))
    await pool.aclose()
    assert {r.status_code for r in responses} == {200}
    assert oauth_server.token_requests == 1


@pytest.fixture
def pg_services(pg_url: str, tmp_path: Path) -> Iterator[Services]:
    services = build_services(make_settings(tmp_path / "data", pg_url))
    yield services
    services.close()


@pytest.mark.postgres
async def test_single_flight_across_processes_on_postgresql(
    pg_services: Services, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    """Two managers with their own stores and connections stand for two worker processes."""
    receiver.authorize = oauth_server.accepts
    oauth_server.delay_seconds = 0.3
    first = oauth_server.issue_refresh_token()
    server_id = create(
        pg_services, "rt", receiver.host, refresh_grant(oauth_server.token_url, first)
    )
    config = pg_services.servers.get_config("rt")
    pools = [TransportPool(TokenManager(store_of(pg_services))) for _ in range(2)]
    sends = [
        (await leased(pools[i % 2], server_id, 1, config)).send("GET", f"/{i}") for i in range(50)
    ]
    responses = await asyncio.gather(*sends)
    for pool in pools:
        await pool.aclose()
    assert {r.status_code for r in responses} == {200}
    assert oauth_server.requests == {"refresh_token": 1}
    assert oauth_server.refresh_reused == 0


_WORKER = """
import asyncio, json, os, sys, time
from workflow_integrator.app import build_services
from workflow_integrator.outbound import TokenManager, TransportPool
from workflow_integrator.settings import Settings
from workflow_integrator.store.tokens import DatabaseTokenStore

async def main():
    services = build_services(Settings(_env_file=None), upgrade=False)
    store = DatabaseTokenStore(services.engine, services.sessions, services.secretbox)
    pool = TransportPool(TokenManager(store))
    server_id = services.servers.id_of("rt")
    config = services.servers.get_config("rt")
    async with pool.lease(server_id, 1, config) as transport:
        print("ready", flush=True)
        while not os.path.exists(sys.argv[1]):
            await asyncio.sleep(0.01)
        responses = await asyncio.gather(*(transport.send("GET", "/p") for _ in range(25)))
    await pool.aclose()
    print(json.dumps([r.status_code for r in responses]), flush=True)

asyncio.run(main())
"""


@pytest.mark.postgres
async def test_single_flight_across_real_worker_processes_on_postgresql(
    pg_url: str, tmp_path: Path, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    import json
    import os
    import subprocess
    import sys

    settings = make_settings(tmp_path / "data", pg_url)
    services = build_services(settings)
    receiver.authorize = oauth_server.accepts
    oauth_server.delay_seconds = 0.5
    first = oauth_server.issue_refresh_token()
    create(services, "rt", receiver.host, refresh_grant(oauth_server.token_url, first))
    services.close()
    go = tmp_path / "go"
    env = {
        "PATH": os.environ["PATH"],
        "WI_DATABASE_URL": pg_url,
        "WI_DATA_DIR": str(settings.data_dir),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready", worker.stderr
    go.touch()
    results = [worker.communicate(timeout=60) for worker in workers]
    last_lines = [(out.strip().splitlines() or ["(no output)"])[-1] for out, _ in results]
    expected = json.dumps([200] * 25)
    assert last_lines == [expected, expected], [err[-1500:] for _, err in results]
    assert oauth_server.requests == {"refresh_token": 1}
    assert oauth_server.refresh_reused == 0


async def test_waiting_for_another_process_fetch_is_bounded(
    services: Services, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    """A second store stands for a second process: it gives up instead of waiting forever."""
    server_id = create(services, "itsm", receiver.host, password_grant(oauth_server.token_url))
    holder = store_of(services)
    waiter = DatabaseTokenStore(
        services.engine, services.sessions, services.secretbox, lock_wait_seconds=0.3
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async with holder.lock(server_id):
        beat = asyncio.create_task(ticker())
        with pytest.raises(OutboundError, match="another WI process has been fetching"):
            async with waiter.lock(server_id):
                pytest.fail("the lock was held by the other store")
        beat.cancel()
    assert ticks >= 10  # the event loop kept running while the waiter waited
    async with waiter.lock(server_id):  # released: now it is free at once
        pass

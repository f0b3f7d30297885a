"""Single-flight token fetching across processes: ``wi servers fetch-token`` beside ``wi serve``.

A rotating refresh token can be spent once. The CLI is a process of its own, so only a
lock that both processes see (a file lock on SQLite, an advisory lock on PostgreSQL)
keeps the two from presenting the same refresh token.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import httpx2

from tests.foundation.wi_cli import WI, wi_env
from tests.outbound.configs import refresh_grant
from tests.outbound.test_api_diagnostics import BASE, create
from tests.servers.live_wi import LiveWI
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver


def start_fetch_token(live: LiveWI, name: str) -> subprocess.Popen[str]:
    """``wi servers fetch-token NAME`` on the live WI's database, as a second process."""
    extra = {}
    if live.settings.database_url:
        extra["WI_DATABASE_URL"] = live.settings.database_url
    data_dir = live.settings.data_dir
    return subprocess.Popen(
        [WI, "servers", "fetch-token", name, "--json"],
        cwd=data_dir.parent,
        env=wi_env(data_dir, **extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def fifty_tests(live: LiveWI, name: str) -> list[dict[str, object]]:
    """50 concurrent Test connection calls through the live WI."""
    headers = {"Authorization": f"Bearer {live.admin_token}"}
    async with httpx2.AsyncClient(
        base_url=live.url, headers=headers, timeout=120, trust_env=False
    ) as client:
        responses = await asyncio.gather(
            *(client.post(f"{BASE}/{name}/test", json={"path": f"/{i}"}) for i in range(50))
        )
    assert {r.status_code for r in responses} == {200}
    return [r.json() for r in responses]


def wait_for_a_token_request(oauth_server: OAuthServer, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while oauth_server.in_flight == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the CLI never asked for a token"
        time.sleep(0.01)


async def test_fetch_token_in_a_second_process_while_serve_sends_50_requests(
    live_wi_any_db: LiveWI, oauth_server: OAuthServer, receiver: Receiver
) -> None:
    live = live_wi_any_db
    receiver.authorize = oauth_server.accepts
    oauth_server.delay_seconds = 1.0  # each fetch stays in flight while the other side arrives
    create(
        live,
        "rt",
        receiver.host,
        refresh_grant(oauth_server.token_url, oauth_server.issue_refresh_token()),
    )

    # The CLI fetches first; the server's 50 requests need a token meanwhile.
    cli = start_fetch_token(live, "rt")
    wait_for_a_token_request(oauth_server, cli)
    diagnoses = await fifty_tests(live, "rt")
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert json.loads(out)["ok"] is True
    assert all(d["ok"] for d in diagnoses), diagnoses[0]

    # The server fetches first (its token was refused); the CLI starts meanwhile.
    oauth_server.expire_access_tokens()
    cli = start_fetch_token(live, "rt")
    diagnoses = await fifty_tests(live, "rt")
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert json.loads(out)["ok"] is True
    assert all(d["ok"] for d in diagnoses), diagnoses[0]

    assert oauth_server.refresh_reused == 0
    assert len(oauth_server.live_refresh_tokens()) == 1
    with live.client() as client:
        assert client.get(f"{BASE}/rt").json()["state"] == "ok"

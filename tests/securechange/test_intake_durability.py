"""Acknowledged means stored: ``wi serve`` killed with SIGKILL while concurrent events
arrive (many of them sharing a commit) loses none that it answered 202."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import httpx2

from tests.servers.wi_process import wi_serve

EVENTS, CONCURRENCY, KILL_AFTER = 400, 50, 120


async def send_until_killed(url: str, token: str, pid: int) -> set[int]:
    acknowledged: set[int] = set()
    tickets = iter(range(1, EVENTS + 1))
    limits = httpx2.Limits(max_connections=CONCURRENCY)
    async with httpx2.AsyncClient(base_url=url, trust_env=False, timeout=30, limits=limits,
                                  headers={"Authorization": f"Bearer {token}"}) as client:
        async def sender() -> None:
            for ticket in tickets:
                try:
                    response = await client.post("/api/v1/events", json={
                        "event": "CREATE", "ticket": {"id": ticket, "update_date": "1"}})
                except httpx2.TransportError:
                    continue  # killed: not acknowledged
                if response.status_code == 202:
                    acknowledged.add(ticket)
                    if len(acknowledged) == KILL_AFTER:
                        os.kill(pid, signal.SIGKILL)  # others are in flight right now

        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    return acknowledged


def test_sigkill_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wi_serve(data, WI_SERVE_WORKERS="false") as wi:
        acknowledged = asyncio.run(send_until_killed(wi.url, wi.admin_token, wi.process.pid))
        assert wi.process.wait(timeout=30) == -signal.SIGKILL

    assert KILL_AFTER <= len(acknowledged) < EVENTS
    with sqlite3.connect(data / "wi.db") as db:  # opening it recovers the WAL, as WI would
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in db.execute("SELECT ticket_id FROM events")}
    assert acknowledged <= stored

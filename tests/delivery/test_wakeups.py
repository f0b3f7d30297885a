"""PostgreSQL LISTEN/NOTIFY wakes engines in other processes (the suite's real PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workflow_integrator.store.db import make_engine
from workflow_integrator.store.wakeups import listen_dsn, listen_for_work, notify_work


async def _wait(flag: asyncio.Event, seconds: float = 5.0) -> bool:
    try:
        await asyncio.wait_for(flag.wait(), seconds)
    except TimeoutError:
        return False
    return True


@pytest.mark.postgres
async def test_a_notification_from_another_connection_wakes_the_listener(pg_url: str) -> None:
    engine = make_engine(pg_url)
    heard = asyncio.Event()
    listener = asyncio.create_task(listen_for_work(listen_dsn(engine), heard.set))
    try:
        assert await _wait(heard)  # once on connecting: look for what was stored meanwhile
        heard.clear()
        await asyncio.sleep(0.2)
        assert not heard.is_set()

        await asyncio.to_thread(notify_work, engine)  # as another process storing an event
        assert await _wait(heard)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        engine.dispose()


def test_without_a_channel_notifying_does_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wi.db'}")
    notify_work(engine)  # SQLite: engines poll instead; storing work must not fail
    engine.dispose()

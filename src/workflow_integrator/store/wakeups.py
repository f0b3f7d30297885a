"""Waking workers in other processes: PostgreSQL ``LISTEN/NOTIFY`` on one channel.

Whoever stores work (an event, a resumed server) calls :func:`notify_work`; every
engine on the database listens with :func:`listen_for_work` and looks for due work at
once instead of at its next poll. SQLite has no such channel: there, engines poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine, text

log = logging.getLogger("workflow_integrator.store.wakeups")

CHANNEL = "wi_delivery_work"
_RECONNECT_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


def can_notify(engine: Engine) -> bool:
    """Whether the database has a notification channel (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


def notify_work(engine: Engine) -> None:
    """Tell listening engines that work may be due (no-op without a channel)."""
    if not can_notify(engine):
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        connection.commit()


def listen_dsn(engine: Engine) -> str:
    """The engine's database as a libpq connection string (for a listening connection)."""
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen_for_work(dsn: str, on_notify: Callable[[], None]) -> None:
    """Call ``on_notify`` for every notification until cancelled; reconnects after failures."""
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                failures = 0
                on_notify()  # work stored while not listening is looked for now
                async for _ in conn.notifies():
                    on_notify()
        except psycopg.Error as exc:
            wait = _RECONNECT_SECONDS[min(failures, len(_RECONNECT_SECONDS) - 1)]
            failures += 1
            log.warning("listening for delivery work failed (%s); polling, retry in %ss",
                        type(exc).__name__, wait)
            await asyncio.sleep(wait)

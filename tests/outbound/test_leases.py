"""Transport leases: a server change or deletion never closes a transport under a send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.outbound.configs import leased, server
from tests.servers.receiver import Receiver
from workflow_integrator.outbound import OutboundError, ServerTransport, TransportPool
from workflow_integrator.outbound.tokens import MemoryTokenStore, TokenManager


@pytest.fixture
async def pool() -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    yield pool
    await pool.aclose()


async def closed(transport: ServerTransport) -> bool:
    """Whether the transport closes once the loop has run its pending close."""
    for _ in range(100):
        if transport.closed:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_send_on_a_retired_revision_is_an_outbound_error_not_a_runtime_error(
    pool: TransportPool, receiver: Receiver
) -> None:
    """The race of taking a transport, awaiting something, then sending: with no lease held
    across the await, the old revision is closed, and the send says so as an OutboundError."""
    old = await leased(pool, 1, 1, server(receiver.host, headers="X-Rev: 1"))
    await leased(pool, 1, 2, server(receiver.host, headers="X-Rev: 2"))
    assert await closed(old)
    with pytest.raises(OutboundError, match="settings changed") as raised:
        await old.send("GET", "/late")
    assert raised.value.stage == "connect"
    assert receiver.requests == []


async def test_a_lease_keeps_a_retired_revision_open_until_it_ends(
    pool: TransportPool, receiver: Receiver
) -> None:
    async with pool.lease(1, 1, server(receiver.host, headers="X-Rev: 1")) as old:
        async with pool.lease(1, 2, server(receiver.host, headers="X-Rev: 2")) as new:
            assert new is not old
        assert not await closed(old)
        assert (await old.send("GET", "/after-the-change")).status_code == 200
        assert receiver.last().headers["x-rev"] == "1"
    assert await closed(old)
    assert not new.closed


async def test_concurrent_sends_survive_a_change_that_lands_while_they_wait(
    pool: TransportPool, receiver: Receiver
) -> None:
    go = asyncio.Event()
    taken = 0

    async def send(i: int) -> int:
        nonlocal taken
        async with pool.lease(1, 1, server(receiver.host)) as transport:
            taken += 1
            await go.wait()  # e.g. rendering the request, reading the database
            return (await transport.send("GET", f"/{i}")).status_code

    sends = [asyncio.create_task(send(i)) for i in range(20)]
    while taken < 20:
        await asyncio.sleep(0.01)
    await leased(pool, 1, 2, server(receiver.host, headers="X-Rev: 2"))
    pool.discard(1)
    go.set()
    assert await asyncio.gather(*sends) == [200] * 20


async def test_discard_closes_after_the_last_lease(pool: TransportPool, receiver: Receiver) -> None:
    async with pool.lease(1, 1, server(receiver.host)) as transport:
        pool.discard(1)
        assert not await closed(transport)
        assert (await transport.send("GET", "/still-open")).status_code == 200
    assert await closed(transport)
    fresh = await leased(pool, 1, 1, server(receiver.host))
    assert fresh is not transport and not fresh.closed

"""A real SOCKS5 proxy (RFC 1928, user/password auth RFC 1929) in a background thread.

proxy.py speaks HTTP only, so the SOCKS5 tests run this small relay; it records
every CONNECT target so tests can see what went through.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.servers.uvicorn_thread import free_port


@dataclass
class SocksServer:
    """A running SOCKS5 proxy: address, optional credentials, targets it connected to."""

    port: int
    username: str | None = None
    password: str | None = None
    connects: list[str] = field(default_factory=list)
    refused_logins: int = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        return f"127.0.0.1:{self.port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()


async def _handle(
    server: SocksServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 0x02 if server.username is not None else 0x00
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        if wanted == 0x02:
            _, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            ok = user == server.username and password == server.password
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                server.refused_logins += 1
                return
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))
            return
        server.connects.append(f"{host}:{port}")
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
            writer.close()


@contextlib.contextmanager
def run_socks(*, username: str | None = None, password: str | None = None) -> Iterator[SocksServer]:
    """Run the SOCKS5 proxy on a free 127.0.0.1 port until the block ends."""
    server = SocksServer(free_port(), username, password)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        listener = await asyncio.start_server(
            lambda r, w: _handle(server, r, w), "127.0.0.1", server.port
        )
        ready.set()
        async with listener:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the SOCKS5 test proxy did not start")
    try:
        yield server
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)

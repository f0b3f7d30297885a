"""A TCP server that accepts connections and never answers: a peer that hangs.

Real sockets on 127.0.0.1: the client's connect succeeds and its request is sent, then
nothing comes back until :meth:`SilentServer.hang_up` closes the connections.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SilentServer:
    """Accepts every connection, reads nothing, answers nothing."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._connections: list[socket.socket] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._changed:
                self._connections.append(connection)
                self._changed.notify_all()

    def wait_for_connection(self, timeout: float = 30) -> None:
        """Return once a client has connected (its request is then in flight)."""
        with self._changed:
            if not self._changed.wait_for(lambda: bool(self._connections), timeout):
                raise TimeoutError("nobody connected to the silent server")

    def hang_up(self) -> None:
        """Close the accepted connections: a waiting client sees the peer go away."""
        with self._changed:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def close(self) -> None:
        """Stop listening and hang up."""
        with contextlib.suppress(OSError):  # already shut: close anyway
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        self.hang_up()
        self._thread.join(timeout=5)


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    """A :class:`SilentServer` for the duration of the block."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()

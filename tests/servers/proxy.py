"""A real forward proxy (proxy.py) in its own process, with optional Basic proxy auth.

``access_log()`` shows what went through: one line per request or CONNECT tunnel.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers.uvicorn_thread import free_port


@dataclass
class ProxyServer:
    """A running proxy: its address and its access log."""

    port: int
    log_file: Path
    username: str | None = None
    password: str | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` as typed into the Proxy server field (http assumed)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port`` without credentials."""
        return f"http://{self.address}"

    def access_log(self) -> list[str]:
        """The proxy's access lines, e.g. ``CONNECT 127.0.0.1:8443 - 480 bytes``."""
        if not self.log_file.exists():
            return []
        lines = self.log_file.read_text(errors="replace").splitlines()
        return [line.split("access_log:", 1)[1] for line in lines if "access_log:" in line]

    def saw(self, fragment: str, wait_seconds: float = 5.0) -> bool:
        """True when an access line contains the fragment.

        proxy.py writes a line when the client connection closes, so close the client
        first; this waits a little for the line to appear.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            if any(fragment in line for line in self.access_log()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"proxy.py exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("proxy.py did not start listening in 20 s")


@contextlib.contextmanager
def run_proxy(
    *,
    username: str | None = None,
    password: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> Iterator[ProxyServer]:
    """Start proxy.py on a free port (Basic proxy auth with credentials; TLS with a cert)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="wi-proxy-") as folder:
        log = Path(folder) / "proxy.log"
        command = [
            sys.executable, "-m", "proxy",
            "--hostname", "127.0.0.1", "--port", str(port),
            "--num-workers", "1", "--num-acceptors", "1",
            "--log-file", str(log), "--log-level", "INFO",
            "--data-dir", folder,
        ]  # fmt: skip
        if certfile and keyfile:
            command += ["--cert-file", certfile, "--key-file", keyfile]
        if username is not None:
            command += ["--basic-auth", f"{username}:{password}"]
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            _wait_listening(port, process, log)
            yield ProxyServer(port, log, username, password)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

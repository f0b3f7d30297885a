"""The real ``wi serve`` as a subprocess: started as an operator starts it, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from tests.foundation.wi_cli import WI, wi_env
from tests.servers.live_wi import free_port


@dataclass
class WiProcess:
    """A running ``wi serve``: where it listens, its process and what it wrote to stderr."""

    url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path
    stdout_path: Path
    data_dir: Path

    @property
    def stderr(self) -> str:
        """Everything written to stderr so far (the log lines)."""
        return self.stderr_path.read_text(errors="replace")

    @property
    def admin_token(self) -> str:
        """The first admin API token written on first start."""
        return (self.data_dir / "initial-admin-token").read_text().strip()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd stops a service; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def wi_serve(
    data_dir: Path, *args: str, verify: str | bool = False, scheme: str = "http", **env: str
) -> Iterator[WiProcess]:
    """Run ``wi serve`` on a free port until the block ends (then SIGTERM, then SIGKILL)."""
    port = free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"serve-{port}.err"
    stdout_path = data_dir.parent / f"serve-{port}.out"
    with stderr_path.open("wb") as err, stdout_path.open("wb") as out:
        process = subprocess.Popen(
            [WI, "serve", "--port", str(port), *args], cwd=data_dir.parent,
            env=wi_env(data_dir, **env), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        )
    running = WiProcess(f"{scheme}://127.0.0.1:{port}", process, stderr_path, stdout_path,
                        data_dir)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"wi serve exited {process.returncode}: {running.stderr}")
            try:
                httpx2.get(f"{running.url}/healthz", verify=verify, trust_env=False, timeout=2)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"wi serve did not answer: {running.stderr}") from None
                time.sleep(0.2)
        yield running
    finally:
        try:
            running.stop(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

"""The README's first command, ``dev/start``, run as a user runs it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx2

from tests.servers.live_wi import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_dev_start_sets_up_and_serves_wi(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "WI_DATA_DIR": str(data)}
    env.pop("WI_DATABASE_URL", None)
    env.pop("WI_SECRET_KEY", None)
    log = tmp_path / "start.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["dev/start", "--port", str(port)], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx2.get(f"http://127.0.0.1:{port}/healthz", trust_env=False)
                break
            except httpx2.TransportError:
                time.sleep(0.5)
        assert health is not None and health.status_code == 200, log.read_text()[-2000:]
        token_file = data / "initial-admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        token = token_file.read_text().strip()
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            assert client.get("/api/v1/outbound-servers").status_code == 401
            listed = client.get(
                "/api/v1/outbound-servers", headers={"Authorization": f"Bearer {token}"}
            )
            sign_in = client.get("/")
        assert listed.status_code == 200 and listed.json() == []
        assert sign_in.status_code == 303 and sign_in.headers["location"] == "/sign-in"
        assert "sign in to the web UI as 'admin'" in log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

"""``wi serve`` stops cleanly on SIGTERM: requests in flight finish, then it exits."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.servers.wi_process import wi_serve


@contextmanager
def slow_http_server(delay: float) -> Iterator[tuple[int, threading.Event]]:
    """Accepts one connection, answers after ``delay`` seconds; the event marks the accept."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = threading.Event()

    def answer() -> None:
        connection, _ = listener.accept()
        accepted.set()
        with connection:
            connection.recv(65536)
            time.sleep(delay)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                               b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()
        thread.join(timeout=10)


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    with slow_http_server(delay=3) as (port, accepted), \
            wi_serve(tmp_path / "data", WI_LOG_FORMAT="json") as wi:
        headers = {"Authorization": f"Bearer {wi.admin_token}"}
        with httpx2.Client(base_url=wi.url, headers=headers, trust_env=False,
                           timeout=30) as api:
            saved = api.put("/api/v1/securechange", json={
                "host": f"127.0.0.1:{port}", "protocol": "http", "username": "wi",
                "password": "pw-123456", "timeout_seconds": 20})
            assert saved.status_code == 200, saved.text
            with ThreadPoolExecutor(1) as pool:
                in_flight = pool.submit(api.post, "/api/v1/securechange/test")
                assert accepted.wait(20), "WI never reached the slow server"
                wi.process.send_signal(signal.SIGTERM)
                # No new connections once stopping.
                deadline = time.monotonic() + 10
                refused = False
                while time.monotonic() < deadline and not refused:
                    try:
                        httpx2.get(f"{wi.url}/healthz", trust_env=False, timeout=1)
                        time.sleep(0.1)
                    except httpx2.TransportError:
                        refused = True
                answer = in_flight.result(timeout=30)
        assert refused
        assert answer.status_code == 200, answer.text
        # uvicorn ends by re-raising SIGTERM after its clean shutdown; systemd counts an
        # exit by SIGTERM as a clean stop.
        assert wi.process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Traceback" not in wi.stderr
        assert '"Shutting down"' in wi.stderr or "Shutting down" in wi.stderr

"""wi-trigger against a live WI: exit status, messages, time budget, TLS, config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import uvicorn

from tests.securechange.samples import sample
from tests.servers.live_wi import LiveWI, free_port
from tests.servers.simulator import wi_trigger_command
from workflow_integrator.app import create_app
from workflow_integrator.securechange import mediator

DOC = b"<ticket_info><id>77</id><subject>s</subject><updateDate>1000</updateDate></ticket_info>"


def run_trigger(
    env: dict[str, str], stdin: bytes = DOC, args: list[str] | None = None,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WI_", "SCW_"))}
    return subprocess.run(
        [*(command or wi_trigger_command()), *(args or [])], input=stdin,
        env={**clean, **env}, capture_output=True, timeout=60, check=False,
    )


def wi_env(live: LiveWI, **extra: str) -> dict[str, str]:
    return {"WI_URL": live.url, "WI_API_TOKEN": live.admin_token, "WI_TIMEOUT": "5", **extra}


def stored_events(live: LiveWI) -> list[dict[str, object]]:
    with live.client() as c:
        events: list[dict[str, object]] = c.get("/api/v1/events").json()
        return events


def test_forwards_and_exits_zero_once_stored(live_wi: LiveWI) -> None:
    done = run_trigger(wi_env(live_wi, SCW_EVENT="CREATE"))
    assert done.returncode == 0, done.stderr
    (event,) = stored_events(live_wi)
    assert (event["ticket_id"], event["event"], event["source"]) == (77, "CREATE", "securechange")
    assert done.stderr.decode().strip() == f"wi-trigger: CREATE stored by WI as event {event['id']}"


def test_retry_of_the_same_event_is_stored_once(live_wi: LiveWI) -> None:
    first = run_trigger(wi_env(live_wi, SCW_EVENT="ADVANCE"))
    second = run_trigger(wi_env(live_wi, SCW_EVENT="ADVANCE"))
    assert (first.returncode, second.returncode) == (0, 0)
    assert first.stderr == second.stderr  # same event id
    (event,) = stored_events(live_wi)
    assert event["received_count"] == 2


def test_securechange_test_button_sends_nothing(live_wi: LiveWI) -> None:
    # WI_URL points nowhere: the test call must succeed without any connection.
    done = run_trigger({"WI_URL": "http://127.0.0.1:9", "WI_API_TOKEN": "x",
                        "SCW_EVENT": "CREATE"}, stdin=b"<ticket_info/>\n")
    assert done.returncode == 0
    assert b"test call from SecureChange answered; nothing sent" in done.stderr
    assert stored_events(live_wi) == []


def test_real_sample_document(live_wi: LiveWI) -> None:
    done = run_trigger(wi_env(live_wi, SCW_EVENT="REDO"), stdin=sample("ticket_info.xml").encode())
    assert done.returncode == 0, done.stderr
    (event,) = stored_events(live_wi)
    assert event["ticket_id"] == 1 and event["event"] == "REDO"


@pytest.mark.parametrize(
    ("env", "stdin", "message"),
    [
        ({"SCW_EVENT": "MOVE"}, DOC, "WI rejected the event (400): unknown event name 'MOVE'"),
        ({"SCW_EVENT": "CREATE"}, b"<ticket_info><id>x", "WI rejected the event (400): "
         "ticket_info: malformed XML"),
        ({}, DOC, "SCW_EVENT is not set"),
        ({"SCW_EVENT": "CREATE"}, b"", "no ticket_info document on standard input"),
    ],
)
def test_bad_input_fails_with_one_clear_line(
    live_wi: LiveWI, env: dict[str, str], stdin: bytes, message: str
) -> None:
    done = run_trigger(wi_env(live_wi, **env), stdin=stdin)
    assert done.returncode != 0
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wi-trigger: ")
    assert message in lines[0]
    assert stored_events(live_wi) == []


def test_wrong_and_read_only_tokens(live_wi: LiveWI) -> None:
    wrong = run_trigger({**wi_env(live_wi, SCW_EVENT="CREATE"), "WI_API_TOKEN": "wi_nope"})
    viewer = run_trigger({**wi_env(live_wi, SCW_EVENT="CREATE"),
                          "WI_API_TOKEN": live_wi.viewer_token})
    assert wrong.returncode == 1 and b"refused the API token (401)" in wrong.stderr
    assert viewer.returncode == 1 and b"(403): use an admin token" in viewer.stderr
    assert b"wi_nope" not in wrong.stderr


def test_wi_down_fails_within_the_time_budget() -> None:
    started = time.monotonic()
    done = run_trigger({"WI_URL": f"http://127.0.0.1:{free_port()}", "WI_API_TOKEN": "t",
                        "WI_TIMEOUT": "2", "SCW_EVENT": "CREATE"})
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert b"WI did not store the event within 2s: cannot reach WI" in done.stderr
    assert elapsed < 10  # bounded: the budget plus process start-up, never a hang


def test_check_tests_connection_and_token(live_wi: LiveWI) -> None:
    ok = run_trigger(wi_env(live_wi), args=["--check"], stdin=b"")
    bad = run_trigger({**wi_env(live_wi), "WI_API_TOKEN": "wi_wrong"}, args=["--check"],
                      stdin=b"")
    assert ok.returncode == 0 and b"OK: " in ok.stderr
    assert bad.returncode == 1 and b"401" in bad.stderr
    assert stored_events(live_wi) == []


def test_config_file_and_token_file(live_wi: LiveWI, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(live_wi.admin_token + "\n")
    config = tmp_path / "wi-trigger.conf"
    config.write_text(f"# WI connection\nWI_URL={live_wi.url}\n"
                      f"WI_API_TOKEN_FILE='{token_file}'\nWI_TIMEOUT=5\n")
    done = run_trigger({"SCW_EVENT": "CLOSE"}, args=["--config", str(config)])
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text("WI_URL http://x\n")
    bad = run_trigger({"SCW_EVENT": "CLOSE"}, args=["--config", str(broken)])
    assert bad.returncode == 2 and b"broken.conf:1: expected NAME=value" in bad.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "WI_URL is not set"),
        ({"WI_URL": "ftp://x"}, "must be an http:// or https:// URL"),
        ({"WI_URL": "http://x"}, "WI_API_TOKEN is not set"),
        ({"WI_URL": "http://x", "WI_API_TOKEN": "t", "WI_TIMEOUT": "soon"},
         "WI_TIMEOUT must be a number"),
        ({"WI_URL": "http://x", "WI_API_TOKEN": "t", "WI_CA_FILE": "/nonexistent.pem"},
         "WI_CA_FILE /nonexistent.pem does not exist"),
    ],
)
def test_configuration_errors_exit_2(env: dict[str, str], message: str) -> None:
    done = run_trigger({**env, "SCW_EVENT": "CREATE"})
    assert done.returncode == 2
    assert message in done.stderr.decode()


def test_the_single_file_runs_with_the_standard_library_only(
    live_wi: LiveWI, tmp_path: Path
) -> None:
    copy = tmp_path / "wi-trigger.py"
    shutil.copy(mediator.__file__, copy)
    # -I -S: no site-packages, no user site: exactly a bare Python on the SecureChange host.
    done = run_trigger(wi_env(live_wi, SCW_EVENT="RESOLVE"),
                       command=[sys.executable, "-I", "-S", str(copy)])
    assert done.returncode == 0, done.stderr
    assert stored_events(live_wi)[0]["event"] == "RESOLVE"


@pytest.fixture
def https_wi(live_wi: LiveWI, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The same WI also served over HTTPS with a certificate from a private CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(live_wi.settings, live_wi.services), host="127.0.0.1", port=port,
        log_level="warning", ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", ca_file
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_https_with_a_custom_ca_file(live_wi: LiveWI, https_wi: tuple[str, Path]) -> None:
    url, ca_file = https_wi
    env = {"WI_URL": url, "WI_API_TOKEN": live_wi.admin_token, "WI_TIMEOUT": "5",
           "SCW_EVENT": "REJECT"}
    untrusted = run_trigger(env)
    assert untrusted.returncode == 1
    assert b"set WI_CA_FILE to the CA that signed WI's certificate" in untrusted.stderr
    trusted = run_trigger({**env, "WI_CA_FILE": str(ca_file)})
    assert trusted.returncode == 0, trusted.stderr
    assert stored_events(live_wi)[0]["event"] == "REJECT"


def test_test_document_recognition() -> None:
    assert mediator.is_test_document(b"<ticket_info/>")
    assert mediator.is_test_document(b'<?xml version="1.0"?>\n<ticket_info >\n</ticket_info>\n')
    assert not mediator.is_test_document(b"<ticket_info><id>1</id></ticket_info>")


def test_busy_wi_is_retried_within_the_budget() -> None:
    # A real HTTP server that answers 503 twice, then stores the event.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, bytes]] = []

    class Busy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, body))
            busy = len(seen) <= 2
            payload = b'{"detail": "busy"}' if busy else b'{"id": 7, "stored": true}'
            self.send_response(503 if busy else 202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = run_trigger({"WI_URL": f"http://127.0.0.1:{server.server_port}",
                            "WI_API_TOKEN": "t", "WI_TIMEOUT": "10", "SCW_EVENT": "CANCEL"})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert b"CANCEL stored by WI as event 7" in done.stderr
    assert len(seen) == 3
    assert all(path == "/api/v1/events/securechange?event=CANCEL" and body == DOC
               for path, body in seen)

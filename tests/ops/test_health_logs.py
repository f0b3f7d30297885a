"""/readyz, /healthz, structured logs with a request id, and HTTPS for ``wi serve``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psycopg
import pytest
import trustme
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.servers.live_wi import LiveWI, free_port, serve_wi
from tests.servers.simulator import SimulatorHandle
from tests.servers.wi_process import wi_serve
from workflow_integrator import logs
from workflow_integrator.api.request_id import RequestIdMiddleware
from workflow_integrator.app import build_services
from workflow_integrator.securechange.client import SecureChangeError
from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate


def _ready(live: LiveWI) -> httpx2.Response:
    with httpx2.Client(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        return anonymous.get("/readyz")


def test_readyz_names_each_part(live_wi: LiveWI) -> None:
    answer = _ready(live_wi)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready" and body["failing"] == []
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"] == {"ok": True, "required": True,
                                    "detail": f"at {migrate.head_revision()}"}
    assert checks["securechange"]["ok"] is None
    # `wi serve` delivers too: its engine's loops decide readiness (see test_engine_ops).
    assert checks["workers"]["required"] is True and checks["workers"]["ok"] is True
    assert "loops running" in checks["workers"]["detail"]


def test_readyz_without_workers_in_the_process(wi_settings: Settings) -> None:
    wi_settings.serve_workers = False
    with serve_wi(wi_settings) as live:
        answer = _ready(live)
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["workers"] == {
        "ok": True, "required": False, "detail": "no delivery workers run in this process"}


def test_readyz_when_schema_is_behind(live_wi: LiveWI) -> None:
    with live_wi.services.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0004_users'"))
    answer = _ready(live_wi)
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["migrations"]
    assert "wi db upgrade" in answer.json()["checks"]["migrations"]["detail"]
    assert httpx2.get(f"{live_wi.url}/healthz", trust_env=False).status_code == 200


@pytest.mark.postgres
def test_readyz_when_database_is_gone(pg_cluster: str, tmp_path: Path) -> None:
    from tests.conftest import make_settings
    from tests.servers.postgres import create_database

    url = create_database(pg_cluster)
    name = url.rsplit("/", 1)[1]
    admin = pg_cluster.replace("postgresql+psycopg://", "postgresql://")
    with serve_wi(make_settings(tmp_path / "data", url)) as live:
        assert _ready(live).status_code == 200
        live.services.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as connection:
            for _ in range(20):
                # The delivery engine's connections (LISTEN, the pool) go too, as in an
                # outage; its loops may reconnect in between: then again.
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                try:
                    connection.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')
                    break
                except psycopg.errors.ObjectInUse:
                    continue
        try:
            gone = _ready(live)
            assert gone.status_code == 503
            assert gone.json()["failing"] == ["database", "migrations"]
            assert "cannot reach the database" in gone.json()["checks"]["database"]["detail"]
            assert "password" not in gone.text.lower() or "********" in gone.text
            # Liveness stays: restarting the process would not bring the database back.
            assert httpx2.get(f"{live.url}/healthz", trust_env=False).status_code == 200
        finally:
            live.services.engine.dispose()
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')
        assert _ready(live).status_code == 200


def test_readyz_shows_securechange_check_without_deciding(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        saved = api.put("/api/v1/securechange", json={
            "host": f"127.0.0.1:{free_port()}", "protocol": "http", "username": "wi",
            "password": "pw-123456", "timeout_seconds": 2})
        assert saved.status_code == 200, saved.text
        assert api.post("/api/v1/securechange/test").json()["ok"] is False
    answer = _ready(live_wi)
    assert answer.status_code == 200
    securechange = answer.json()["checks"]["securechange"]
    assert securechange["ok"] is False and securechange["required"] is False
    assert securechange["checked_at"]


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("debug", "json", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


async def test_request_id_reaches_threads_and_tasks(json_lines: io.StringIO) -> None:
    log = logging.getLogger("workflow_integrator.test")

    async def in_task() -> None:
        log.info("in a task")

    async def handler(request: Request) -> PlainTextResponse:
        log.info("on the loop")
        await run_in_threadpool(log.info, "in the thread pool")
        await asyncio.to_thread(log.info, "in asyncio.to_thread")
        await asyncio.create_task(in_task())
        with logs.bound(delivery_id=42):
            log.info("about a delivery")
        return PlainTextResponse("ok")

    app = RequestIdMiddleware(Starlette(routes=[Route("/x", handler)]))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://wi") as client:
        given = await client.get("/x", headers={"X-Request-Id": "sc-ticket-77.advance"})
        made = await client.get("/x")
        hostile = await client.get("/x", headers={"X-Request-Id": "a\"b c" + "x" * 200})
    assert given.headers["x-request-id"] == "sc-ticket-77.advance"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "a\"b c" + "x" * 200
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "sc-ticket-77.advance"]
    assert [line["message"] for line in mine] == [
        "on the loop", "in the thread pool", "in asyncio.to_thread", "in a task",
        "about a delivery", "GET /x 200"]
    assert mine[4]["delivery_id"] == 42
    assert "delivery_id" not in mine[5]
    assert mine[5]["status"] == 200 and mine[5]["logger"] == "workflow_integrator.access"
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in lines)


def test_text_on_a_terminal_json_elsewhere() -> None:
    leader, follower = os.openpty()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        with open(follower, "w", closefd=True) as terminal:  # a real pseudo-terminal
            logs.configure("info", "auto", terminal)
            logging.getLogger("workflow_integrator.test").info("hello", extra={"ticket": 7})
            terminal.flush()
            written = os.read(leader, 4096).decode()
        assert "INFO    workflow_integrator.test: hello ticket=7" in written
        assert not written.lstrip().startswith("{")
        piped = io.StringIO()
        logs.configure("warning", "auto", piped)
        logging.getLogger("workflow_integrator.test").info("dropped: below the level")
        logging.getLogger("workflow_integrator.test").warning("kept")
        assert [json.loads(line)["message"] for line in piped.getvalue().splitlines()] == [
            "kept"]
    finally:
        os.close(leader)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_wi_serve_logs_json_lines_with_request_ids(tmp_path: Path) -> None:
    with wi_serve(tmp_path / "data", WI_LOG_FORMAT="json", WI_LOG_LEVEL="info") as wi:
        token = wi.admin_token
        with httpx2.Client(base_url=wi.url, trust_env=False) as client:
            answer = client.get("/api/v1/outbound-servers?token=query-secret-value",
                                headers={"Authorization": f"Bearer {token}",
                                         "X-Request-Id": "req-from-balancer"})
            assert answer.status_code == 200
            assert answer.headers["x-request-id"] == "req-from-balancer"
        wi.stop()
        stderr = wi.stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines, "wi serve wrote no log line"
    access = [line for line in lines if line.get("request_id") == "req-from-balancer"]
    assert access and access[-1]["path"] == "/api/v1/outbound-servers"
    assert access[-1]["status"] == 200
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert token not in stderr and "query-secret-value" not in stderr


def test_wi_serve_with_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "wi.pem", tmp_path / "wi.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    trusted = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    with wi_serve(tmp_path / "data", verify=trusted, scheme="https",
                  WI_TLS_CERT_FILE=str(cert_file), WI_TLS_KEY_FILE=str(key_file)) as wi:
        assert httpx2.get(f"{wi.url}/readyz", verify=trusted, trust_env=False).status_code == 200
        with pytest.raises(httpx2.TransportError):
            httpx2.get(wi.url.replace("https", "http") + "/healthz", trust_env=False)
        assert "WI listening on https://" in wi.stdout_path.read_text()


def test_wi_serve_refuses_unusable_tls_files(tmp_path: Path) -> None:
    from tests.foundation.wi_cli import run_wi

    half = run_wi(tmp_path / "data", "serve", WI_TLS_CERT_FILE=str(tmp_path / "x.pem"))
    assert half.returncode != 0
    assert "WI_TLS_KEY_FILE" in half.stderr
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    wrong = run_wi(tmp_path / "data", "serve", WI_TLS_CERT_FILE=str(bad),
                   WI_TLS_KEY_FILE=str(bad))
    assert wrong.returncode == 2
    assert "give a PEM certificate and its private key" in wrong.stderr


def test_an_event_keeps_the_request_id_that_brought_it(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        stored = api.post("/api/v1/events", headers={"X-Request-Id": "sc-run-4411"},
                          json={"event": "CREATE", "ticket": {"id": 4411}})
        assert stored.status_code == 202, stored.text
        detail = api.get(f"/api/v1/events/{stored.json()['id']}").json()
    assert detail["request_id"] == "sc-run-4411"


def test_ticket_reads_update_the_securechange_check(
    wi_settings: Settings, sc_simulator: SimulatorHandle
) -> None:
    services = build_services(wi_settings)
    try:
        services.securechange.replace(sc_simulator.connection_settings())

        async def read(ticket_id: int) -> None:
            try:
                await services.tickets.ticket(ticket_id)
            finally:
                await services.tickets.aclose()

        asyncio.run(read(445))
        good = services.readiness.parts()["securechange"]
        assert (good.ok, good.detail, good.required) == (True, "read ticket 445", False)
        with pytest.raises(SecureChangeError):
            asyncio.run(read(999_999))
        bad = services.readiness.parts()["securechange"]
        assert bad.ok is False and "999999" in bad.detail
    finally:
        services.close()

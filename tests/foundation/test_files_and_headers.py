"""The data folder and database files are private; answers carry nosniff, no-store, HSTS."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from tests.servers.live_wi import LiveWI, serve_wi
from workflow_integrator.app import build_services
from workflow_integrator.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_data_folder_and_database_files_are_private(wi_settings: Settings) -> None:
    old = os.umask(0o022)  # the usual umask, which made wi.db 0644
    try:
        services = build_services(wi_settings)
        try:
            with services.engine.begin() as connection:  # a write creates -wal and -shm
                connection.execute(text("CREATE TABLE probe (x INTEGER)"))
            files = {p.name: _mode(p) for p in wi_settings.data_dir.glob("wi.db*")}
        finally:
            services.close()
    finally:
        os.umask(old)
    assert _mode(wi_settings.data_dir) == 0o700
    assert files == {"wi.db": 0o600, "wi.db-wal": 0o600, "wi.db-shm": 0o600}


def test_existing_open_files_are_made_private_at_start(wi_settings: Settings) -> None:
    build_services(wi_settings).close()
    folder = wi_settings.data_dir
    os.chmod(folder, 0o755)
    for name in ("wi.db", "wi.db-wal", "wi.db-shm"):
        (folder / name).touch()
        os.chmod(folder / name, 0o644)
    services = build_services(wi_settings)
    try:
        modes = {p.name: _mode(p) for p in folder.glob("wi.db*")}
    finally:
        services.close()
    assert _mode(folder) == 0o700
    assert modes == {"wi.db": 0o600, "wi.db-wal": 0o600, "wi.db-shm": 0o600}


def test_api_answers_are_not_sniffed_nor_stored(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        answers = [client.get("/api/v1/events"), client.get("/api/v1/events/7"),
                   client.get("/api/v1/events?limit=0"), client.get("/openapi.json")]
        health = client.get("/healthz")
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert answer.headers["cache-control"] == "no-store", answer.url
        assert "strict-transport-security" not in answer.headers  # plain HTTP
    assert health.headers["x-content-type-options"] == "nosniff"


def test_hsts_when_a_trusted_proxy_says_https(wi_settings: Settings) -> None:
    trusted = wi_settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    with serve_wi(trusted) as live, live.client() as client:
        https = client.get("/api/v1/events", headers={"X-Forwarded-Proto": "https"})
        plain = client.get("/api/v1/events")
    assert https.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "strict-transport-security" not in plain.headers


def test_no_hsts_when_an_untrusted_peer_says_https(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        untrusted = client.get("/api/v1/events", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in untrusted.headers

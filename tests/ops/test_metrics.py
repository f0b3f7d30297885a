"""/metrics: behind a token or on a separate listener; database figures agree across processes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import make_settings
from tests.servers.live_wi import LiveWI, free_port, serve_wi
from tests.servers.smtp import MailServer, mail_server
from tests.servers.wi_process import wi_serve
from workflow_integrator.services.metrics import QueueFigures, ServerQueue
from workflow_integrator.settings import Settings

METRICS_TOKEN = "scrape-token-7f3e2a9b"


@pytest.fixture
def metered_wi(tmp_path: Path) -> Iterator[LiveWI]:
    settings = make_settings(tmp_path / "data")
    settings.metrics_token = METRICS_TOKEN  # type: ignore[assignment]
    with serve_wi(Settings.model_validate(settings.model_dump())) as live:
        yield live


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the Prometheus text format, None when absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


def _scrape(live: LiveWI) -> str:
    answer = httpx2.get(f"{live.url}/metrics", trust_env=False,
                        headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_metrics_need_the_token(metered_wi: LiveWI) -> None:
    bare = httpx2.get(f"{metered_wi.url}/metrics", trust_env=False)
    assert bare.status_code == 401
    wrong = httpx2.get(f"{metered_wi.url}/metrics", trust_env=False,
                       headers={"Authorization": f"Bearer {metered_wi.admin_token}"})
    assert wrong.status_code == 401
    assert "wi_events_received" in _scrape(metered_wi)


def test_without_a_setting_metrics_say_how_to_enable_them(live_wi: LiveWI) -> None:
    answer = httpx2.get(f"{live_wi.url}/metrics", trust_env=False)
    assert answer.status_code == 404
    assert "WI_METRICS_TOKEN" in answer.json()["detail"]


def test_events_servers_and_emails_are_counted(metered_wi: LiveWI) -> None:
    instance = metered_wi.services.metrics.instance
    with metered_wi.client() as api:
        body = {"event": "ADVANCE", "ticket": {"id": 31, "update_date": "2026-01-01T10:00:00Z"}}
        assert api.post("/api/v1/events", json=body).status_code == 202
        assert api.post("/api/v1/events", json=body).status_code == 202  # a retry
        created = api.post("/api/v1/outbound-servers", json={
            "name": "itsm", "host": f"127.0.0.1:{free_port()}", "protocol": "http",
            "auth": {"method": "oauth2", "grant_type": "password",
                     "token_url": f"http://127.0.0.1:{free_port()}/token", "username": "u",
                     "password": "p", "client_id": "c", "client_secret": "s"}})
        assert created.status_code == 201, created.text
        fetched = api.post("/api/v1/outbound-servers/itsm/fetch-token")
        assert fetched.json()["ok"] is False
    with mail_server("plain") as mail:
        _send_test_mail(metered_wi, mail)
    text = _scrape(metered_wi)
    assert _sample(text, "wi_events_received_total", event="ADVANCE", source="api",
                   outcome="stored", wi_instance=instance) == 1
    assert _sample(text, "wi_events_received_total", event="ADVANCE", source="api",
                   outcome="duplicate") == 1
    assert _sample(text, "wi_events", state="pending") == 1
    assert _sample(text, "wi_server_credentials_state", server="itsm", state="ok") == 1
    info = re.search(r'wi_server_info\{server="itsm",server_id="(\d+)"\}', text) or re.search(
        r'wi_server_info\{server_id="(\d+)",server="itsm"\}', text)
    assert info, text
    assert _sample(text, "wi_token_fetches_total", server_id=info.group(1),
                   outcome="failed") == 1
    assert _sample(text, "wi_emails_total", kind="test", outcome="sent") == 1
    assert METRICS_TOKEN not in text


def _send_test_mail(live: LiveWI, mail: MailServer) -> None:
    with live.client() as api:
        result = api.post("/api/v1/smtp/test", json={
            "to": "ops@example.com", "settings": mail.settings(username=None, password=None)})
    assert result.json()["ok"] is True, result.json()


def test_queue_figures_from_the_delivery_store(metered_wi: LiveWI) -> None:
    # The delivery store hands in its figures through this hook; until it is wired, the
    # test hands in figures of its own to check how they are exposed.
    metered_wi.services.metrics.queue_source = lambda: QueueFigures(
        deliveries_by_state={"pending": 4, "dead": 1},
        servers=[ServerQueue("itsm", pending=4, oldest_pending_seconds=12.5,
                             held_by_reason={"needs_credentials": 2}, breaker="open")])
    text = _scrape(metered_wi)
    assert _sample(text, "wi_deliveries", state="dead") == 1
    assert _sample(text, "wi_queue_depth", server="itsm") == 4
    assert _sample(text, "wi_queue_oldest_pending_seconds", server="itsm") == 12.5
    assert _sample(text, "wi_held_deliveries", server="itsm", reason="needs_credentials") == 2
    assert _sample(text, "wi_circuit_breaker_state", server="itsm", state="open") == 1
    assert _sample(text, "wi_circuit_breaker_state", server="itsm", state="closed") == 0


@pytest.mark.postgres
def test_two_processes_on_postgresql_agree_on_database_figures(
    pg_url: str, tmp_path: Path
) -> None:
    first_port, second_port = free_port(), free_port()
    common = {"WI_DATABASE_URL": pg_url, "WI_SECRET_KEY": _key()}
    with wi_serve(tmp_path / "a" / "data", WI_METRICS_LISTEN=f"127.0.0.1:{first_port}",
                  WI_INSTANCE_NAME="api-1", **common) as first, \
            wi_serve(tmp_path / "b" / "data", WI_METRICS_LISTEN=f"127.0.0.1:{second_port}",
                     WI_INSTANCE_NAME="api-2", **common) as second:
        token = first.admin_token
        with httpx2.Client(base_url=first.url, trust_env=False,
                           headers={"Authorization": f"Bearer {token}"}) as api:
            for ticket in (1, 2, 3):
                assert api.post("/api/v1/events", json={
                    "event": "CREATE", "ticket": {"id": ticket}}).status_code == 202
        scraped = [httpx2.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text
                   for port in (first_port, second_port)]
        # The separate listener needs no token; the main address still refuses without one.
        assert httpx2.get(f"{second.url}/metrics", trust_env=False).status_code == 404
    assert [_sample(text, "wi_events", state="pending") for text in scraped] == [3, 3]
    assert _sample(scraped[0], "wi_events_received_total", wi_instance="api-1",
                   outcome="stored") == 3
    assert _sample(scraped[1], "wi_events_received_total", outcome="stored") is None


def _key() -> str:
    from workflow_integrator.store.secretbox import new_key

    return new_key()


def test_grafana_dashboard_uses_only_exported_metrics(metered_wi: LiveWI) -> None:
    import json

    metered_wi.services.metrics.queue_source = lambda: QueueFigures(
        {"pending": 1}, [ServerQueue("itsm", 1, 1.0, {"disabled": 1})])
    metered_wi.services.metrics.attempt("delivered", 201)
    metered_wi.services.metrics.delivered(0.2)
    metered_wi.services.metrics.token_fetch(1, True)
    metered_wi.services.metrics.email("failure", True)
    metered_wi.services.metrics.event_received("CREATE", "api", duplicate=False)
    text = _scrape(metered_wi)
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
                if line and not line.startswith("#")}
    exported |= set(re.findall(r"^# TYPE (\w+) gauge$", text, re.MULTILINE))
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs"
                            / "grafana-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bwi_[a-z_]+", target["expr"])}
    assert used and used <= exported, used - exported
    assert len(dashboard["panels"]) >= 10

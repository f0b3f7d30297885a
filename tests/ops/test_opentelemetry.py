"""``WI_OPENTELEMETRY``: FastAPI's own OpenTelemetry instrumentation reports requests to
an installed tracer provider only when asked to.

WI ships no OpenTelemetry SDK, so the provider here is a small recording one written
against the OpenTelemetry API (the part an SDK implements): nothing else can run here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from workflow_integrator.app import build_services, create_app
from workflow_integrator.settings import Settings


class RecordingTracer(trace.Tracer):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.names.append(name)
        return trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.names.append(name)
        return trace.use_span(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))


class RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.names: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RecordingTracer(self.names)


@pytest.fixture(scope="module")
def provider() -> RecordingProvider:
    # The global provider can be set once per process; every case here shares it.
    recording = RecordingProvider()
    trace.set_tracer_provider(recording)
    return recording


@pytest.fixture
def settings(tmp_path: Any) -> Iterator[Settings]:
    yield Settings(_env_file=None, data_dir=tmp_path / "data", serve_workers=False)


@pytest.mark.parametrize("enabled", [False, True])
def test_requests_reach_an_installed_tracer_only_when_asked(
    provider: RecordingProvider, settings: Settings, enabled: bool
) -> None:
    services = build_services(settings.model_copy(update={"opentelemetry": enabled}))
    provider.names.clear()
    try:
        with TestClient(create_app(services=services)) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        services.close()
    # The request's server span is named after its method.
    assert provider.names[:1] == (["GET"] if enabled else []), provider.names

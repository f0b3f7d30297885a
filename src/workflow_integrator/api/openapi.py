"""OpenAPI: adds the schemas of bodies that the service layer validates."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from workflow_integrator.api.deliveries import CancelBody, FilterBody
from workflow_integrator.api.deps import ViewerDep
from workflow_integrator.api.diagnostics import TestBody
from workflow_integrator.api.event_replans import ReplanFilter
from workflow_integrator.api.integrations import PreviewBody
from workflow_integrator.api.outbound_servers import RenameBody
from workflow_integrator.api.responses import declare_errors
from workflow_integrator.delivery.intake import EventBody
from workflow_integrator.domain.integration import Integration
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.domain.smtp import SmtpSettings
from workflow_integrator.securechange.connection import SecureChangeConnection

DOCUMENTED_BODIES: dict[str, type[BaseModel]] = {
    "OutboundServer": OutboundServer,
    "RenameBody": RenameBody,
    "EventBody": EventBody,
    "SecureChangeConnection": SecureChangeConnection,
    "SmtpSettings": SmtpSettings,
    "Integration": Integration,
    "PreviewBody": PreviewBody,
    "FilterBody": FilterBody,
    "CancelBody": CancelBody,
    "ReplanFilter": ReplanFilter,
    "TestBody": TestBody,
}
"""Component name → model, for routes that document their body by a component name."""

MERGE_PATCHES: dict[str, str] = {
    "OutboundServerPatch": "OutboundServer",
    "IntegrationPatch": "Integration",
}
"""Component name of a PATCH body → the document it patches (same top-level fields)."""


def install(app: FastAPI) -> None:
    """Serve ``/openapi.json`` (with :data:`DOCUMENTED_BODIES`) and ``/docs`` to callers
    who are signed in or present an API token that may read."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in DOCUMENTED_BODIES.items():
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[name] = body
        for name, base in MERGE_PATCHES.items():
            components[name] = _merge_patch(name, components[base])
        declare_errors(schema, app.routes)
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(_: ViewerDep) -> dict[str, Any]:
        return build()

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(_: ViewerDep) -> HTMLResponse:
        return HTMLResponse(_DOCS_PAGE.format(title=f"{app.title} API"))


def _merge_patch(title: str, document: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of ``document``: any of its fields (null removes one), no others."""
    return {
        "title": title,
        "type": "object",
        "description": "A JSON merge patch (RFC 7396): the fields to change; null removes an "
        "optional field. The result is validated as a whole.",
        "additionalProperties": False,
        "properties": {field: {} for field in document.get("properties", {})},
    }


#: Swagger UI from WI's own static files (web/static/swagger-ui, pinned, see its README).
_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<p id="openapi-link"><a href="/openapi.json">/openapi.json</a></p>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-ui/docs.js"></script>
</body>
</html>
"""

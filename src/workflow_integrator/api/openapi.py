"""OpenAPI: adds the schemas of bodies that the service layer validates."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from workflow_integrator.domain.outbound_server import OutboundServer

DOCUMENTED_BODIES: dict[str, type[BaseModel]] = {"OutboundServer": OutboundServer}
"""Component name → model, for routes that use :func:`api.body.schema_body`."""


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` include :data:`DOCUMENTED_BODIES`."""

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
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]

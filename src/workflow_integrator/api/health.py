"""``/healthz``: open to everyone, for load balancers and monitors."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from workflow_integrator import __version__
from workflow_integrator.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict[str, str]:
    """``ok`` when the database answers."""
    with services.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}

"""``/metrics`` in the Prometheus text format, for a scraper that sends WI_METRICS_TOKEN.

Without a token setting the route answers 404 (and says where metrics are, when a
separate listener serves them): metrics name servers and workflows, so they are not
public.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from workflow_integrator.api.deps import ServicesDep
from workflow_integrator.services.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, services: ServicesDep) -> Response:
    """Every metric, when the caller sends ``Authorization: Bearer <WI_METRICS_TOKEN>``."""
    settings = services.settings
    if settings.metrics_token is None:
        where = (f"on the separate listener {settings.metrics_listen}/metrics"
                 if settings.metrics_listen else
                 "nowhere: set WI_METRICS_TOKEN (scrape here with that bearer token) or "
                 "WI_METRICS_LISTEN (a separate address)")
        return JSONResponse({"detail": f"metrics are served {where}"},
                            status_code=status.HTTP_404_NOT_FOUND)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()):
        return JSONResponse({"detail": "send 'Authorization: Bearer <WI_METRICS_TOKEN>'"},
                            status_code=status.HTTP_401_UNAUTHORIZED,
                            headers={"WWW-Authenticate": "Bearer"})
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)

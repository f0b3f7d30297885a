"""Turning service errors into HTTP answers: 404, 409, 422 with one entry per field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from workflow_integrator.services.errors import (
    Conflict,
    InUse,
    InvalidInput,
    NotFound,
    ServiceError,
    UnsupportedMedia,
)
from workflow_integrator.store.secretbox import SecretKeyError


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        detail = [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors]
        return JSONResponse({"detail": detail}, status_code=422)
    if isinstance(exc, InUse):
        return JSONResponse({"detail": exc.message, "used_by": exc.users}, status_code=409)
    if isinstance(exc, NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, Conflict):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    if isinstance(exc, UnsupportedMedia):
        return JSONResponse({"detail": str(exc)}, status_code=415)
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _secret_key_error(_request: Request, exc: Exception) -> JSONResponse:
    # A wrong or missing key is the operator's to fix; say so instead of a bare 500.
    return JSONResponse(
        {
            "detail": f"stored secrets cannot be read: {exc}. Start WI with the key that "
            "encrypted them (WI_SECRET_KEY or the key file in the data folder)."
        },
        status_code=500,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(SecretKeyError, _secret_key_error)

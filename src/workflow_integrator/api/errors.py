"""Turning service errors into HTTP answers: 404, 409, 412, 422 with one entry per field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from workflow_integrator.api.preconditions import BadPrecondition, etag
from workflow_integrator.services.errors import (
    Conflict,
    InUse,
    InvalidInput,
    NotFound,
    ServiceError,
    Stale,
    describe_validation_errors,
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
    if isinstance(exc, BadPrecondition):
        return JSONResponse({"detail": str(exc)}, status_code=412)
    if isinstance(exc, Stale):
        return JSONResponse(
            {"detail": f"{exc.message}. Read it again and reapply your change."},
            status_code=412,
            headers={"ETag": etag(exc.current)},
        )
    if isinstance(exc, Conflict):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own parameter checks answer like the services do, without echoing input.
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": describe_validation_errors(errors)}, status_code=422)


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
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(SecretKeyError, _secret_key_error)

"""REST: ``/api/v1/securechange``: WI's SecureChange connection settings and their test."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import json_object
from workflow_integrator.api.deps import AdminDep, SecureChangeDep, ViewerDep
from workflow_integrator.api.responses import NOT_SAVED

router = APIRouter(prefix="/api/v1/securechange", tags=["securechange"])

_BODY = {
    "requestBody": {
        "required": True,
        "description": "host, protocol, username, password (send `********` or leave it out "
        "to keep the stored one), verify_certificate (disable|enable|certificate), "
        "certificate (PEM), timeout_seconds",
        "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/SecureChangeConnection"}}},
    }
}


@router.get("")
def read_settings(securechange: SecureChangeDep, _: ViewerDep) -> dict[str, Any]:
    """The settings; the password shows as ``********`` when set, null when not."""
    return securechange.view()


@router.put("", openapi_extra=_BODY)
async def replace_settings(
    request: Request, securechange: SecureChangeDep, _: AdminDep
) -> dict[str, Any]:
    """Replace the settings (422 per bad field)."""
    body = await json_object(request)
    return await run_in_threadpool(securechange.replace, body)


@router.post("/test", responses=NOT_SAVED)
async def test_connection(
    request: Request, securechange: SecureChangeDep, _: AdminDep
) -> dict[str, Any]:
    """Test the saved settings, or the unsaved ones in the body, against SecureChange."""
    raw = await request.body()
    body = await json_object(request) if raw.strip() else None
    check = await securechange.test(body)
    return check.to_dict()

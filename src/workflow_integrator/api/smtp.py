"""REST: ``/api/v1/smtp``: the mail server WI sends failure e-mails through, and its test."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import json_object, schema_body
from workflow_integrator.api.deps import AdminDep, FailureMailsDep, SmtpDep, ViewerDep
from workflow_integrator.api.responses import NOT_SAVED
from workflow_integrator.services.errors import InvalidInput

router = APIRouter(prefix="/api/v1/smtp", tags=["smtp"])

_BODY = schema_body(
    "SmtpSettings",
    "host, port (default by security: 25, 587, 465), security (plain|starttls|tls), "
    "verify_certificate (disable|enable|certificate), certificate (PEM), username, password "
    "(send `********` or leave it out to keep the stored one), sender, timeout_seconds",
)


_TEST_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False, "required": ["to"],
    "properties": {
        "to": {"type": "string", "format": "email", "description": "who gets the test e-mail"},
        "settings": {"$ref": "#/components/schemas/SmtpSettings",
                     "description": "unsaved settings to test instead of the saved ones"},
    }}}}}}


@router.get("")
def read_settings(smtp: SmtpDep, _: ViewerDep) -> dict[str, Any]:
    """The settings; the password shows as ``********`` when set, null when not."""
    return smtp.view()


@router.put("", openapi_extra=_BODY)
async def replace_settings(
    request: Request, smtp: SmtpDep, _: AdminDep
) -> dict[str, Any]:
    """Replace the settings (422 per bad field)."""
    body = await json_object(request)
    return await run_in_threadpool(smtp.replace, body)


@router.get("/outbox")
def outbox(
    mails: FailureMailsDep,
    _: ViewerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="newest first")] = 100,
) -> list[dict[str, Any]]:
    """Failure e-mails, newest first: recipient, subject, the deliveries named, state
    (pending, sent, failed), attempts, last error and when it was sent."""
    return mails.recent(limit)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_SAVED)
def delete_settings(smtp: SmtpDep, _: AdminDep) -> Response:
    """Forget the settings (404 when none are saved)."""
    smtp.delete()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/test", responses=NOT_SAVED, openapi_extra=_TEST_BODY)
async def send_test(request: Request, smtp: SmtpDep, _: AdminDep) -> dict[str, Any]:
    """Send a test e-mail: ``{"to": "...", "settings": {...}}``; without settings, the saved ones.

    Answers 200 with ``ok`` false and a message naming the failing stage when the mail
    server refuses, so the UI can show it next to the form.
    """
    body = await json_object(request)
    unsaved = body.get("settings")
    if unsaved is not None and not isinstance(unsaved, dict):
        raise InvalidInput.single(["settings"], "settings must be an object shaped like PUT")
    to = body.get("to")
    if not isinstance(to, str):
        raise InvalidInput.single(["to"], "give the address to send the test e-mail to")
    result = await smtp.send_test(to, unsaved)
    return result.to_dict()

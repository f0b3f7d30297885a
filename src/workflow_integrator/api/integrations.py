"""REST: ``/api/v1/integrations`` (list, create, read, replace, update, delete, check,
preview, placeholders) and ``/api/v1/placeholders``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import json_object, model_body, schema_body
from workflow_integrator.api.deps import AdminDep, IntegrationsDep, PreviewsDep, ViewerDep
from workflow_integrator.api.preconditions import expected_revision, tag_response
from workflow_integrator.api.responses import CONFLICT, IF_MATCH
from workflow_integrator.domain.bounds import TICKET_ID_MAX
from workflow_integrator.services.integrations import IntegrationView, document
from workflow_integrator.services.placeholders import PlaceholderCatalog
from workflow_integrator.services.previews import PreviewResult

router = APIRouter(prefix="/api/v1", tags=["integrations"])


def _body_doc(description: str) -> dict[str, Any]:
    return schema_body("Integration", description)


_DOC = (
    "A workflow integration: workflow, default_server, routes, notify_on_failure, fields "
    "(the workflow's ticket fields that placeholders may use: name → type), points."
)


class PreviewBody(BaseModel):
    """What to preview: an event on a ticket (pasted, or read from SecureChange by id)."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(description="CREATE, ADVANCE, REDO, REJECT, ...")
    ticket: str | dict[str, Any] | None = Field(
        default=None,
        description="The ticket document: SecureChange XML (a string) or JSON (an object)",
    )
    ticket_id: int | None = Field(default=None, gt=0, le=TICKET_ID_MAX,
                                  description="Read the ticket from SecureChange")
    completed_step: str | None = Field(default=None, description="For ADVANCE: the step done")
    current_step: str | None = Field(
        default=None, description="The step after the event (default: the ticket's)"
    )
    point: str | None = Field(
        default=None, description="Render only this point, whether or not it fires"
    )
    create_date: str | None = None
    update_date: str | None = None
    integration: dict[str, Any] | None = Field(
        default=None,
        description="An unsaved integration document to preview instead of the saved one",
    )


@router.get("/integrations", response_model=list[IntegrationView])
def list_integrations(integrations: IntegrationsDep, _: ViewerDep) -> list[IntegrationView]:
    """All integrations."""
    return integrations.list_all()


@router.post(
    "/integrations",
    response_model=IntegrationView,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_body_doc(_DOC),
    responses=CONFLICT,
)
async def create_integration(
    request: Request, response: Response, integrations: IntegrationsDep, _: AdminDep
) -> IntegrationView:
    """Create the integration of a workflow (409 if it has one, 422 per bad field)."""
    body = await json_object(request)
    view = await run_in_threadpool(integrations.create, body)
    tag_response(response, view.revision)
    response.headers["Location"] = f"{router.prefix}/integrations/{view.workflow}"
    return view


@router.post(
    "/integrations/validate", openapi_extra=_body_doc("The integration to check; nothing is saved.")
)
async def validate_integration(
    request: Request, integrations: IntegrationsDep, _: ViewerDep
) -> dict[str, Any]:
    """Check a document as a save would (servers, placeholders, templates); save nothing."""
    body = await json_object(request)
    integration = await run_in_threadpool(integrations.validate, body)
    return {"valid": True, "integration": document(integration)}


@router.get("/integrations/{workflow}", response_model=IntegrationView)
def read_integration(
    workflow: str, response: Response, integrations: IntegrationsDep, _: ViewerDep
) -> IntegrationView:
    """One integration; ``ETag`` is its revision (for ``If-Match``)."""
    view = integrations.get(workflow)
    tag_response(response, view.revision)
    return view


@router.put(
    "/integrations/{workflow}", response_model=IntegrationView, openapi_extra=_body_doc(_DOC),
    responses={**CONFLICT, **IF_MATCH},
)
async def replace_integration(
    workflow: str, request: Request, response: Response, integrations: IntegrationsDep, _: AdminDep
) -> IntegrationView:
    """Replace an integration (a different ``workflow`` in the body renames it).

    With ``If-Match: "<revision>"`` an integration changed meanwhile answers 412.
    """
    expected = expected_revision(request)
    body = await json_object(request)
    view = await run_in_threadpool(
        lambda: integrations.replace(workflow, body, expected_revision=expected)
    )
    tag_response(response, view.revision)
    return view


@router.patch(
    "/integrations/{workflow}",
    response_model=IntegrationView,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON merge patch (RFC 7396) of the integration document.",
            "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/IntegrationPatch"}}},
        }
    },
    responses={**CONFLICT, **IF_MATCH},
)
async def update_integration(
    workflow: str, request: Request, response: Response, integrations: IntegrationsDep, _: AdminDep
) -> IntegrationView:
    """Change some fields (JSON merge patch; lists such as points are replaced whole).

    With ``If-Match: "<revision>"`` an integration changed meanwhile answers 412.
    """
    expected = expected_revision(request)
    patch = await json_object(request)
    view = await run_in_threadpool(
        lambda: integrations.update(workflow, patch, expected_revision=expected)
    )
    tag_response(response, view.revision)
    return view


@router.delete("/integrations/{workflow}", status_code=status.HTTP_204_NO_CONTENT)
def delete_integration(workflow: str, integrations: IntegrationsDep, _: AdminDep) -> Response:
    """Delete an integration."""
    integrations.delete(workflow)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/integrations/{workflow}/preview", response_model=PreviewResult,
             openapi_extra=schema_body("PreviewBody", "The event and ticket to preview."))
async def preview_integration(
    workflow: str, request: Request, previews: PreviewsDep, _: ViewerDep
) -> PreviewResult:
    """Render what an event would send for a ticket — points, server, method, URL,
    headers (auth masked), body — without sending anything."""
    body = await model_body(request, PreviewBody)
    return await previews.preview(workflow, **body.model_dump())


@router.get("/integrations/{workflow}/placeholders", response_model=PlaceholderCatalog)
def placeholders(workflow: str, integrations: IntegrationsDep, _: ViewerDep) -> PlaceholderCatalog:
    """The placeholder names this integration's templates may use."""
    return integrations.placeholders(workflow)


@router.get("/placeholders", response_model=PlaceholderCatalog)
def all_placeholders(integrations: IntegrationsDep, _: ViewerDep) -> PlaceholderCatalog:
    """Predefined and custom placeholder names (fields come with an integration)."""
    return integrations.placeholders()

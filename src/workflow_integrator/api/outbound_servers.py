"""REST: ``/api/v1/outbound-servers`` (list, create, read, replace, update, delete, rename)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import json_object, schema_body
from workflow_integrator.api.deps import AdminDep, ServersDep, ViewerDep
from workflow_integrator.api.preconditions import expected_revision, tag_response
from workflow_integrator.api.responses import CONFLICT, IF_MATCH, IN_USE
from workflow_integrator.services.errors import InvalidInput
from workflow_integrator.services.outbound_servers import ServerView

router = APIRouter(prefix="/api/v1/outbound-servers", tags=["outbound servers"])

_BODY_DOC = (
    "An outbound server. Secrets (passwords, client secret, refresh token, token, "
    "client key, proxy password) may be sent as `********` or left out to keep the "
    "stored value."
)


class RenameBody(BaseModel):
    """The new name of a server."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


@router.get("", response_model=list[ServerView])
def list_servers(servers: ServersDep, _: ViewerDep) -> list[ServerView]:
    """All outbound servers, secrets masked."""
    return servers.list_all()


@router.post(
    "",
    response_model=ServerView,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=schema_body("OutboundServer", _BODY_DOC),
    responses=CONFLICT,
)
async def create_server(
    request: Request, response: Response, servers: ServersDep, _: AdminDep
) -> ServerView:
    """Create an outbound server (409 if the name exists, 422 per bad field)."""
    body = await json_object(request)
    view = await run_in_threadpool(servers.create, body)
    tag_response(response, view.revision)
    # Quoted: a name may hold blanks or non-Latin-1 letters, which a header cannot carry.
    response.headers["Location"] = f"{router.prefix}/{quote(view.name, safe='')}"
    return view


@router.get("/{name}", response_model=ServerView)
def read_server(name: str, response: Response, servers: ServersDep, _: ViewerDep) -> ServerView:
    """One outbound server, secrets masked; ``ETag`` is its revision (for ``If-Match``)."""
    view = servers.get(name)
    tag_response(response, view.revision)
    return view


@router.put(
    "/{name}", response_model=ServerView, openapi_extra=schema_body("OutboundServer", _BODY_DOC),
    responses={**CONFLICT, **IF_MATCH},
)
async def replace_server(
    name: str, request: Request, response: Response, servers: ServersDep, _: AdminDep
) -> ServerView:
    """Replace a server's configuration; masked or omitted secrets are kept.

    With ``If-Match: "<revision>"`` a server changed meanwhile answers 412.
    """
    expected = expected_revision(request)
    body = await json_object(request)
    view = await run_in_threadpool(
        lambda: servers.replace(name, body, expected_revision=expected)
    )
    tag_response(response, view.revision)
    return view


@router.patch(
    "/{name}",
    response_model=ServerView,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON merge patch (RFC 7396) of the server document.",
            "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/OutboundServerPatch"}}},
        }
    },
    responses={**CONFLICT, **IF_MATCH},
)
async def update_server(
    name: str, request: Request, response: Response, servers: ServersDep, _: AdminDep
) -> ServerView:
    """Change some fields (JSON merge patch); the result is validated as a whole.

    With ``If-Match: "<revision>"`` a server changed meanwhile answers 412.
    """
    expected = expected_revision(request)
    patch: dict[str, Any] = await json_object(request)
    view = await run_in_threadpool(
        lambda: servers.update(name, patch, expected_revision=expected)
    )
    tag_response(response, view.revision)
    return view


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=IN_USE)
def delete_server(name: str, servers: ServersDep, _: AdminDep) -> Response:
    """Delete a server (409 naming the integrations that still use it)."""
    servers.delete(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{name}/rename",
    response_model=ServerView,
    openapi_extra=schema_body("RenameBody", "The server's new name."),
    responses=CONFLICT,
)
async def rename_server(
    name: str, request: Request, servers: ServersDep, _: AdminDep
) -> ServerView:
    """Rename a server; integrations that use it keep using it."""
    # Read like the other bodies: FastAPI's own parsing answers 500 to deeply nested JSON.
    body = await json_object(request)
    try:
        new_name = RenameBody.model_validate(body).name
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, body) from None
    return await run_in_threadpool(servers.rename, name, new_name)

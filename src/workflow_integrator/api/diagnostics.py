"""REST: Fetch Token and Test connection for outbound servers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from workflow_integrator.api.body import json_object, model_body, schema_body
from workflow_integrator.api.deps import AdminDep, DiagnosticsDep
from workflow_integrator.outbound import Diagnosis, Stage

router = APIRouter(prefix="/api/v1/outbound-servers", tags=["outbound servers"])


class DiagnosisView(BaseModel):
    """The result of Fetch Token or Test connection; never holds the token itself."""

    ok: bool
    message: str = Field(description="What happened, in words a network engineer can act on")
    elapsed_ms: int
    stage: Stage | None = Field(
        default=None,
        description="Where it failed: dns, connect, tls, proxy, http, oauth_error, parse, script",
    )
    status: int | None = Field(default=None, description="HTTP status, when there was one")
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None
    token_preview: str | None = Field(
        default=None, description="First 4 and last 4 characters of the token"
    )
    oauth_error: str | None = None
    oauth_error_description: str | None = None
    notes: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, diagnosis: Diagnosis) -> DiagnosisView:
        """The API view of a diagnosis."""
        return cls.model_validate(diagnosis.as_dict())


class TestBody(BaseModel):
    """Which request Test connection sends."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = Field(default="/", pattern=r"^/[\x21-\x7e]*$", max_length=2000,
                      description="Path below the server's base path, printable ASCII")


@router.post(
    "/fetch-token",
    response_model=DiagnosisView,
    openapi_extra=schema_body(
        "OutboundServer",
        "Unsaved settings of the dialog. Add \"base\": \"<name>\" to take secrets sent as "
        "`********` or left out from that saved server.",
    ),
)
async def fetch_token_unsaved(
    request: Request, diagnostics: DiagnosticsDep, _: AdminDep
) -> DiagnosisView:
    """Fetch Token with unsaved settings: fetches anew and reports, never shows the token."""
    body = await json_object(request)
    return DiagnosisView.of(await diagnostics.fetch_token_unsaved(body))


@router.post("/{name}/fetch-token", response_model=DiagnosisView)
async def fetch_token_saved(name: str, diagnostics: DiagnosticsDep, _: AdminDep) -> DiagnosisView:
    """Fetch Token for a saved server: with its own TLS, proxy and timeout."""
    return DiagnosisView.of(await diagnostics.fetch_token(name))


@router.post(
    "/{name}/test",
    response_model=DiagnosisView,
    openapi_extra={"requestBody": {**schema_body("TestBody", "The request to send (optional)")[
        "requestBody"], "required": False}},
)
async def test_server(
    name: str, request: Request, diagnostics: DiagnosticsDep, _: AdminDep
) -> DiagnosisView:
    """Test connection: send one request (default ``GET /``) with the server's auth."""
    raw = await request.body()
    wanted = await model_body(request, TestBody) if raw.strip() else TestBody()
    return DiagnosisView.of(await diagnostics.test(name, wanted.method, wanted.path))

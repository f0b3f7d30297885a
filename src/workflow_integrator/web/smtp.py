"""The Mail page (admins): the mail server for failure e-mails, and "Send test e-mail"."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.deps import SmtpDep
from workflow_integrator.domain.redaction import MASK as SECRET_MASK
from workflow_integrator.services.errors import InvalidInput, NotFound
from workflow_integrator.services.smtp import SmtpSettingsService
from workflow_integrator.web.templating import principal_of, render

router = APIRouter(include_in_schema=False)

_FIELDS = ("host", "port", "security", "verify_certificate", "certificate", "username",
           "password", "sender", "timeout_seconds")


def _admin_only(request: Request) -> Response | None:
    principal = principal_of(request)
    if principal is not None and principal.can_write:
        return None
    return render(request, "message.html",
                  {"title": "Not allowed", "message": "Only admins manage the mail server."},
                  status=403)


def _body(form: dict[str, str]) -> dict[str, Any]:
    """The API body a submitted form describes (blank optional fields are left unset)."""
    body: dict[str, Any] = {}
    for name in _FIELDS:
        value = form.get(name, "").strip() if name != "password" else form.get(name, "")
        if value == "" and name in ("port", "certificate", "username", "timeout_seconds"):
            continue
        body[name] = value
    if body.get("password") == "":
        # An empty box on a stored password means "keep it", as the mask does.
        body["password"] = SECRET_MASK
    if not body.get("username"):
        body["password"] = None
    return body


def _page(request: Request, smtp: SmtpSettingsService, *, form: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, notice: str | None = None,
          test: dict[str, Any] | None = None, status: int = 200) -> Response:
    view = smtp.view()
    values = form if form is not None else {
        k: ("" if view.get(k) is None else view[k]) for k in _FIELDS}
    return render(request, "smtp/settings.html", {
        "view": view, "v": values, "errors": errors or {}, "notice": notice, "test": test,
        "mask": SECRET_MASK, "to": (form or {}).get("to", ""),
    }, status=status)


def _field_errors(exc: InvalidInput) -> dict[str, str]:
    return {str(e["loc"][-1]) if e["loc"] else "host": e["msg"] for e in exc.errors}


@router.get("/smtp")
def smtp_page(request: Request, smtp: SmtpDep, notice: str | None = None) -> Response:
    """The mail server settings and the test e-mail form."""
    return _admin_only(request) or _page(request, smtp, notice=notice)


@router.post("/smtp")
async def save_settings(request: Request, smtp: SmtpDep) -> Response:
    """Save the settings; errors appear next to the fields, what was typed is kept."""
    refused = _admin_only(request)
    if refused:
        return refused
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        await run_in_threadpool(smtp.replace, _body(form))
    except InvalidInput as exc:
        errors = _field_errors(exc)
        return await run_in_threadpool(
            lambda: _page(request, smtp, form=form, errors=errors, status=422))
    return RedirectResponse(f"/smtp?notice={quote('Saved the mail server settings.')}",
                            status_code=303)


@router.post("/smtp/test")
async def send_test(request: Request, smtp: SmtpDep) -> Response:
    """Send a test e-mail with the settings as typed (saved or not) and show the outcome."""
    refused = _admin_only(request)
    if refused:
        return refused
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        result = await smtp.send_test(form.get("to", ""), _body(form))
    except InvalidInput as exc:
        errors = _field_errors(exc)
        return await run_in_threadpool(
            lambda: _page(request, smtp, form=form, errors=errors, status=422))
    except NotFound as exc:
        missing = {"host": exc.message}
        return await run_in_threadpool(
            lambda: _page(request, smtp, form=form, errors=missing, status=404))
    return await run_in_threadpool(
        lambda: _page(request, smtp, form=form, test=result.to_dict()))

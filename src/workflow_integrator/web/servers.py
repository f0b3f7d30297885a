"""The Servers menu: the list of outbound servers and the configuration dialog."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.deps import SecretBoxDep, ServersDep
from workflow_integrator.domain.certificates import CertificateError, parse_certificates
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.services.errors import (
    InUse,
    InvalidInput,
    NotFound,
    ServiceError,
    Stale,
)
from workflow_integrator.services.outbound_servers import OutboundServerService, document
from workflow_integrator.store.secretbox import SecretBox
from workflow_integrator.web import server_form
from workflow_integrator.web.revisions import loaded_revision, stale_errors
from workflow_integrator.web.templating import refuse_viewer, render

router = APIRouter(include_in_schema=False)

AUTH_LABELS = {
    "basic": "Basic",
    "oauth2": "OAuth 2.0",
    "bearer": "Bearer Token",
    "none": "None",
}
GRANT_LABELS = {"password": "password credentials", "refresh_token": "refresh token"}


def _not_found(request: Request, message: str) -> Response:
    return render(request, "message.html", {"title": "Not found", "message": message}, status=404)


def server_url(name: str, action: str) -> str:
    """``/servers/<name>/<action>`` with the name escaped."""
    return f"/servers/{quote(name, safe='')}/{action}"


@router.get("/")
def home() -> Response:
    """The UI starts at the Servers menu."""
    return RedirectResponse("/servers", status_code=303)


@router.get("/servers")
def server_list(
    request: Request, servers: ServersDep, saved: str | None = None, deleted: str | None = None
) -> Response:
    """Every outbound server with its host, protocol, auth, TLS mode and state."""
    rows = []
    for view in servers.list_all():
        method = str(view.auth.get("method", "none"))
        label = AUTH_LABELS.get(method, method)
        if method == "oauth2":
            label += f" ({GRANT_LABELS.get(str(view.auth.get('grant_type')), '')})"
        rows.append({"view": view, "auth_label": label})
    notice = None
    if saved:
        notice = f"Saved outbound server {saved}."
    elif deleted:
        notice = f"Deleted outbound server {deleted}."
    return render(
        request, "servers/list.html", {"rows": rows, "notice": notice, "server_url": server_url}
    )


def _dialog(
    request: Request,
    secretbox: SecretBox,
    *,
    mode: str,
    values: dict[str, str],
    original: str | None = None,
    duplicate_of: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    status: int = 200,
    view: Any = None,
) -> Response:
    field_errors: dict[str, list[str]] = {}
    form_errors: list[str] = []
    if errors:
        values = server_form.carry_secrets(values, secretbox.encrypt)
    for error in errors or []:
        field = server_form.field_of(list(error.get("loc", [])), values)
        if field is None:
            form_errors.append(str(error.get("msg")))
        else:
            field_errors.setdefault(field, []).append(str(error.get("msg")))
    auth_tab_errors = sum(
        len(msgs) for f, msgs in field_errors.items() if f not in server_form.SERVER_TAB_FIELDS
    )
    server_tab_errors = sum(len(m) for m in field_errors.values()) - auth_tab_errors
    cert_info: list[dict[str, str]] = []
    cert_error = None
    if values.get("certificate", "").strip():
        try:
            cert_info = [
                info.as_dict()
                for info in parse_certificates(values["certificate"], check_expiry=False)
            ]
        except CertificateError as exc:
            cert_error = str(exc)
    action = server_url(original, "edit") if mode == "edit" and original else "/servers/new"
    return render(
        request,
        "servers/dialog.html",
        {
            "mode": mode,
            "v": values,
            "original": original,
            "duplicate_of": duplicate_of,
            "action": action,
            "errors": field_errors,
            "error_list": [
                (field, server_form.label_of(field), msg)
                for field, msgs in field_errors.items()
                for msg in msgs
            ],
            "form_errors": form_errors,
            "server_tab_errors": server_tab_errors,
            "auth_tab_errors": auth_tab_errors,
            "open_tab": "auth" if auth_tab_errors and not server_tab_errors else "server",
            "cert_info": cert_info,
            "cert_error": cert_error,
            "choices": server_form.AUTH_CHOICES,
            "input_name": server_form.input_name,
            "mask": MASK,
            "view": view,
        },
        status=status,
    )


@router.get("/servers/new")
def new_server(
    request: Request,
    servers: ServersDep,
    secretbox: SecretBoxDep,
    duplicate: str | None = None,
) -> Response:
    """The empty dialog, or a copy of ``duplicate`` under a new name."""
    if duplicate:
        try:
            view = servers.get(duplicate)
        except NotFound as exc:
            return _not_found(request, exc.message)
        values = server_form.values_from_document(view.model_dump(mode="json"))
        values["name"] = f"{duplicate} (copy)"
        return _dialog(request, secretbox, mode="duplicate", values=values, duplicate_of=duplicate)
    return _dialog(request, secretbox, mode="new", values=server_form.blank_values())


async def _form_values(request: Request, secretbox: SecretBox) -> dict[str, str]:
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    return server_form.restore_secrets(values, secretbox.decrypt)


@router.post("/servers/new")
async def create_server(request: Request, servers: ServersDep, secretbox: SecretBoxDep) -> Response:
    """Save a new server (or a duplicate); errors come back next to their fields."""
    refused = refuse_viewer(request)
    if refused:
        return refused
    values = await _form_values(request, secretbox)
    # Reading the form is async; saving touches the database, so it runs in a thread.
    return await run_in_threadpool(_create, request, servers, secretbox, values)


def _create(
    request: Request,
    servers: OutboundServerService,
    secretbox: SecretBox,
    values: dict[str, str],
) -> Response:
    duplicate_of = values.get("duplicate_of") or None
    try:
        base = servers.get(duplicate_of).model_dump(mode="json") if duplicate_of else None
        doc = server_form.document_from_form(values, base)
        if duplicate_of:
            # The copy takes the original's secrets where the dialog still shows the mask.
            resolved = servers.resolve_unsaved(doc, base=duplicate_of)
            doc = document(resolved, secrets="clear")
        view = servers.create(doc)
    except InvalidInput as exc:
        return _dialog(
            request,
            secretbox,
            mode="duplicate" if duplicate_of else "new",
            values=values,
            duplicate_of=duplicate_of,
            errors=exc.errors,
            status=422,
        )
    except ServiceError as exc:
        return _dialog(
            request,
            secretbox,
            mode="duplicate" if duplicate_of else "new",
            values=values,
            duplicate_of=duplicate_of,
            errors=[{"loc": ["name"], "msg": exc.message}],
            status=409,
        )
    return RedirectResponse(f"/servers?saved={quote(view.name)}", status_code=303)


@router.get("/servers/{name}/edit")
def edit_server(
    request: Request, servers: ServersDep, secretbox: SecretBoxDep, name: str
) -> Response:
    """The dialog filled with a saved server; secrets show as the mask."""
    try:
        view = servers.get(name)
    except NotFound as exc:
        return _not_found(request, exc.message)
    values = server_form.values_from_document(view.model_dump(mode="json"))
    values["revision"] = str(view.revision)
    return _dialog(request, secretbox, mode="edit", values=values, original=name, view=view)


@router.post("/servers/{name}/edit")
async def save_server(
    request: Request, servers: ServersDep, secretbox: SecretBoxDep, name: str
) -> Response:
    """Save changes; secrets still showing the mask keep their stored values."""
    refused = refuse_viewer(request)
    if refused:
        return refused
    values = await _form_values(request, secretbox)
    return await run_in_threadpool(_save, request, servers, secretbox, name, values)


def _save(
    request: Request,
    servers: OutboundServerService,
    secretbox: SecretBox,
    name: str,
    values: dict[str, str],
) -> Response:
    try:
        current = servers.get(name)
    except NotFound as exc:
        return _not_found(request, exc.message)
    new_name = values.get("name", "").strip() or name
    doc = server_form.document_from_form(values, current.model_dump(mode="json"))
    doc["name"] = name
    try:
        servers.replace(name, doc, expected_revision=loaded_revision(values))
    except Stale as exc:
        return _dialog(
            request,
            secretbox,
            mode="edit",
            values={**values, "revision": str(exc.current)},
            original=name,
            errors=stale_errors(exc),
            status=409,
            view=current,
        )
    except InvalidInput as exc:
        return _dialog(
            request,
            secretbox,
            mode="edit",
            values=values,
            original=name,
            errors=exc.errors,
            status=422,
            view=current,
        )
    except NotFound as exc:  # deleted by someone else meanwhile
        return _not_found(request, exc.message)
    except ServiceError as exc:
        return _dialog(
            request,
            secretbox,
            mode="edit",
            values=values,
            original=name,
            errors=[{"loc": [], "msg": exc.message}],
            status=409,
            view=current,
        )
    if new_name != name:
        try:
            servers.rename(name, new_name)
        except ServiceError as exc:
            message = exc.errors[0]["msg"] if isinstance(exc, InvalidInput) else exc.message
            return _dialog(
                request,
                secretbox,
                mode="edit",
                values=values,
                original=name,
                errors=[{"loc": ["name"], "msg": f"{message} (the other changes were saved)"}],
                status=422 if isinstance(exc, InvalidInput) else 409,
                view=current,
            )
    return RedirectResponse(f"/servers?saved={quote(new_name)}", status_code=303)


@router.get("/servers/{name}/delete")
def confirm_delete(request: Request, servers: ServersDep, name: str) -> Response:
    """Ask before deleting."""
    try:
        view = servers.get(name)
    except NotFound as exc:
        return _not_found(request, exc.message)
    return render(
        request, "servers/delete.html", {"view": view, "error": None, "server_url": server_url}
    )


@router.post("/servers/{name}/delete")
def delete_server(request: Request, servers: ServersDep, name: str) -> Response:
    """Delete, or explain which integrations still use the server."""
    refused = refuse_viewer(request)
    if refused:
        return refused
    try:
        servers.delete(name)
    except NotFound as exc:
        return _not_found(request, exc.message)
    except InUse as exc:
        view = servers.get(name)
        return render(
            request,
            "servers/delete.html",
            {"view": view, "error": exc.message, "used_by": exc.users, "server_url": server_url},
            status=409,
        )
    return RedirectResponse(f"/servers?deleted={quote(name)}", status_code=303)


@router.post("/servers/certificate-info", response_class=HTMLResponse)
async def certificate_info(request: Request, secretbox: SecretBoxDep) -> Response:
    """Subject and expiry of a certificate chosen in the dialog (before saving)."""
    values = await _form_values(request, secretbox)
    pem = values.get("certificate", "")
    info: list[dict[str, str]] = []
    error = None
    if pem.strip():
        try:
            info = [i.as_dict() for i in parse_certificates(pem, check_expiry=False)]
        except CertificateError as exc:
            error = str(exc)
    return render(
        request, "servers/certificate_info.html", {"cert_info": info, "cert_error": error}
    )

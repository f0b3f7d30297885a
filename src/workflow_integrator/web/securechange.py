"""The SecureChange menu: how WI reaches SecureChange (admins edit, viewers read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.deps import SecretBoxDep, SecureChangeDep
from workflow_integrator.domain.certificates import CertificateError
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.services.errors import InvalidInput, ServiceError
from workflow_integrator.store.secretbox import SecretBox
from workflow_integrator.web.notices import redirect_with_notice
from workflow_integrator.web.server_form import CARRIED_PREFIX
from workflow_integrator.web.servers import certificate_view
from workflow_integrator.web.templating import can_write, not_allowed, render

router = APIRouter(include_in_schema=False)

FIELDS = ("host", "protocol", "username", "password", "verify_certificate", "certificate",
          "timeout_seconds")
LABELS = {
    "host": "SecureChange host",
    "protocol": "Protocol",
    "username": "REST API user",
    "password": "Password",
    "verify_certificate": "Verify certificate",
    "certificate": "Certificate",
    "timeout_seconds": "Timeout (seconds)",
}


def _values(view: dict[str, Any]) -> dict[str, str]:
    return {
        field: "" if view.get(field) is None else _text(view[field]) for field in FIELDS
    }


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _body(values: dict[str, str]) -> dict[str, Any]:
    """The API document the form describes (the service keeps a masked password)."""
    body: dict[str, Any] = {field: values.get(field, "").strip() for field in FIELDS}
    body["password"] = values.get("password", "") or None
    if not body["timeout_seconds"]:
        body.pop("timeout_seconds")
    if body["verify_certificate"] != "certificate" or not body["certificate"]:
        body["certificate"] = None
    return body


async def _form(request: Request, secretbox: SecretBox) -> dict[str, str]:
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    sealed = values.pop(CARRIED_PREFIX + "password", "")
    if sealed and values.get("password") == MASK:
        try:
            values["password"] = secretbox.open_from_form(sealed, "securechange.password")
        except (RuntimeError, ValueError):  # a tampered value counts as not typed
            values["password"] = ""
    return values


def _page(
    request: Request,
    secretbox: SecretBox,
    values: dict[str, str],
    *,
    view: dict[str, Any],
    errors: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    field_errors: dict[str, list[str]] = {}
    general: list[str] = []
    for error in errors or []:
        loc = [str(part) for part in error.get("loc", []) if part != "body"]
        message = str(error.get("msg"))
        if loc and loc[0] in LABELS:
            if message not in field_errors.setdefault(loc[0], []):
                field_errors[loc[0]].append(message)
        elif message not in general:
            general.append(message)
    shown = dict(values)
    typed = values.get("password", "")
    if errors and typed and typed != MASK:
        # Re-shown after an error: the typed password goes back sealed, never in clear.
        shown["password"] = MASK
        shown[CARRIED_PREFIX + "password"] = secretbox.seal_for_form(typed, "securechange.password")
    cert_info: list[dict[str, str]] = []
    if shown.get("certificate", "").strip():
        try:
            cert_info = certificate_view(shown["certificate"])
        except CertificateError:
            cert_info = []
    return render(
        request,
        "securechange/settings.html",
        {
            "v": shown,
            "view": view,
            "errors": field_errors,
            "general_errors": general,
            "error_list": [
                (field, LABELS[field], msg) for field, msgs in field_errors.items() for msg in msgs
            ],
            "labels": LABELS,
            "mask": MASK,
            "cert_info": cert_info,
            "cert_error": None,
        },
        status=status,
    )


@router.get("/securechange")
def settings_page(
    request: Request, service: SecureChangeDep, secretbox: SecretBoxDep
) -> Response:
    """The connection settings; the password shows as the mask when one is stored."""
    view = service.view()
    values = _values(view)
    if not view["configured"]:
        values["verify_certificate"] = "enable"
    return _page(request, secretbox, values, view=view)


@router.post("/securechange")
async def save_settings(
    request: Request, service: SecureChangeDep, secretbox: SecretBoxDep
) -> Response:
    """Save (admins); errors come back next to their fields with what was typed."""
    if not can_write(request):
        return _forbidden(request)
    values = await _form(request, secretbox)
    try:
        await run_in_threadpool(service.replace, _body(values))
    except InvalidInput as exc:
        view = await run_in_threadpool(service.view)
        return _page(request, secretbox, values, view=view, errors=exc.errors, status=422)
    return redirect_with_notice(request, "/securechange", "Saved the SecureChange connection.")


@router.post("/securechange/test")
async def test_settings(
    request: Request, service: SecureChangeDep, secretbox: SecretBoxDep
) -> Response:
    """Test the values in the form, saved or not; nothing is saved."""
    if not can_write(request):
        return _forbidden(request)
    values = await _form(request, secretbox)
    try:
        check = await service.test(_body(values))
    except InvalidInput as exc:
        messages = [
            f"{LABELS.get(str((e.get('loc') or [''])[0]), 'Settings')}: {e.get('msg')}"
            for e in exc.errors
        ]
        return render(request, "securechange/test_result.html", {"invalid": messages})
    except ServiceError as exc:
        return render(request, "securechange/test_result.html", {"invalid": [exc.message]})
    return render(request, "securechange/test_result.html", {"check": check, "invalid": []})


def _forbidden(request: Request) -> Response:
    return not_allowed(
        request,
        "you can look at the SecureChange connection but not change or test it.",
        ("/securechange", "Back to the SecureChange connection"),
    )

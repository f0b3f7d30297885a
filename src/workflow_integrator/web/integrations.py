"""The Integrations menu: the list of workflow integrations and the integration editor.

The editor is one form: workflow and default server, routes, points (trigger or step,
method, path, headers, body template, response mappings) and a preview against a
ticket. Buttons of the form choose what a post does (save, add a point or route,
preview), so it works without JavaScript; a small script only inserts placeholders.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.deps import IntegrationsDep, ServicesDep
from workflow_integrator.app import Services
from workflow_integrator.domain.integration import EVENT_NAMES, FIELD_TYPE_NAMES
from workflow_integrator.services.errors import InvalidInput, NotFound, ServiceError, Stale
from workflow_integrator.services.integrations import document
from workflow_integrator.services.previews import PreviewResult
from workflow_integrator.web.revisions import loaded_revision, stale_errors
from workflow_integrator.web.templating import principal_of, refuse_viewer, render

router = APIRouter(include_in_schema=False)

KINDS = {
    "trigger": "General trigger",
    "inbound": "Step: entering (inbound)",
    "outbound": "Step: leaving (outbound)",
    "step_trigger": "Step: trigger in step",
}
METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")

EDITOR_SCRIPT = """
// Inserts a placeholder at the cursor of the template field used last.
(function () {
  var last = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-template]")) last = event.target;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-insert]");
    if (!button || !last) return;
    event.preventDefault();
    var text = "{{" + button.getAttribute("data-insert") + "}}";
    var start = last.selectionStart || 0, end = last.selectionEnd || 0;
    last.value = last.value.slice(0, start) + text + last.value.slice(end);
    last.focus();
    last.setSelectionRange(start + text.length, start + text.length);
  });
})();
"""

EDITOR_STYLE = """
.integration-editor { max-width: 64rem; }
.placeholder-list { display: flex; flex-wrap: wrap; gap: .25rem .9rem; list-style: none;
  padding: 0; margin: .25rem 0 1rem; }
.placeholder-list .hint { display: none; }
.placeholder-list button { font-family: ui-monospace, monospace; font-size: .85rem; }
textarea.code, pre.code { font-family: ui-monospace, monospace; font-size: .85rem; }
pre.code { white-space: pre-wrap; word-break: break-word; margin: .25rem 0; }
"""


def integration_url(workflow: str, action: str) -> str:
    """``/integrations/<workflow>/<action>`` with the workflow escaped."""
    return f"/integrations/{quote(workflow, safe='')}/{action}"


def _can_write(request: Request) -> bool:
    principal = principal_of(request)
    return bool(principal and principal.can_write)


def _message(request: Request, title: str, message: str, status: int) -> Response:
    return render(request, "message.html", {"title": title, "message": message}, status=status)


# -- form ⇄ document --------------------------------------------------------------------


def _lines(mapping: dict[str, str], separator: str) -> str:
    return "\n".join(f"{key}{separator}{value}" for key, value in mapping.items())


def _pairs(text: str, separator: str = ":") -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(separator)
        out[key.strip()] = value.strip()
    return out


def blank_point() -> dict[str, str]:
    """The values of a new, empty point."""
    return {
        "name": "",
        "kind": "trigger",
        "trigger": "CREATE",
        "step": "",
        "server": "",
        "enabled": "on",
        "method": "POST",
        "path": "",
        "headers": "",
        "body": "",
        "response": "",
    }


def values_from_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Form values of an integration document."""
    notify = doc.get("notify_on_failure") or {}
    points = []
    for point in doc.get("points", []):
        on = point.get("on", {})
        request = point.get("request", {})
        kind = "trigger" if not on.get("step") else on.get("when") or "step_trigger"
        points.append(
            {
                "name": point.get("name", ""),
                "kind": kind,
                "trigger": on.get("trigger") or "CREATE",
                "step": on.get("step") or "",
                "server": point.get("server") or "",
                "enabled": "on" if point.get("enabled", True) else "",
                "method": request.get("method", "POST"),
                "path": request.get("path", ""),
                "headers": _lines(request.get("headers") or {}, ": "),
                "body": request.get("body") or "",
                "response": _lines((point.get("response") or {}).get("fields") or {}, ": "),
            }
        )
    return {
        "workflow": doc.get("workflow", ""),
        "default_server": doc.get("default_server", ""),
        "enabled": "on" if doc.get("enabled", True) else "",
        "notify_requester": "on" if notify.get("requester") else "",
        "notify_handler": "on" if notify.get("handler") else "",
        "notify_addresses": ", ".join(notify.get("addresses", [])),
        "fields": _lines(doc.get("fields") or {}, ": "),
        "routes": [
            {"when": json.dumps(r.get("when"), indent=1), "server": r.get("server", "")}
            for r in doc.get("routes", [])
        ],
        "points": points,
    }


def values_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The editor's values as posted (rows marked for removal dropped)."""
    routes = []
    for i in range(_count(form, "route_count")):
        if form.get(f"route-{i}-remove"):
            continue
        routes.append(
            {"when": form.get(f"route-{i}-when", ""), "server": form.get(f"route-{i}-server", "")}
        )
    points = []
    for i in range(_count(form, "point_count")):
        if form.get(f"point-{i}-remove"):
            continue
        points.append({key: form.get(f"point-{i}-{key}", "") for key in blank_point()})
    return {
        "workflow": form.get("workflow", ""),
        "default_server": form.get("default_server", ""),
        "enabled": form.get("enabled", ""),
        "notify_requester": form.get("notify_requester", ""),
        "notify_handler": form.get("notify_handler", ""),
        "notify_addresses": form.get("notify_addresses", ""),
        "fields": form.get("fields", ""),
        "routes": routes,
        "points": points,
        "revision": form.get("revision", ""),
    }


def _count(form: dict[str, str], key: str) -> int:
    try:
        return max(0, min(int(form.get(key, "0")), 500))
    except ValueError:
        return 0


def document_from_values(values: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The integration document of the form, and errors of rows that are not even JSON."""
    errors: list[dict[str, Any]] = []
    routes = []
    for i, route in enumerate(values["routes"]):
        try:
            when = json.loads(route["when"] or "null")
        except json.JSONDecodeError as exc:
            errors.append({"loc": ["routes", i, "when"], "msg": f"not JSON: {exc.msg}"})
            when = None
        routes.append({"when": when, "server": route["server"]})
    points = []
    for point in values["points"]:
        kind = point["kind"]
        on: dict[str, Any]
        if kind == "trigger":
            on = {"trigger": point["trigger"]}
        elif kind == "step_trigger":
            on = {"step": point["step"], "trigger": point["trigger"]}
        else:
            on = {"step": point["step"], "when": kind}
        item: dict[str, Any] = {
            "name": point["name"],
            "on": on,
            "enabled": bool(point["enabled"]),
            "request": {
                "method": point["method"],
                "path": point["path"],
                "headers": _pairs(point["headers"]),
                "body": point["body"] or None,
            },
        }
        if point["server"]:
            item["server"] = point["server"]
        mapping = _pairs(point["response"])
        if mapping:
            item["response"] = {"fields": mapping}
        points.append(item)
    addresses = [a.strip() for a in values["notify_addresses"].replace("\n", ",").split(",")]
    doc = {
        "workflow": values["workflow"],
        "default_server": values["default_server"],
        "enabled": bool(values["enabled"]),
        "routes": routes,
        "notify_on_failure": {
            "requester": bool(values["notify_requester"]),
            "handler": bool(values["notify_handler"]),
            "addresses": [a for a in addresses if a],
        },
        "fields": _pairs(values["fields"]),
        "points": points,
    }
    return doc, errors


def error_key(loc: list[Any]) -> str | None:
    """Which editor field an error location belongs to (None: the whole form)."""
    if not loc:
        return None
    head = loc[0]
    if head in ("workflow", "default_server", "enabled", "fields"):
        return str(head)
    if head == "notify_on_failure":
        return "notify_addresses"
    if head == "routes" and len(loc) >= 3:
        return f"route-{loc[1]}-{'server' if loc[2] == 'server' else 'when'}"
    if head == "points" and len(loc) >= 3 and isinstance(loc[1], int):
        index, part = loc[1], loc[2]
        if part == "request" and len(loc) >= 4:
            return f"point-{index}-{loc[3]}"
        if part == "on":
            return f"point-{index}-on"
        if part in ("name", "server", "response"):
            return f"point-{index}-{part}"
    return None


# -- pages -------------------------------------------------------------------------------


@router.get("/integrations")
def integration_list(
    request: Request,
    integrations: IntegrationsDep,
    saved: str | None = None,
    deleted: str | None = None,
) -> Response:
    """Every integration with its default server and number of routes and points."""
    notice = None
    if saved:
        notice = f"Saved the integration of {saved}."
    elif deleted:
        notice = f"Deleted the integration of {deleted}."
    return render(
        request,
        "integrations/list.html",
        {
            "views": integrations.list_all(),
            "notice": notice,
            "integration_url": integration_url,
        },
    )


@router.get("/integrations/editor.css")
def editor_style() -> Response:
    """The editor's few extra styles."""
    return Response(EDITOR_STYLE, media_type="text/css")


@router.get("/integrations/editor.js")
def editor_script() -> Response:
    """The editor's one script (served from here, so the page needs no inline code)."""
    return Response(EDITOR_SCRIPT, media_type="text/javascript")


def _editor(
    request: Request,
    services: Services,
    values: dict[str, Any],
    *,
    original: str | None,
    errors: list[dict[str, Any]] | None = None,
    preview: PreviewResult | None = None,
    preview_values: dict[str, str] | None = None,
    preview_error: str | None = None,
    status: int = 200,
) -> Response:
    field_errors: dict[str, list[str]] = {}
    form_errors: list[str] = []
    for error in errors or []:
        key = error_key(list(error.get("loc", [])))
        message = str(error.get("msg"))
        if key is None:
            where = ".".join(str(p) for p in error.get("loc", []))
            form_errors.append(f"{where}: {message}" if where else message)
        else:
            field_errors.setdefault(key, []).append(message)
    catalog = services.integrations.placeholders()
    declared = list(_pairs(values.get("fields", "")))
    servers = [view.name for view in services.servers.list_all()]
    action = integration_url(original, "edit") if original else "/integrations/new"
    return render(
        request,
        "integrations/editor.html",
        {
            "v": values,
            "original": original,
            "action": action,
            "errors": field_errors,
            "form_errors": form_errors,
            "servers": servers,
            "kinds": KINDS,
            "events": EVENT_NAMES,
            "methods": METHODS,
            "field_types": FIELD_TYPE_NAMES,
            "placeholders": catalog.placeholders,
            "custom_error": catalog.custom_functions_error,
            "declared": declared,
            "preview": preview,
            "pv": preview_values or {"event": "CREATE"},
            "preview_error": preview_error,
            "integration_url": integration_url,
        },
        status=status,
    )


@router.get("/integrations/new")
def new_integration(request: Request, services: ServicesDep) -> Response:
    """An empty editor with one point."""
    values = values_from_document({"enabled": True})
    values["points"] = [blank_point()]
    return _editor(request, services, values, original=None)


@router.get("/integrations/{workflow}/edit")
def edit_integration(request: Request, services: ServicesDep, workflow: str) -> Response:
    """The editor filled with a saved integration."""
    try:
        view = services.integrations.get(workflow)
    except NotFound as exc:
        return _message(request, "Not found", exc.message, 404)
    values = values_from_document(document(view))
    values["revision"] = str(view.revision)
    return _editor(request, services, values, original=view.workflow)


@router.post("/integrations/new")
async def post_new(request: Request, services: ServicesDep) -> Response:
    """Save, add a row or preview a new integration."""
    return await _post(request, services, original=None)


@router.post("/integrations/{workflow}/edit")
async def post_edit(request: Request, services: ServicesDep, workflow: str) -> Response:
    """Save, add a row or preview an existing integration."""
    return await _post(request, services, original=workflow)


async def _post(request: Request, services: Services, original: str | None) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    values = values_from_form(form)
    if form.get("action", "save") == "preview":
        return await _preview(request, services, values, original, _pv(form))
    # Everything else reads or writes the database: off the event loop.
    return await run_in_threadpool(_change, request, services, form, values, original)


def _change(
    request: Request,
    services: Services,
    form: dict[str, str],
    values: dict[str, Any],
    original: str | None,
) -> Response:
    action = form.get("action", "save")
    if action == "add_point":
        values["points"].append(blank_point())
        return _editor(request, services, values, original=original, preview_values=_pv(form))
    if action == "add_route":
        values["routes"].append(
            {
                "when": '{"field": "", "op": "equals", "value": ""}',
                "server": values["default_server"],
            }
        )
        return _editor(request, services, values, original=original, preview_values=_pv(form))
    refused = refuse_viewer(request)
    if refused:
        return refused
    doc, shape_errors = document_from_values(values)
    if shape_errors:
        return _editor(
            request, services, values, original=original, errors=shape_errors, status=422
        )
    service = services.integrations
    try:
        view = (
            service.replace(original, doc, expected_revision=loaded_revision(values))
            if original
            else service.create(doc)
        )
    except Stale as exc:
        values["revision"] = str(exc.current)
        return _editor(
            request, services, values, original=original, errors=stale_errors(exc), status=409
        )
    except InvalidInput as exc:
        return _editor(request, services, values, original=original, errors=exc.errors, status=422)
    except NotFound as exc:
        return _message(request, "Not found", exc.message, 404)
    except ServiceError as exc:
        return _editor(
            request,
            services,
            values,
            original=original,
            errors=[{"loc": ["workflow"], "msg": exc.message}],
            status=409,
        )
    return RedirectResponse(f"/integrations?saved={quote(view.workflow)}", status_code=303)


def _pv(form: dict[str, str]) -> dict[str, str]:
    return {
        key: form.get(f"preview_{key}", "")
        for key in ("ticket_id", "ticket", "event", "completed_step", "point")
    }


async def _preview(
    request: Request,
    services: Services,
    values: dict[str, Any],
    original: str | None,
    pv: dict[str, str],
) -> Response:
    """Preview the editor's contents: the ticket read is async, the page is built in a thread."""
    doc, errors = document_from_values(values)
    result: PreviewResult | None = None
    error: str | None = None
    if not errors:
        result, error, errors = await _run_preview(services, doc, pv)
    page = partial(
        _editor,
        request,
        services,
        values,
        original=original,
        errors=errors or None,
        preview=result,
        preview_values=pv,
        preview_error=error,
        status=200 if result is not None else 422,
    )
    return await run_in_threadpool(page)


async def _run_preview(
    services: Services, doc: dict[str, Any], pv: dict[str, str]
) -> tuple[PreviewResult | None, str | None, list[dict[str, Any]]]:
    """The preview, or the message for the preview box, or the document's errors."""
    ticket_id: int | None = None
    if pv["ticket_id"].strip():
        try:
            ticket_id = int(pv["ticket_id"].strip())
        except ValueError:
            return None, "the ticket id must be a number", []
    workflow = doc.pop("workflow") or "unsaved"
    try:
        result = await services.previews.preview(
            workflow,
            event=pv["event"] or "CREATE",
            ticket=pv["ticket"] or None,
            ticket_id=ticket_id,
            completed_step=pv["completed_step"] or None,
            point=pv["point"] or None,
            integration=doc,
        )
    except InvalidInput as exc:
        preview_locs = ("ticket", "ticket_id", "event", "point")
        own = [e for e in exc.errors if e.get("loc", [None])[0] in preview_locs]
        if own:
            return None, "; ".join(str(e["msg"]) for e in own), []
        return None, None, exc.errors
    except ServiceError as exc:
        return None, exc.message, []
    return result, None, []


@router.get("/integrations/{workflow}/delete")
def confirm_delete(request: Request, integrations: IntegrationsDep, workflow: str) -> Response:
    """Ask before deleting."""
    try:
        view = integrations.get(workflow)
    except NotFound as exc:
        return _message(request, "Not found", exc.message, 404)
    return render(
        request, "integrations/delete.html", {"view": view, "integration_url": integration_url}
    )


@router.post("/integrations/{workflow}/delete")
def delete_integration(request: Request, integrations: IntegrationsDep, workflow: str) -> Response:
    """Delete an integration."""
    if not _can_write(request):
        return _message(request, "Not allowed", "Your role is viewer: you cannot delete.", 403)
    try:
        integrations.delete(workflow)
    except NotFound as exc:
        return _message(request, "Not found", exc.message, 404)
    return RedirectResponse(f"/integrations?deleted={quote(workflow)}", status_code=303)

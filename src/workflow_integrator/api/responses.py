"""The error answers of the API, declared in the OpenAPI document in one place.

Most follow from what a route is made of, so :func:`declare_errors` derives them from
each route: a caller checked by role answers 401 and 403, a path parameter names a
thing that may not exist (404), parameters or a body may be malformed (422), and a
body may be too large (413) or not UTF-8 (415). What only a route knows (a name
taken, a revision moved on, a setting not saved) it declares itself with the
constants below.
"""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from workflow_integrator.api.deps import (
    current_principal,
    require_admin,
    require_event_source,
    require_viewer,
)

Responses = dict[int | str, dict[str, Any]]

PROBLEM_SCHEMA = "Problem"
"""Component name of ``{"detail": "..."}``, the body of every error but 422."""

_PROBLEM = {"content": {"application/json": {"schema": {
    "$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}}}}
_INVALID = {"content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/HTTPValidationError"}}}}

PROBLEM_COMPONENT: dict[str, Any] = {
    "title": PROBLEM_SCHEMA,
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "What is wrong and how to fix it"},
        "used_by": {"type": "array", "items": {"type": "string"},
                    "description": "With 409 on delete: what still uses the thing"},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_PROBLEM}


CONFLICT: Responses = {409: _error("the change clashes with what exists (e.g. a name taken)")}
"""For routes that create, rename or replace something with a unique name."""
IN_USE: Responses = {409: _error("still in use; ``used_by`` names the users")}
"""For deletes refused while something refers to the thing."""
IF_MATCH: Responses = {412: _error("If-Match names an older revision, or is malformed")}
"""For routes that honour ``If-Match``."""
NOT_SAVED: Responses = {404: _error("nothing is saved yet")}
"""For routes on a singleton setting that may not exist."""
BAD_EVENT: Responses = {400: _error("the event or filter is malformed; the text says how")}
"""For the event intake and event filters, which answer 400 naming the field."""

_BY_STATUS: dict[int, dict[str, Any]] = {
    401: _error("no API token, or one WI does not know"),
    403: _error("the token's role may not do this"),
    404: _error("no such thing"),
    413: _error("the body is larger than WI_MAX_BODY_BYTES"),
    415: _error("the body is not UTF-8 (or not of a type the route reads)"),
    422: {"description": "a parameter or the body is invalid; one entry per field",
          **_INVALID},
}

_ROLE_CHECKS = (require_viewer, require_admin, require_event_source)


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _has_body(route: Any) -> bool:
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def errors_of(route: Any) -> list[int]:
    """The error statuses ``route`` can answer by its make-up (auth, parameters, body)."""
    calls = _calls(route.dependant)
    statuses: list[int] = []
    if current_principal in calls:
        statuses.append(401)
    if calls.intersection(_ROLE_CHECKS):
        statuses.append(403)
    if route.dependant.path_params:
        statuses.append(404)
    if _has_body(route):
        statuses += [413, 415]
    if (_has_body(route) or route.dependant.path_params or route.dependant.query_params
            or route.dependant.header_params):
        statuses.append(422)
    return statuses


def declare_errors(schema: dict[str, Any], routes: list[Any]) -> None:
    """Add the derived error answers of every documented route to ``schema``'s paths."""
    schema.setdefault("components", {}).setdefault("schemas", {})[PROBLEM_SCHEMA] = (
        PROBLEM_COMPONENT)
    # FastAPI includes routers lazily: their routes are reached through route contexts.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        operations = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            for status in errors_of(route):
                answers.setdefault(str(status), _BY_STATUS[status])

"""The Users menu (admins only): add users, change roles, delete."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from workflow_integrator.api.deps import UsersDep
from workflow_integrator.services.errors import InvalidInput, NotFound, ServiceError
from workflow_integrator.services.users import UserService
from workflow_integrator.web.templating import principal_of, render

router = APIRouter(include_in_schema=False)


def _admin_only(request: Request) -> Response | None:
    principal = principal_of(request)
    if principal is not None and principal.can_write:
        return None
    return render(
        request,
        "message.html",
        {"title": "Not allowed", "message": "Only admins manage users."},
        status=403,
    )


def _page(
    request: Request,
    users: UserService,
    *,
    notice: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "users/list.html",
        {
            "users": users.list_all(),
            "notice": notice,
            "error": error,
            "errors": errors or {},
            "form": form or {"name": "", "role": "viewer"},
            "quote": quote,
        },
        status=status,
    )


@router.get("/users")
def user_list(request: Request, users: UsersDep, notice: str | None = None) -> Response:
    """Users with their roles and last sign-in, and the form to add one."""
    return _admin_only(request) or _page(request, users, notice=notice)


@router.post("/users")
def add_user(
    request: Request,
    users: UsersDep,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    """Add a user; errors appear next to the fields."""
    refused = _admin_only(request)
    if refused:
        return refused
    form = {"name": name, "role": role}
    if password != repeat_password:
        return _page(
            request,
            users,
            errors={"repeat_password": "the two passwords differ"},
            form=form,
            status=422,
        )
    try:
        view = users.add(name, role, password)
    except InvalidInput as exc:
        errors = {str(e["loc"][-1]): e["msg"] for e in exc.errors}
        return _page(request, users, errors=errors, form=form, status=422)
    except ServiceError as exc:
        return _page(request, users, errors={"name": exc.message}, form=form, status=409)
    return RedirectResponse(
        f"/users?notice={quote(f'Added {view.role} {view.name}.')}", status_code=303
    )


@router.post("/users/{name}/role")
def change_role(
    request: Request, users: UsersDep, name: str, role: Annotated[str, Form()] = ""
) -> Response:
    """Make a user admin or viewer (the last admin stays admin)."""
    refused = _admin_only(request)
    if refused:
        return refused
    try:
        view = users.set_role(name, role)
    except NotFound as exc:
        return _page(request, users, error=exc.message, status=404)
    except InvalidInput as exc:
        return _page(request, users, error=exc.errors[0]["msg"], status=422)
    except ServiceError as exc:
        return _page(request, users, error=exc.message, status=409)
    return RedirectResponse(
        f"/users?notice={quote(f'{view.name} is now {view.role}.')}", status_code=303
    )


@router.get("/users/{name}/delete")
def confirm_delete(request: Request, name: str) -> Response:
    """Ask before deleting a user."""
    return _admin_only(request) or render(
        request, "users/delete.html", {"name": name, "path": quote(name, safe="")}
    )


@router.post("/users/{name}/delete")
def delete_user(request: Request, users: UsersDep, name: str) -> Response:
    """Delete a user; their sessions end at once."""
    refused = _admin_only(request)
    if refused:
        return refused
    try:
        users.delete(name)
    except NotFound as exc:
        return _page(request, users, error=exc.message, status=404)
    except ServiceError as exc:
        return _page(request, users, error=exc.message, status=409)
    return RedirectResponse(f"/users?notice={quote(f'Deleted user {name}.')}", status_code=303)

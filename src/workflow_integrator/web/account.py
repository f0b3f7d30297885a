"""The signed-in user's own account: changing the password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from workflow_integrator.api.deps import ServicesDep
from workflow_integrator.services.errors import InvalidInput
from workflow_integrator.services.users import INITIAL_ADMIN, INITIAL_PASSWORD_FILE
from workflow_integrator.web.security import SESSION_COOKIE
from workflow_integrator.web.templating import principal_of, render

router = APIRouter(include_in_schema=False)


@router.get("/account/password")
def password_page(request: Request) -> Response:
    """The form to change one's own password."""
    return render(request, "account/password.html", {"errors": {}})


@router.post("/account/password")
def change_password(
    request: Request,
    services: ServicesDep,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    """Change the password; every session of the user ends, so sign in again."""
    principal = principal_of(request)
    if principal is None:  # the middleware lets no signed-out request get here
        return RedirectResponse("/sign-in", status_code=303)
    if new_password != repeat_password:
        errors = {"repeat_password": "the two new passwords differ"}
        return render(request, "account/password.html", {"errors": errors}, status=422)
    try:
        services.users.change_own_password(principal.name, current_password, new_password)
    except InvalidInput as exc:
        # The service names the new password "password"; the form calls it new_password.
        errors = {
            "new_password" if e["loc"] == ["password"] else str(e["loc"][-1]): e["msg"]
            for e in exc.errors
        }
        return render(request, "account/password.html", {"errors": errors}, status=422)
    if principal.name == INITIAL_ADMIN:
        # The generated first password is void now; do not leave it lying around.
        (services.settings.data_dir / INITIAL_PASSWORD_FILE).unlink(missing_ok=True)
    response = RedirectResponse("/sign-in?changed=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

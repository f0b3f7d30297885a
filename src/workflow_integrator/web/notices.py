"""The "Saved …" banner after a change: carried to the next page in a sealed cookie.

The banner never comes from the URL, so no link can make WI claim it saved,
deleted or added something it did not.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from workflow_integrator.store.secretbox import SecretBox
from workflow_integrator.web.security import is_https

NOTICE_COOKIE = "wi_notice"


def redirect_with_notice(request: Request, url: str, message: str) -> RedirectResponse:
    """Go to ``url`` (303) and show ``message`` there once."""
    response = RedirectResponse(url, status_code=303)
    secretbox: SecretBox = request.app.state.services.secretbox
    # The form key: short-lived and bound to this use, never the stored-secrets key.
    sealed = secretbox.seal_for_form(message, NOTICE_COOKIE)
    response.set_cookie(
        NOTICE_COOKIE,
        sealed,
        max_age=120,
        httponly=True,
        samesite="lax",
        secure=is_https(request.scope),
        path="/",
    )
    return response


def take_notice(request: Request) -> str | None:
    """The message a redirect left for this page, if WI sealed it."""
    sealed = request.cookies.get(NOTICE_COOKIE)
    if not sealed:
        return None
    secretbox: SecretBox = request.app.state.services.secretbox
    try:
        message = secretbox.open_from_form(sealed, NOTICE_COOKIE)
    except (RuntimeError, ValueError):  # not sealed by WI: shown never
        return None
    return message


def clear_notice(request: Request, response: Response) -> None:
    """Forget the message once a page has shown it."""
    if NOTICE_COOKIE in request.cookies:
        response.delete_cookie(NOTICE_COOKIE, path="/")

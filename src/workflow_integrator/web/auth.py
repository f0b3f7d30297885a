"""Signing in and out of the web UI."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from workflow_integrator.api.deps import ServicesDep, UsersDep
from workflow_integrator.services.users import (
    INITIAL_PASSWORD_FILE,
    SESSION_MAX,
    SignInRefused,
)
from workflow_integrator.web.security import SESSION_COOKIE, is_https
from workflow_integrator.web.templating import principal_of, render
from workflow_integrator.web.throttle import SignInThrottle

router = APIRouter(include_in_schema=False)

# Binds the sign-in form to the browser that loaded it (login CSRF).
SIGN_IN_COOKIE = "wi_signin"


def _throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would help phishing.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/servers"


def _form_page(
    request: Request,
    data_dir: Path,
    next_url: str,
    error: str | None,
    status: int,
    name: str = "",
    *,
    changed: bool = False,
) -> Response:
    # Reuse the browser's nonce: two tabs (or a favicon fetch) must not void each other.
    nonce = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    if len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "sign_in.html",
        {
            "next": next_url,
            "error": error,
            "sign_in_nonce": nonce,
            "name": name,
            "changed": changed,
            "first_start": (data_dir / INITIAL_PASSWORD_FILE).exists(),
        },
        status=status,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=is_https(request.scope),
        path="/sign-in",
    )
    return response


@router.get("/sign-in")
def sign_in_page(
    request: Request, services: ServicesDep, next: str | None = None, changed: str | None = None
) -> Response:
    """The sign-in form (signed-in users go straight on)."""
    if principal_of(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _form_page(
        request, services.settings.data_dir, _safe_next(next), None, 200, changed=bool(changed)
    )


@router.post("/sign-in")
def sign_in(
    request: Request,
    services: ServicesDep,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    sign_in_nonce: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/servers",
) -> Response:
    """Check the password, open a session and set the session cookie."""
    target = _safe_next(next)
    cookie_nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    if not cookie_nonce or not hmac.compare_digest(cookie_nonce.encode(), sign_in_nonce.encode()):
        return _form_page(
            request,
            services.settings.data_dir,
            target,
            "the sign-in form expired; please sign in again",
            403,
            name,
        )
    address = request.client.host if request.client else "unknown"
    wait = _throttle(request).retry_after(address)
    if wait is not None:
        return _form_page(
            request,
            services.settings.data_dir,
            target,
            f"too many failed sign-ins from your address; try again in {wait} seconds",
            429,
            name,
        )
    try:
        signed = services.users.sign_in(name, password)
    except SignInRefused as exc:
        _throttle(request).failed(address)
        return _form_page(
            request,
            services.settings.data_dir,
            target,
            exc.message,
            429 if exc.retry_after else 401,
            name,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        # The server ends idle sessions; the browser keeps the cookie for the longest life.
        max_age=int(SESSION_MAX.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_https(request.scope),
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
def sign_out(request: Request, users: UsersDep) -> Response:
    """End the session (the middleware has checked the CSRF token)."""
    token = getattr(request.state, "session_token", None)
    if token:
        users.sign_out(token)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work): open to everyone."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from workflow_integrator import __version__
from workflow_integrator.api.deps import ServicesDep
from workflow_integrator.app import Services
from workflow_integrator.store import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """``ok`` while the process answers HTTP (a liveness probe: restart when it fails)."""
    return {"status": "ok", "version": __version__}


@cache
def _head() -> str | None:
    return migrate.head_revision()


def _database(services: Services) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.current_revision(services.engine)
    except SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        detail = f"cannot reach the database: {type(exc).__name__}: {first_line}"
        return ({"ok": False, "detail": detail.strip(), "required": True},
                {"ok": False, "detail": "unknown while the database is unreachable",
                 "required": True})
    database = {"ok": True, "detail": services.engine.dialect.name, "required": True}
    head = _head()
    if current != head:
        migrations = {"ok": False, "required": True,
                      "detail": f"database at {current or 'no revision'}, this WI needs {head}: "
                      "run `wi db upgrade`"}
    else:
        migrations = {"ok": True, "detail": f"at {head}", "required": True}
    return database, migrations


@router.get("/readyz", responses={503: {"description": "a required part is failing"}})
def readyz(services: ServicesDep) -> JSONResponse:
    """200 when the database answers at the newest schema and the workers run, else 503.

    The body names every part and says which fail; the SecureChange connection is shown
    with its last check but does not decide readiness (WI keeps events while it is down).
    """
    database, migrations = _database(services)
    checks: dict[str, dict[str, Any]] = {"database": database, "migrations": migrations}
    parts = services.readiness.parts()
    for name, state in parts.items():
        checks[name] = state.to_dict()
    checks.setdefault("workers", {"ok": True, "required": False,
                                  "detail": "no delivery workers run in this process"})
    checks.setdefault("securechange", {"ok": None, "required": False,
                                       "detail": "not checked since this process started"})
    failing = [name for name, check in checks.items()
               if check["required"] and not check["ok"]]
    body = {"status": "not ready" if failing else "ready", "version": __version__,
            "failing": failing, "checks": checks}
    return JSONResponse(body, status_code=503 if failing else 200)

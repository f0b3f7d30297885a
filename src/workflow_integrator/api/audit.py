"""REST: ``/api/v1/audit``: who changed which configuration, when and from where (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from workflow_integrator.api.deps import AdminDep, AuditDep
from workflow_integrator.api.timestamps import Timestamp
from workflow_integrator.domain.bounds import ROW_ID_MAX
from workflow_integrator.services.audit import MAX_PAGE, SubjectKind
from workflow_integrator.store.audit import AuditFilter

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("")
def list_audit(
    audit: AuditDep,
    _: AdminDep,
    kind: Annotated[SubjectKind | None, Query(description="what was changed")] = None,
    subject: Annotated[str | None, Query(max_length=200,
                                         description="its name, e.g. a server's")] = None,
    actor: Annotated[str | None, Query(max_length=200,
                                       description="who: a token, user or OS user")] = None,
    since: Annotated[Timestamp | None, Query(description="at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="before")] = None,
    before_id: Annotated[int | None, Query(
        ge=1, le=ROW_ID_MAX, description="next_before_id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """Changes of servers, integrations, settings, users and tokens, newest first, paged.

    Each record names the actor (API token, user or CLI), the client address, the
    action and a diff ``{field: [before, after]}`` in which secrets show as ``********``.
    """
    items = audit.list(AuditFilter(subject_kind=kind, subject=subject, actor=actor,
                                   since=since, until=until, before_id=before_id, limit=limit))
    next_id = items[-1]["id"] if len(items) == limit else None
    return {"items": items, "next_before_id": next_id}

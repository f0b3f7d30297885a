"""The Audit page (admins only): who changed which configuration, when and from where."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from workflow_integrator.api.deps import AuditDep
from workflow_integrator.services.audit import SUBJECT_KINDS
from workflow_integrator.store.audit import AuditFilter
from workflow_integrator.web.templating import not_allowed, principal_of, render

router = APIRouter(include_in_schema=False)

PAGE = 100


@router.get("/audit")
def audit_list(
    request: Request,
    audit: AuditDep,
    kind: Annotated[str, Query()] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
    before_id: Annotated[str, Query()] = "",
) -> Response:
    """The newest changes, filtered by kind and name, 100 a page."""
    principal = principal_of(request)
    if principal is None or not principal.can_write:
        return not_allowed(request, "only admins read the audit log.",
                           ("/servers", "Back to the servers"))
    chosen = kind if kind in SUBJECT_KINDS else None
    older = int(before_id) if before_id.isascii() and before_id.isdigit() \
        and len(before_id) < 19 else None
    records = audit.list(AuditFilter(subject_kind=chosen, subject=subject or None,
                                     before_id=older, limit=PAGE))
    return render(request, "audit/list.html", {
        "records": records, "kinds": SUBJECT_KINDS, "kind": chosen or "",
        "subject": subject,
        "next_before_id": records[-1]["id"] if len(records) == PAGE else None,
    })

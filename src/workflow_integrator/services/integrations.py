"""Workflow integrations: create, read, change, delete, import and export, with validation.

Server references are stored as ids (renaming a server keeps its integrations) and
shown as names. Every save checks the document as a whole: servers exist, every
placeholder is known, every template parses, every body renders to valid JSON.
Previews live in ``previews``, planning in ``planning``, the catalogue in ``placeholders``.
"""

from __future__ import annotations

import difflib
from contextlib import AbstractContextManager
from copy import deepcopy
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.conditions import condition_fields
from workflow_integrator.domain.integration import Integration, fold
from workflow_integrator.domain.merge_patch import merge_patch
from workflow_integrator.services import audit
from workflow_integrator.services.errors import Conflict, InvalidInput, NotFound, Stale
from workflow_integrator.services.outbound_servers import ImportReport
from workflow_integrator.services.placeholders import PlaceholderCatalog, PlaceholderService
from workflow_integrator.services.transactions import write_transaction
from workflow_integrator.store import integrations as store
from workflow_integrator.store.integrations import IntegrationRow
from workflow_integrator.store.servers import OutboundServerRow
from workflow_integrator.templating.placeholders import PREDEFINED, SampleValues
from workflow_integrator.templating.template import (
    RenderError,
    TemplateError,
    json_shape_problem,
    parse_template,
    render_json,
    slots,
)


class IntegrationView(Integration):
    """An integration as the API shows it, with its bookkeeping."""

    revision: int
    created_at: datetime
    updated_at: datetime
    warnings: list[str]


class IntegrationService:
    """Every operation on integrations, shared by the API, the UI and the CLI."""

    def __init__(self, sessions: sessionmaker[Session], placeholders: PlaceholderService) -> None:
        self._sessions = sessions
        self._placeholders = placeholders

    # -- reading -------------------------------------------------------------------

    def list_all(self) -> list[IntegrationView]:
        """All integrations by workflow name."""
        with self._sessions() as session:
            names = _server_names(session)
            return [self._view(row, names) for row in store.list_rows(session)]

    def get(self, workflow: str) -> IntegrationView:
        """One integration."""
        with self._sessions() as session:
            return self._view(self._row(session, workflow), _server_names(session))

    def get_integration(self, workflow: str) -> Integration:
        """The integration of ``workflow`` (NotFound when there is none)."""
        with self._sessions() as session:
            return self._load(self._row(session, workflow), _server_names(session))

    def for_workflow(self, workflow: str) -> Integration | None:
        """The integration of ``workflow``, or None: what delivery planning asks per event."""
        with self._sessions() as session:
            row = store.find_by_key(session, fold(workflow))
            return self._load(row, _server_names(session)) if row else None

    def usage(self, session: Session, server_id: int) -> list[str]:
        """Names of the integrations sending to server ``server_id`` (for server deletes)."""
        return [f"integration '{name}'" for name in store.workflows_using(session, server_id)]

    def placeholders(self, workflow: str | None = None) -> PlaceholderCatalog:
        """Every placeholder name a template may use (with the workflow's declared fields)."""
        fields = self.get_integration(workflow).fields if workflow is not None else None
        return self._placeholders.catalog(fields)

    # -- writing -------------------------------------------------------------------

    def validate(self, body: Any) -> Integration:
        """Check a document without saving it (what the UI's "Check" does)."""
        with self._sessions() as session:
            return self._validate(session, body)

    def create(self, body: Any) -> IntegrationView:
        """Create the integration of a workflow (409 if the workflow has one)."""
        with self._transaction() as session:
            integration = self._validate(session, body)
            existing = store.find_by_key(session, fold(integration.workflow))
            if existing is not None:
                raise Conflict(
                    f"workflow '{existing.workflow}' already has an integration; change it "
                    f"with PUT /api/v1/integrations/{existing.workflow} or "
                    f"`wi integrations edit '{existing.workflow}'`"
                )
            row = IntegrationRow(workflow=integration.workflow)
            self._store(session, row, integration)
            return self._view(row, _server_names(session))

    def replace(
        self, workflow: str, body: Any, *, expected_revision: int | None = None
    ) -> IntegrationView:
        """Replace an integration; a different ``workflow`` in the body renames it.

        With ``expected_revision`` the change is refused (:class:`Stale`) when the
        integration has moved on since the caller read it.
        """
        if not isinstance(body, dict):
            raise InvalidInput.single([], "the body must be a JSON object")
        with self._transaction() as session:
            row = self._locked_row(session, workflow, expected_revision)
            return self._replace(session, row, body)

    def update(
        self, workflow: str, patch: Any, *, expected_revision: int | None = None
    ) -> IntegrationView:
        """PATCH: a JSON merge patch (RFC 7396) over the current document.

        Read and write happen in one transaction on a locked row, so concurrent patches
        apply one after the other; ``expected_revision`` works as in :meth:`replace`.
        """
        if not isinstance(patch, dict):
            raise InvalidInput.single([], "the body must be a JSON object")
        with self._transaction() as session:
            row = self._locked_row(session, workflow, expected_revision)
            current = document(self._load(row, _server_names(session)))
            return self._replace(session, row, merge_patch(current, patch))

    def _replace(
        self, session: Session, row: IntegrationRow, body: dict[str, Any]
    ) -> IntegrationView:
        body = {**body}
        body.setdefault("workflow", row.workflow)
        integration = self._validate(session, body)
        clash = store.find_by_key(session, fold(integration.workflow))
        if clash is not None and clash.id != row.id:
            raise Conflict(f"workflow '{clash.workflow}' already has an integration")
        self._store(session, row, integration)
        return self._view(row, _server_names(session))

    def delete(self, workflow: str) -> None:
        """Delete an integration."""
        with self._transaction() as session:
            row = self._row(session, workflow)
            audit.record(session, "delete", "integration", row.workflow,
                         document(self._load(row, _server_names(session))), None)
            session.delete(row)

    # -- import / export -----------------------------------------------------------

    def export(self, workflows: list[str] | None = None) -> list[dict[str, Any]]:
        """Integration documents (the shape POST accepts), servers by name."""
        views = self.list_all()
        if workflows:
            known = {fold(v.workflow) for v in views}
            missing = [w for w in workflows if fold(w) not in known]
            if missing:
                raise NotFound(f"no integration for workflow {', '.join(missing)}")
            wanted = {fold(w) for w in workflows}
            views = [v for v in views if fold(v.workflow) in wanted]
        return [document(v) for v in views]

    def import_(self, docs: list[Any], *, dry_run: bool = False) -> ImportReport:
        """Validate every document first; change nothing unless all are valid."""
        errors: list[dict[str, Any]] = []
        plans: list[Integration] = []
        seen: set[str] = set()
        with self._sessions() as session:
            for index, raw in enumerate(docs):
                try:
                    integration = self._validate(session, raw)
                except InvalidInput as exc:
                    errors.extend({**e, "loc": [index, *e["loc"]]} for e in exc.errors)
                    continue
                key = fold(integration.workflow)
                if key in seen:
                    errors.append(
                        {
                            "loc": [index, "workflow"],
                            "type": "value_error",
                            "msg": f"'{integration.workflow}' appears twice in the import",
                        }
                    )
                    continue
                seen.add(key)
                plans.append(integration)
        if errors:
            raise InvalidInput(errors)
        report = ImportReport(created=[], updated=[], unchanged=[], dry_run=dry_run)
        with self._transaction() as session:
            names = _server_names(session)
            for integration in plans:
                row = store.find_by_key(session, fold(integration.workflow))
                if row is None:
                    report.created.append(integration.workflow)
                    if not dry_run:
                        self._store(
                            session, IntegrationRow(workflow=integration.workflow), integration
                        )
                elif self._load(row, names) == integration:
                    report.unchanged.append(integration.workflow)
                else:
                    report.updated.append(integration.workflow)
                    if not dry_run:
                        self._store(session, row, integration)
            if dry_run:
                session.rollback()
        return report

    # -- internals -----------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[Session]:
        return write_transaction(self._sessions)

    @staticmethod
    def _locked_row(
        session: Session, workflow: str, expected_revision: int | None
    ) -> IntegrationRow:
        row = store.find_by_key(session, fold(workflow), for_update=True)
        if row is None:
            raise NotFound(f"no integration for workflow '{workflow}'")
        Stale.check(
            f"the integration of workflow '{row.workflow}'", row.revision, expected_revision
        )
        return row

    @staticmethod
    def _row(session: Session, workflow: str) -> IntegrationRow:
        row = store.find_by_key(session, fold(workflow))
        if row is None:
            raise NotFound(f"no integration for workflow '{workflow}'")
        return row

    def _validate(self, session: Session, body: Any) -> Integration:
        if not isinstance(body, dict):
            raise InvalidInput.single([], "an integration must be a JSON object")
        try:
            integration = Integration.model_validate(body)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, body) from None
        errors = self._reference_errors(session, integration)
        if errors:
            raise InvalidInput(errors)
        return integration

    def _reference_errors(self, session: Session, integration: Integration) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []

        def add(loc: list[str | int], msg: str) -> None:
            errors.append({"loc": loc, "msg": msg, "type": "value_error"})

        known_servers = sorted(_server_names(session).values())

        def check_server(loc: list[str | int], name: str) -> None:
            if name not in known_servers:
                hint = ", ".join(known_servers) or "none yet: create one first"
                add(loc, f"no outbound server named '{name}' (servers: {hint})")

        check_server(["default_server"], integration.default_server)
        for r, candidate in enumerate(integration.routes):
            check_server(["routes", r, "server"], candidate.server)
        for p, point in enumerate(integration.points):
            if point.server:
                check_server(["points", p, "server"], point.server)

        custom = self._placeholders.custom_functions()
        sample = SampleValues(integration.fields, custom.names())
        vocabulary = [*PREDEFINED, *custom.names(), *integration.fields]

        def unknown(loc: list[str | int], name: str) -> None:
            close = difflib.get_close_matches(name, vocabulary, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            extra = (
                f"; note: custom_functions.py did not load: {custom.error}" if custom.error else ""
            )
            add(
                loc,
                f"unknown placeholder '{name}'{hint}: it is not predefined, not a custom "
                f"function and not a declared field; declare the field under 'fields' "
                f"(name: type){extra}",
            )

        for r, candidate in enumerate(integration.routes):
            for name in condition_fields(candidate.condition):
                if name not in sample:
                    unknown(["routes", r, "when"], name)
        for p, point in enumerate(integration.points):
            if point.parsed_condition is not None:
                for name in condition_fields(point.parsed_condition):
                    if name not in sample:
                        unknown(["points", p, "condition"], name)

        declared = {fold(n) for n in integration.fields}
        for p, point in enumerate(integration.points):
            where: list[str | int] = ["points", p, "request"]
            templates: list[tuple[list[str | int], str]] = [([*where, "path"], point.request.path)]
            templates += [([*where, "headers", h], v) for h, v in point.request.headers.items()]
            if point.request.body is not None:
                templates.append(([*where, "body"], point.request.body))
            for loc, text in templates:
                try:
                    parse_template(text)
                except TemplateError as exc:
                    add(loc, str(exc))
                    continue
                for slot in slots(text):
                    if slot.name not in sample:
                        unknown(loc, slot.name)
            body = point.request.body
            if body is not None and not any(e["loc"][:4] == [*where, "body"] for e in errors):
                problem = json_shape_problem(body)
                if problem is not None:
                    add([*where, "body"], f"the body template cannot produce JSON: {problem}")
                else:
                    try:
                        render_json(body, sample)
                    except (RenderError, TemplateError) as exc:
                        add([*where, "body"], f"the body does not render on a sample ticket: {exc}")
            if point.response is not None:
                for field_name in point.response.fields:
                    if fold(field_name) not in declared:
                        add(
                            ["points", p, "response", "fields", field_name],
                            f"ticket field '{field_name}' is not declared under 'fields'; "
                            "declare it (name: type) so WI knows the workflow has it",
                        )
        return errors

    def _store(self, session: Session, row: IntegrationRow, integration: Integration) -> None:
        names = _server_names(session)
        ids = {name: server_id for server_id, name in names.items()}
        before = document(self._load(row, names)) if row.id is not None else None
        audit.record(session, "update" if before else "create", "integration",
                     row.workflow if before else integration.workflow, before,
                     document(integration))
        doc = document(integration)
        doc.pop("workflow")
        doc.pop("enabled")
        doc["default_server_id"] = ids[doc.pop("default_server")]
        for item in doc["routes"]:
            item["server_id"] = ids[item.pop("server")]
        for item in doc["points"]:
            name = item.pop("server", None)
            item["server_id"] = ids[name] if name else None
        row.workflow = integration.workflow
        row.workflow_key = fold(integration.workflow)
        row.enabled = integration.enabled
        row.config = doc
        row.revision = (row.revision or 0) + 1
        session.add(row)
        session.flush()
        store.set_servers(session, row.id, set(ids[n] for n in integration.server_names()))

    @staticmethod
    def _load(row: IntegrationRow, names: dict[int, str]) -> Integration:
        doc = deepcopy(row.config)
        doc["workflow"] = row.workflow
        doc["enabled"] = row.enabled
        doc["default_server"] = names[doc.pop("default_server_id")]
        for item in doc.get("routes", []):
            item["server"] = names[item.pop("server_id")]
        for item in doc.get("points", []):
            server_id = item.pop("server_id", None)
            if server_id is not None:
                item["server"] = names[server_id]
        return Integration.model_validate(doc)

    def _view(self, row: IntegrationRow, names: dict[int, str]) -> IntegrationView:
        integration = self._load(row, names)
        return IntegrationView(
            **integration.model_dump(),
            revision=row.revision,
            created_at=row.created_at,
            updated_at=row.updated_at,
            warnings=self._warnings(integration),
        )

    def _warnings(self, integration: Integration) -> list[str]:
        warnings: list[str] = []
        if not integration.points:
            warnings.append("no integration points: nothing is sent for this workflow")
        if not integration.enabled:
            warnings.append("disabled: events of this workflow are not sent")
        custom = self._placeholders.custom_functions()
        if custom.error:
            warnings.append(f"custom_functions.py did not load: {custom.error}")
        return warnings


def _server_names(session: Session) -> dict[int, str]:
    rows = session.execute(select(OutboundServerRow.id, OutboundServerRow.name))
    return {server_id: name for server_id, name in rows}


def document(integration: Integration) -> dict[str, Any]:
    """The integration in its input shape (what POST/PUT accept and export writes)."""
    doc = integration.model_dump(mode="json", include=set(Integration.model_fields))
    for item in doc["points"]:
        if item.get("response") is None:
            item.pop("response", None)
        if item.get("server") is None:
            item.pop("server", None)
        if item.get("condition") is None:
            item.pop("condition", None)
        on = item["on"]
        item["on"] = {k: v for k, v in on.items() if v is not None}
    return doc

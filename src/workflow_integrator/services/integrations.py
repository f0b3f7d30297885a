"""Workflow integrations: create, read, change, delete, import, export, plan and preview.

Server references are stored as ids (renaming a server keeps its integrations) and
shown as names. Every save checks the document as a whole: servers exist, every
placeholder is known, every template parses, every body renders to valid JSON.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.conditions import ConditionTimeout, condition_fields
from workflow_integrator.domain.integration import (
    EVENT_NAMES,
    Integration,
    IntegrationPoint,
    fold,
)
from workflow_integrator.domain.matching import WorkflowEvent, condition_holds, match, route
from workflow_integrator.domain.merge_patch import merge_patch
from workflow_integrator.domain.outbound_server import OutboundServer, describe_errors
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeClient
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.securechange.documents import DocumentError
from workflow_integrator.securechange.ticket_format import parse_ticket_document
from workflow_integrator.services.errors import Conflict, InvalidInput, NotFound
from workflow_integrator.services.outbound_servers import ImportReport, OutboundServerService
from workflow_integrator.store import integrations as store
from workflow_integrator.store.integrations import IntegrationRow
from workflow_integrator.store.servers import OutboundServerRow
from workflow_integrator.templating.placeholders import (
    PREDEFINED,
    PlaceholderValues,
    SampleValues,
)
from workflow_integrator.templating.plugins import CustomFunctions, load_custom_functions
from workflow_integrator.templating.request import (
    RenderedRequest,
    auth_header_preview,
    render_request,
)
from workflow_integrator.templating.template import (
    RenderError,
    TemplateError,
    json_shape_problem,
    parse_template,
    render_json,
    slots,
)

TicketSource = Callable[[int], Ticket]
"""Reads a ticket by id from SecureChange (wired in when a connection is configured)."""


def blocking_ticket_source(read: Callable[[int], Awaitable[Ticket]]) -> TicketSource:
    """A :data:`TicketSource` over an async reader (the SecureChange client is async).

    Each call gets its own event loop (in a helper thread when the caller's thread
    already runs one).
    """

    def source(ticket_id: int) -> Ticket:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_await(read(ticket_id)))
        # Called from a thread that runs an event loop: give the read its own thread.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, _await(read(ticket_id))).result()

    return source


async def _await(pending: Awaitable[Ticket]) -> Ticket:
    return await pending


ConnectionSource = Callable[[], SecureChangeConnection | None]
"""The saved SecureChange connection settings, or None before they are set."""


def securechange_ticket_source(connection: ConnectionSource) -> TicketSource:
    """Reads tickets through the SecureChange REST API with the saved connection."""

    async def read(ticket_id: int) -> Ticket:
        settings = connection()
        if settings is None:
            raise LookupError(
                "the SecureChange connection is not set up (wi securechange set, or "
                "PUT /api/v1/securechange); or paste the ticket document instead"
            )
        async with SecureChangeClient(settings) as client:
            return await client.ticket(ticket_id)

    return blocking_ticket_source(read)


def securechange_web_url(connection: ConnectionSource) -> Callable[[], str | None]:
    """SecureChange's address for links into its UI (``ticket_task_url``)."""

    def url() -> str | None:
        settings = connection()
        return f"{settings.protocol}://{settings.target.display()}" if settings else None

    return url

_SENSITIVE_HEADER_WORDS = (
    "authorization",
    "token",
    "secret",
    "password",
    "api-key",
    "apikey",
    "cookie",
)
MASK = "********"


class IntegrationView(Integration):
    """An integration as the API shows it, with its bookkeeping."""

    revision: int
    created_at: datetime
    updated_at: datetime
    warnings: list[str]


class PlaceholderInfo(BaseModel):
    """One placeholder a template may use."""

    name: str
    kind: str  # predefined | custom | field
    description: str


class PlaceholderCatalog(BaseModel):
    """Every placeholder name an integration's templates may use."""

    placeholders: list[PlaceholderInfo]
    custom_functions_file: str | None
    custom_functions_error: str | None


@dataclass(frozen=True)
class PlannedRequest:
    """One point's request for one event: where it goes and what it sends, or why not."""

    point: IntegrationPoint
    server: str | None
    server_id: int | None
    request: RenderedRequest | None
    error: str | None
    server_config: OutboundServer | None = None


class PreviewPoint(BaseModel):
    """What one point would send."""

    name: str
    on: str
    fires: bool
    server: str | None
    method: str | None
    url: str | None
    headers: list[tuple[str, str]]
    body: str | None
    error: str | None


class PreviewResult(BaseModel):
    """A dry run: the points that fire for the event on the ticket and their requests."""

    workflow: str
    event: str
    ticket_id: int
    current_step: str | None
    completed_step: str | None
    points: list[PreviewPoint]
    notes: list[str]
    undeclared_fields: list[str]


def _mask_header(name: str, value: str) -> tuple[str, str]:
    lowered = name.lower()
    if any(word in lowered for word in _SENSITIVE_HEADER_WORDS):
        return (name, MASK)
    return (name, value)


class IntegrationService:
    """Every operation on integrations, shared by the API, the UI, the CLI and delivery."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        servers: OutboundServerService,
        plugin_dir: Path | None,
        *,
        ticket_source: TicketSource | None = None,
        securechange_url: Callable[[], str | None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._servers = servers
        self._plugin_dir = plugin_dir
        self.ticket_source = ticket_source
        self._securechange_url = securechange_url
        servers.usage_checks.append(self.usage)

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
        """The integration of ``workflow``, or None: what planning asks for each event."""
        with self._sessions() as session:
            row = store.find_by_key(session, fold(workflow))
            return self._load(row, _server_names(session)) if row else None

    def usage(self, session: Session, server_id: int) -> list[str]:
        """Names of the integrations sending to server ``server_id`` (for server deletes)."""
        return [f"integration '{name}'" for name in store.workflows_using(session, server_id)]

    def custom_functions(self) -> CustomFunctions:
        """The custom placeholders of the plugin folder (reloaded when the file changes)."""
        return load_custom_functions(self._plugin_dir)

    def placeholders(self, workflow: str | None = None) -> PlaceholderCatalog:
        """Every placeholder name a template may use (with the workflow's declared fields)."""
        custom = self.custom_functions()
        items = [
            PlaceholderInfo(name=n, kind="custom", description="custom function")
            for n in custom.names()
        ]
        items += [
            PlaceholderInfo(name=n, kind="predefined", description=d)
            for n, d in PREDEFINED.items()
            if n not in custom.functions
        ]
        if workflow is not None:
            integration = self.get_integration(workflow)
            items += [
                PlaceholderInfo(name=n, kind="field", description=f"ticket field ({t})")
                for n, t in integration.fields.items()
            ]
        return PlaceholderCatalog(
            placeholders=items,
            custom_functions_file=str(custom.path) if custom.path else None,
            custom_functions_error=custom.error,
        )

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

    def replace(self, workflow: str, body: Any) -> IntegrationView:
        """Replace an integration; a different ``workflow`` in the body renames it."""
        if not isinstance(body, dict):
            raise InvalidInput.single([], "the body must be a JSON object")
        with self._transaction() as session:
            row = self._row(session, workflow)
            body = {**body}
            body.setdefault("workflow", row.workflow)
            integration = self._validate(session, body)
            clash = store.find_by_key(session, fold(integration.workflow))
            if clash is not None and clash.id != row.id:
                raise Conflict(f"workflow '{clash.workflow}' already has an integration")
            self._store(session, row, integration)
            return self._view(row, _server_names(session))

    def update(self, workflow: str, patch: Any) -> IntegrationView:
        """PATCH: a JSON merge patch (RFC 7396) over the current document."""
        if not isinstance(patch, dict):
            raise InvalidInput.single([], "the body must be a JSON object")
        current = document(self.get_integration(workflow))
        return self.replace(workflow, merge_patch(current, patch))

    def delete(self, workflow: str) -> None:
        """Delete an integration."""
        with self._transaction() as session:
            session.delete(self._row(session, workflow))

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

    # -- planning and preview ------------------------------------------------------

    def placeholder_values(
        self,
        ticket: Ticket,
        event: WorkflowEvent,
        *,
        create_date: str | None = None,
        update_date: str | None = None,
        integration: Integration | None = None,
        requester_full_name: str | None = None,
    ) -> PlaceholderValues:
        """Placeholder values for one ticket and event, with the custom functions.

        Fields the integration declares but the ticket lacks read as null.
        """
        return PlaceholderValues(
            ticket,
            event,
            declared_fields=integration.fields if integration else (),
            custom=self.custom_functions().functions,
            securechange_url=self._securechange_url() if self._securechange_url else None,
            create_date=create_date,
            update_date=update_date,
            requester_full_name=requester_full_name,
        )

    def plan(
        self,
        integration: Integration,
        event: WorkflowEvent,
        ticket: Ticket,
        values: PlaceholderValues | None = None,
        points: list[IntegrationPoint] | None = None,
    ) -> list[PlannedRequest]:
        """The requests the event sends: for each firing point its server and request.

        A point whose request cannot be built (unknown server, failing custom function,
        runaway condition) gets ``error`` set; the other points are not affected.
        """
        values = values or self.placeholder_values(ticket, event, integration=integration)
        chosen = points if points is not None else match(integration, event, ticket)
        planned: list[PlannedRequest] = []
        loaded: dict[str, tuple[int, OutboundServer]] = {}
        for point in chosen:
            server_name: str | None = None
            try:
                server_name = route(integration, point, values)
                if server_name not in loaded:
                    loaded[server_name] = self._server(server_name)
                server_id, server = loaded[server_name]
                request = render_request(point, server, values)
            except (RenderError, TemplateError, ConditionTimeout, NotFound) as exc:
                planned.append(PlannedRequest(point, server_name, None, None, str(exc)))
                continue
            planned.append(PlannedRequest(point, server_name, server_id, request, None, server))
        return planned

    def preview(
        self,
        workflow: str,
        *,
        event: str,
        ticket: Any = None,
        ticket_id: int | None = None,
        completed_step: str | None = None,
        current_step: str | None = None,
        point: str | None = None,
        create_date: str | None = None,
        update_date: str | None = None,
        integration: dict[str, Any] | None = None,
    ) -> PreviewResult:
        """Render what the event would send for a ticket, without sending anything.

        ``integration``: an unsaved document to preview instead of the saved one (the
        editor's current state); it is checked like a save. ``workflow`` may then be
        a workflow without an integration yet.
        """
        if integration is not None:
            with self._sessions() as session:
                subject = self._validate(session, {"workflow": workflow, **integration})
        else:
            subject = self.get_integration(workflow)
        return self._preview(
            subject,
            event=event,
            ticket=ticket,
            ticket_id=ticket_id,
            completed_step=completed_step,
            current_step=current_step,
            point=point,
            create_date=create_date,
            update_date=update_date,
        )

    def _preview(
        self,
        integration: Integration,
        *,
        event: str,
        ticket: Any,
        ticket_id: int | None,
        completed_step: str | None,
        current_step: str | None,
        point: str | None,
        create_date: str | None,
        update_date: str | None,
    ) -> PreviewResult:
        name = (event or "").strip().upper()
        if name not in EVENT_NAMES:
            raise InvalidInput.single(["event"], f"event must be one of {', '.join(EVENT_NAMES)}")
        the_ticket = self._preview_ticket(ticket, ticket_id)
        facts = WorkflowEvent(name, completed_step or None, current_step or None)
        notes: list[str] = []
        if name == "ADVANCE" and not completed_step:
            notes.append("ADVANCE without completed_step: outbound points cannot match")
        if not integration.enabled:
            notes.append("the integration is disabled: nothing would be sent")
        other_workflow = bool(the_ticket.workflow.name) and fold(the_ticket.workflow.name) != fold(
            integration.workflow
        )
        if other_workflow:
            notes.append(
                f"the ticket belongs to workflow '{the_ticket.workflow.name}', not "
                f"'{integration.workflow}': nothing would be sent"
            )
        active = integration.model_copy(update={"enabled": True})
        values = self.placeholder_values(
            the_ticket,
            facts,
            create_date=create_date,
            update_date=update_date,
            integration=integration,
        )
        unevaluable: dict[str, str] = {}

        def holds(candidate: IntegrationPoint) -> bool:
            try:
                return condition_holds(candidate, values)
            except ConditionTimeout as exc:
                unevaluable[candidate.name] = str(exc)
                return False

        firing = [] if other_workflow else match(active, facts, the_ticket, holds)
        notes += [f"point '{n}': its condition cannot be evaluated: {why}"
                  for n, why in unevaluable.items()]
        if point is not None:
            chosen = integration.point(point)
            if chosen is None:
                raise InvalidInput.single(
                    ["point"], f"no point named '{point}' in this integration"
                )
            targets = [chosen]
        else:
            targets = firing
            if not firing:
                notes.append(f"no point fires for {name} on this ticket")
        fired_names = {p.name for p in firing}
        previews = [
            self._preview_point(planned, planned.point.name in fired_names)
            for planned in self.plan(integration, facts, the_ticket, values, targets)
        ]
        declared = {fold(n) for n in integration.fields}
        return PreviewResult(
            workflow=integration.workflow,
            event=name,
            ticket_id=the_ticket.id,
            current_step=values.lookup("step_name") or None,
            completed_step=facts.completed_step,
            points=previews,
            notes=notes,
            undeclared_fields=[n for n in values.field_names() if fold(n) not in declared],
        )

    # -- internals -----------------------------------------------------------------

    def _preview_point(self, planned: PlannedRequest, fires: bool) -> PreviewPoint:
        request = planned.request
        base = PreviewPoint(
            name=planned.point.name,
            on=planned.point.on.describe(),
            fires=fires,
            server=planned.server,
            method=None,
            url=None,
            headers=[],
            body=None,
            error=planned.error,
        )
        server = planned.server_config
        if request is None or server is None:
            return base
        headers = [_mask_header(n, v) for n, v in request.headers]
        auth = auth_header_preview(server)
        if auth is not None:
            headers.insert(0, auth)
        body = request.body
        if body is not None:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        return base.model_copy(
            update={
                "method": request.method,
                "url": request.url(server),
                "headers": headers,
                "body": body,
            }
        )

    def _preview_ticket(self, ticket: Any, ticket_id: int | None) -> Ticket:
        if ticket is not None and ticket != "":
            return read_ticket(ticket)
        if ticket_id is None:
            raise InvalidInput.single(
                ["ticket"], "give a ticket: paste its document (XML or JSON) or give ticket_id"
            )
        if self.ticket_source is None:
            raise InvalidInput.single(
                ["ticket_id"],
                "reading tickets from SecureChange is not set up here; paste the ticket "
                "document (GET /tickets/{id} as XML or JSON) instead",
            )
        try:
            return self.ticket_source(ticket_id)
        # Whatever the connection raises (down, 404, bad credentials) is the user's to fix.
        except Exception as exc:
            raise InvalidInput.single(
                ["ticket_id"], f"cannot read ticket {ticket_id} from SecureChange: {exc}"
            ) from None

    def _server(self, name: str) -> tuple[int, OutboundServer]:
        server_id = self._servers.id_of(name)
        _, config = self._servers.get_config_by_id(server_id)
        return server_id, config

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            try:
                yield session
            except IntegrityError as exc:
                raise Conflict(f"the change clashes with existing data: {exc.orig}") from None

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
            raise InvalidInput(describe_errors(exc.errors())) from None
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

        custom = self.custom_functions()
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
        ids = {name: server_id for server_id, name in _server_names(session).items()}
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
        custom = self.custom_functions()
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


def read_ticket(document_or_data: Any) -> Ticket:
    """A ticket from a pasted document: SecureChange XML or JSON, or WI's own JSON shape."""
    try:
        if isinstance(document_or_data, str):
            text = document_or_data.strip()
            if text.startswith("<"):
                return parse_ticket_document(text)
            return parse_ticket_document(text, json_body=True)
        if isinstance(document_or_data, dict):
            data = document_or_data
            if "ticket" in data and len(data) == 1:
                return parse_ticket_document(json.dumps(data), json_body=True)
            if (
                "steps" in data
                and isinstance(data.get("steps"), list)
                and data["steps"]
                and ("tasks" in data["steps"][0] and isinstance(data["steps"][0]["tasks"], list))
            ):
                return Ticket.from_dict(data)
            return parse_ticket_document(json.dumps({"ticket": data}), json_body=True)
    except DocumentError as exc:
        raise InvalidInput.single(["ticket"], f"cannot read the ticket: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput.single(["ticket"], f"cannot read the ticket: {exc}") from None
    raise InvalidInput.single(["ticket"], "the ticket must be an XML or JSON document")

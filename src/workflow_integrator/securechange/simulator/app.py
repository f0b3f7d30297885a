"""The simulator's HTTP face: SecureChange's REST subset plus a control API.

REST (HTTP Basic auth), under ``/securechangeworkflow/api/securechange``:
``GET /tickets/{id}``, ``GET /tickets``, ``POST /tickets``,
``GET|PUT /tickets/{id}/steps/{step}/tasks/{task}/fields[/{field}]``,
``GET /users/{id}``, ``GET /users?user_name=``. XML by default; JSON with
``Accept: application/json`` or a ``.json`` suffix.

Control API (same credentials, JSON), under ``/sim/api``: create and move tickets,
define workflows, configure the trigger command and read its runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflow_integrator.domain.ticket import Field, Ticket
from workflow_integrator.securechange.documents import (
    DocumentError,
    parse_json,
    parse_xml,
    render_json,
    render_xml,
)
from workflow_integrator.securechange.simulator.lifecycle import Simulator, SimulatorError
from workflow_integrator.securechange.simulator.store import SimUser, SimWorkflow
from workflow_integrator.securechange.simulator.triggers import TriggerConfig, parse_command
from workflow_integrator.securechange.ticket_format import (
    field_from_element,
    field_to_element,
    ticket_from_element,
    ticket_to_element,
)

BASE_PATH = "/securechangeworkflow/api/securechange"
MAX_BODY = 1_048_576

Endpoint = Callable[[Request], Awaitable[Response]]


def create_simulator_app(simulator: Simulator, username: str, password: str) -> Starlette:
    """The ASGI app of the simulator, guarded by HTTP Basic auth."""

    def guarded(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if not _authorized(request, username, password):
                return Response(
                    "authentication required", status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="SecureChange"'},
                )
            try:
                return await handler(request)
            except SimulatorError as exc:
                return _error(request, exc.status, str(exc))
            except (DocumentError, ValueError, KeyError, TypeError) as exc:
                return _error(request, 400, f"bad request: {exc}")

        return endpoint

    async def get_ticket(request: Request) -> Response:
        ticket_id, as_json = _id_and_format(request, "ticket_id")
        ticket = simulator.ticket(ticket_id)
        return _document(ticket_to_element(ticket), as_json or _wants_json(request))

    async def list_tickets(request: Request) -> Response:
        wanted = {s.strip().casefold() for s in request.query_params.get("status", "").split(",")
                  if s.strip()}
        with simulator.store.read() as state:
            tickets = [s.ticket for s in state.tickets.values()]
        root = Element("tickets")
        for ticket in sorted(tickets, key=lambda t: t.id):
            if not wanted or _status_key(ticket.status) in wanted:
                root.append(ticket_to_element(ticket))
        return _document(root, _wants_json(request))

    async def create_ticket_rest(request: Request) -> Response:
        root = await _read_document(request, "ticket")
        if root.find("id") is None:
            # A placeholder within the id bounds: the simulator assigns the real id.
            SubElement(root, "id").text = "1"
        draft = ticket_from_element(root)
        first = draft.steps[0] if draft.steps else None
        values = {f.name: f.value for f in first.fields()} if first else {}
        ticket = await run_in_threadpool(
            simulator.create_ticket, draft.subject, draft.workflow.name,
            requester=draft.requester or "api", priority=draft.priority or "Normal",
            domain_name=draft.domain_name, fields=values,
        )
        location = f"{request.base_url}{BASE_PATH.lstrip('/')}/tickets/{ticket.id}"
        return Response(status_code=201, headers={"Location": location})

    async def task_fields(request: Request) -> Response:
        ticket_id, as_json = _id_and_format(request, "ticket_id")
        step_id = int(request.path_params["step_id"])
        task_id = int(request.path_params["task_id"])
        as_json = as_json or _wants_json(request) or request.url.path.endswith(".json")
        if request.method == "PUT":
            root = await _read_document(request, "fields")
            updates = _fields_of(root)
            await run_in_threadpool(simulator.update_fields, ticket_id, step_id, task_id, updates)
            return Response(status_code=200)
        ticket = simulator.ticket(ticket_id)
        out = Element("fields")
        for field_ in _task_fields(ticket, step_id, task_id):
            out.append(field_to_element(field_))
        return _document(out, as_json)

    async def one_field(request: Request) -> Response:
        ticket_id = int(request.path_params["ticket_id"])
        step_id = int(request.path_params["step_id"])
        task_id = int(request.path_params["task_id"])
        raw_field = str(request.path_params["field_id"])
        as_json = raw_field.endswith(".json") or _wants_json(request)
        field_id = int(raw_field.removesuffix(".json"))
        if request.method == "PUT":
            root = await _read_document(request, "field")
            update = field_from_element(root)
            current = _find_field(simulator.ticket(ticket_id), step_id, task_id, field_id)
            fixed = Field(name=current.name, type=update.type, value=update.value,
                          id=field_id)
            await run_in_threadpool(simulator.update_fields, ticket_id, step_id, task_id,
                                    [fixed])
            return Response(status_code=200)
        found = _find_field(simulator.ticket(ticket_id), step_id, task_id, field_id)
        return _document(field_to_element(found), as_json)

    async def get_user(request: Request) -> Response:
        user_id, as_json = _id_and_format(request, "user_id")
        with simulator.store.read() as state:
            user = state.users.get(user_id)
        if user is None:
            raise SimulatorError(f"user {user_id} does not exist", 404)
        return _document(_user_element(user), as_json or _wants_json(request))

    async def find_users(request: Request) -> Response:
        name = request.query_params.get("user_name")
        with simulator.store.read() as state:
            users = [u for u in state.users.values() if name is None or u.name == name]
        root = Element("users")
        for user in users:
            root.append(_user_element(user))
        return _document(root, _wants_json(request))

    # ---------------------------------------------------------------- control API

    async def sim_create(request: Request) -> Response:
        body = await _json_body(request)
        ticket = await run_in_threadpool(
            simulator.create_ticket,
            str(body.get("subject", "")),
            str(body.get("workflow", "")),
            requester=str(body.get("requester", "api")),
            priority=str(body.get("priority", "Normal")),
            domain_name=str(body.get("domain_name", "")),
            fields=body.get("fields") or {},
        )
        return JSONResponse(ticket.to_dict(), status_code=201)

    async def sim_move(request: Request) -> Response:
        ticket_id = int(request.path_params["ticket_id"])
        body = await _json_body(request) if await request.body() else {}
        ticket = await run_in_threadpool(
            simulator.move, ticket_id, str(request.path_params["move"]),
            fields=body.get("fields"), to_step=body.get("to_step"),
        )
        return JSONResponse(ticket.to_dict())

    async def sim_ticket(request: Request) -> Response:
        ticket = simulator.ticket(int(request.path_params["ticket_id"]))
        return JSONResponse(ticket.to_dict())

    async def sim_workflows(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_body(request)
            with simulator.store.change() as state:
                existing = state.workflow(str(body.get("name", "")))
                body.setdefault("id", existing.id if existing else 1000 + len(state.workflows))
                workflow = SimWorkflow.from_dict(body)
                if existing is not None:
                    del state.workflows[existing.name]
                state.workflows[workflow.name] = workflow
            return JSONResponse(workflow.to_dict(), status_code=201)
        with simulator.store.read() as state:
            return JSONResponse([w.to_dict() for w in state.workflows.values()])

    async def sim_trigger(request: Request) -> Response:
        if request.method == "PUT":
            body = await _json_body(request)
            current = simulator.triggers.config
            simulator.triggers.configure(TriggerConfig(
                command=parse_command(body.get("command")),
                env={str(k): str(v) for k, v in (body.get("env") or {}).items()},
                attempts=int(body.get("attempts", current.attempts)),
                delays=tuple(float(d) for d in body.get("delays", current.delays)),
                timeout=float(body.get("timeout", current.timeout)),
            ))
        config = simulator.triggers.config
        return JSONResponse({
            "command": list(config.command), "env_names": sorted(config.env),
            "attempts": config.attempts, "delays": list(config.delays),
            "timeout": config.timeout,
        })

    async def sim_runs(request: Request) -> Response:
        return JSONResponse([r.to_dict() for r in simulator.triggers.runs])

    routes = [
        Route(f"{BASE_PATH}/tickets", guarded(list_tickets), methods=["GET"]),
        Route(f"{BASE_PATH}/tickets/", guarded(create_ticket_rest), methods=["POST"]),
        Route(f"{BASE_PATH}/tickets", guarded(create_ticket_rest), methods=["POST"]),
        Route(f"{BASE_PATH}/tickets/{{ticket_id}}", guarded(get_ticket), methods=["GET"]),
        Route(
            f"{BASE_PATH}/tickets/{{ticket_id}}/steps/{{step_id}}/tasks/{{task_id}}/fields",
            guarded(task_fields), methods=["GET", "PUT"],
        ),
        Route(
            f"{BASE_PATH}/tickets/{{ticket_id}}/steps/{{step_id}}/tasks/{{task_id}}/fields.json",
            guarded(task_fields), methods=["GET", "PUT"],
        ),
        Route(
            f"{BASE_PATH}/tickets/{{ticket_id}}/steps/{{step_id}}/tasks/{{task_id}}"
            "/fields/{field_id}",
            guarded(one_field), methods=["GET", "PUT"],
        ),
        Route(f"{BASE_PATH}/users", guarded(find_users), methods=["GET"]),
        Route(f"{BASE_PATH}/users/{{user_id}}", guarded(get_user), methods=["GET"]),
        Route("/sim/api/tickets", guarded(sim_create), methods=["POST"]),
        Route("/sim/api/tickets/{ticket_id:int}", guarded(sim_ticket), methods=["GET"]),
        Route("/sim/api/tickets/{ticket_id:int}/{move}", guarded(sim_move), methods=["POST"]),
        Route("/sim/api/workflows", guarded(sim_workflows), methods=["GET", "POST"]),
        Route("/sim/api/trigger", guarded(sim_trigger), methods=["GET", "PUT"]),
        Route("/sim/api/trigger/runs", guarded(sim_runs), methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _authorized(request: Request, username: str, password: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, given = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Compare both parts in constant time so timing does not reveal which one was wrong.
    user_ok = secrets.compare_digest(user.encode(), username.encode())
    password_ok = secrets.compare_digest(given.encode(), password.encode())
    return user_ok and password_ok


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _id_and_format(request: Request, name: str) -> tuple[int, bool]:
    raw = str(request.path_params[name])
    as_json = raw.endswith(".json")
    try:
        return int(raw.removesuffix(".json")), as_json
    except ValueError:
        raise SimulatorError(f"{name} must be a number, got {raw!r}", 404) from None


def _document(root: Element, as_json: bool) -> Response:
    if as_json:
        return Response(render_json(root), media_type="application/json")
    return Response(render_xml(root), media_type="application/xml")


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/sim/") or _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    root = Element("result")
    SubElement(root, "code").text = "ERROR" if status != 404 else "NOT_FOUND"
    SubElement(root, "message").text = message
    return Response(render_xml(root), status_code=status, media_type="application/xml")


async def _read_document(request: Request, root_tag: str) -> Element:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise SimulatorError("request body too large", 413)
    if "json" in request.headers.get("content-type", ""):
        return parse_json(body, root_tag)
    return parse_xml(body)


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise SimulatorError(f"malformed JSON: {exc}", 400) from None
    if not isinstance(value, dict):
        raise SimulatorError("expected a JSON object", 400)
    return value


def _fields_of(root: Element) -> list[Field]:
    if root.tag == "field":
        return [field_from_element(root)]
    if root.tag != "fields":
        raise SimulatorError(f"expected <fields>, got <{root.tag}>", 400)
    return [field_from_element(e) for e in root.iterfind("field")]


def _task_fields(ticket: Ticket, step_id: int, task_id: int) -> tuple[Field, ...]:
    step = ticket.step(step_id)
    if step is None:
        raise SimulatorError(f"ticket {ticket.id} has no step {step_id}", 404)
    task = next((t for t in step.tasks if t.id == task_id), None)
    if task is None:
        raise SimulatorError(f"step {step_id} has no task {task_id}", 404)
    return task.fields


def _find_field(ticket: Ticket, step_id: int, task_id: int, field_id: int) -> Field:
    found = next((f for f in _task_fields(ticket, step_id, task_id) if f.id == field_id), None)
    if found is None:
        raise SimulatorError(f"task {task_id} has no field {field_id}", 404)
    return found


def _user_element(user: SimUser) -> Element:
    root = Element("user")
    for tag, value in (
        ("id", str(user.id)), ("type", "user"), ("display_name", user.display_name),
        ("name", user.name), ("origin_type", "Local"), ("first_name", user.first_name),
        ("last_name", user.last_name), ("email", user.email),
    ):
        SubElement(root, tag).text = value
    return root


def _status_key(status: str) -> str:
    return status.casefold()

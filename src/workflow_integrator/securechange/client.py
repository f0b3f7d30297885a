"""The SecureChange REST client: read tickets, update fields, look users up."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from xml.etree.ElementTree import Element

import httpx2

from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.domain.network_policy import DEFAULT_POLICY, NetworkPolicy
from workflow_integrator.domain.retry import is_retryable_status, retry_after
from workflow_integrator.domain.ticket import Field, Ticket
from workflow_integrator.outbound.errors import Stage, classify, describe
from workflow_integrator.outbound.network_guard import GuardedTransport, policy_refusal
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.securechange.documents import (
    DocumentError,
    child_text,
    parse_xml,
    render_xml,
)
from workflow_integrator.securechange.ticket_format import (
    field_from_element,
    field_to_element,
    parse_ticket_document,
)


class SecureChangeError(Exception):
    """A SecureChange call failed; ``retryable`` says whether trying later may help.

    ``retry_after`` is the wait SecureChange asked for (``Retry-After``), if any;
    ``stage`` says where the call failed (connecting, TLS, HTTP, parsing).
    """

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool,
        retry_after: timedelta | None = None, stage: Stage | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.stage = stage
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SecureChangeUser:
    """A SecureChange user: who to e-mail."""

    id: int | None
    name: str
    email: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of "test connection"."""

    ok: bool
    message: str
    status: int | None
    duration_ms: int
    stage: Stage | None = None
    """Where a failed check failed (dns, connect, tls, http ...), as for outbound servers."""

    def to_dict(self) -> dict[str, object]:
        """A JSON-able view."""
        return {"ok": self.ok, "message": self.message, "status": self.status,
                "duration_ms": self.duration_ms, "stage": self.stage}


class SecureChangeClient:
    """Async client of SecureChange's REST API on one connection's settings.

    Use as ``async with SecureChangeClient(connection) as sc: ticket = await sc.ticket(7)``.
    """

    def __init__(
        self,
        connection: SecureChangeConnection,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        prefer_json: bool = False,
        clock: Clock | None = None,
        policy: NetworkPolicy = DEFAULT_POLICY,
    ) -> None:
        self.connection = connection
        self._clock = clock or SystemClock()
        # Tickets can come as JSON; fields and users are always read as XML.
        self._ticket_accept = "application/json" if prefer_json else "application/xml"
        password = connection.password.get_secret_value() if connection.password else ""
        if transport is None:
            # The same outbound network policy as for outbound servers.
            transport = GuardedTransport(policy, verify=connection.ssl_verify(), trust_env=False)
        self._http = httpx2.AsyncClient(
            base_url=connection.base_url,
            auth=httpx2.BasicAuth(connection.username, password),
            verify=connection.ssl_verify(),
            timeout=connection.timeout_seconds,
            # SecureChange's own settings decide; proxy variables of the process do not.
            trust_env=False,
            headers={"Accept": "application/xml", "User-Agent": "workflow-integrator"},
            transport=transport,
        )

    async def __aenter__(self) -> SecureChangeClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def ticket(self, ticket_id: int) -> Ticket:
        """``GET /tickets/{id}`` as a :class:`Ticket`."""
        response = await self._call("GET", f"/tickets/{ticket_id}", what=f"ticket {ticket_id}",
                                    accept=self._ticket_accept)
        try:
            if "json" in response.headers.get("content-type", ""):
                return parse_ticket_document(response.content, json_body=True)
            return parse_ticket_document(response.content)
        except DocumentError as exc:
            raise SecureChangeError(f"ticket {ticket_id}: SecureChange sent an unreadable "
                                    f"document: {exc}", retryable=False, stage="parse") from None

    async def fields(self, ticket_id: int, step_id: int, task_id: int) -> tuple[Field, ...]:
        """``GET .../steps/{step}/tasks/{task}/fields``."""
        path = _fields_path(ticket_id, step_id, task_id)
        response = await self._call("GET", path, what=f"fields of task {task_id}")
        root = _document(response)
        return tuple(field_from_element(e) for e in root.iterfind("field"))

    async def update_fields(
        self, ticket_id: int, step_id: int, task_id: int, fields: list[Field]
    ) -> None:
        """``PUT .../fields`` with the given fields (identified by id)."""
        root = Element("fields")
        for field_ in fields:
            root.append(field_to_element(field_))
        await self._call(
            "PUT", _fields_path(ticket_id, step_id, task_id), content=render_xml(root),
            what=f"fields of task {task_id}",
        )

    async def update_field(self, ticket_id: int, step_id: int, task_id: int, field: Field) -> None:
        """``PUT .../fields/{field}`` with one field."""
        if field.id is None:
            raise ValueError(f"field {field.name!r} has no id; read the task's fields first")
        path = f"{_fields_path(ticket_id, step_id, task_id)}/{field.id}"
        await self._call("PUT", path, content=render_xml(field_to_element(field)),
                         what=f"field {field.name!r}")

    async def user(self, user_id: int) -> SecureChangeUser:
        """``GET /users/{id}``."""
        response = await self._call("GET", f"/users/{user_id}", what=f"user {user_id}")
        return _user(_document(response))

    async def find_user(self, name: str) -> SecureChangeUser | None:
        """``GET /users?user_name=...``: the user with this login name, or None."""
        response = await self._call("GET", "/users", params={"user_name": name},
                                    what=f"user {name!r}")
        root = _document(response)
        for element in root.iter("user"):
            user = _user(element)
            if user.name == name:
                return user
        return None

    async def check(self) -> ConnectionCheck:
        """Test connection and credentials with a cheap authenticated call."""
        started = time.monotonic()
        try:
            await self._call("GET", "/users", params={"user_name": self.connection.username},
                             what="the user list")
        except SecureChangeError as exc:
            return ConnectionCheck(False, str(exc), exc.status, _ms(started), exc.stage)
        return ConnectionCheck(True, f"connected to {self.connection.base_url} as "
                               f"{self.connection.username}", 200, _ms(started))

    async def _call(
        self, method: str, path: str, *, what: str, content: str | None = None,
        params: dict[str, str] | None = None, accept: str = "application/xml",
    ) -> httpx2.Response:
        headers = {"Accept": accept}
        if content is not None:
            headers["Content-Type"] = "application/xml"
        try:
            response = await self._http.request(method, path, content=content, params=params,
                                                headers=headers)
        except httpx2.TimeoutException as exc:
            raise SecureChangeError(
                f"{what}: SecureChange did not answer within "
                f"{self.connection.timeout_seconds:g}s", retryable=True,
                stage=classify(exc)) from None
        except httpx2.TransportError as exc:
            if policy_refusal(exc) is not None:
                # Retried like an unreachable SecureChange: an admin may change the policy.
                raise SecureChangeError(
                    f"{what}: {describe(exc, target=self.connection.target.netloc())}",
                    retryable=True, stage="policy") from None
            text = str(exc) or type(exc).__name__
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in text:
                hint = " (upload SecureChange's certificate or CA, verify mode 'certificate')"
            raise SecureChangeError(f"{what}: cannot reach SecureChange at "
                                    f"{self.connection.base_url}: {text}{hint}",
                                    retryable=True, stage=classify(exc)) from None
        if response.status_code < 300:
            return response
        status = response.status_code
        if status == 401:
            message = "SecureChange refused the user name or password (401)"
        elif status == 403:
            user = self.connection.username
            message = f"the SecureChange user {user!r} may not access {what} (403)"
        elif status == 404:
            message = f"{what} does not exist in SecureChange (404)"
        else:
            message = f"SecureChange answered {status} for {what}: {_reason(response)}"
        raise SecureChangeError(
            message, status=status, retryable=is_retryable_status(status),
            retry_after=retry_after(response.headers, self._clock.now()), stage="http",
        )


def _fields_path(ticket_id: int, step_id: int, task_id: int) -> str:
    return f"/tickets/{ticket_id}/steps/{step_id}/tasks/{task_id}/fields"


def _document(response: httpx2.Response) -> Element:
    try:
        return parse_xml(response.content)
    except DocumentError as exc:
        raise SecureChangeError(f"SecureChange sent an unreadable document: {exc}",
                                retryable=False, stage="parse") from None


def _user(element: Element) -> SecureChangeUser:
    raw_id = child_text(element, "id")
    return SecureChangeUser(
        id=int(raw_id) if raw_id and raw_id.isdigit() else None,
        name=child_text(element, "name") or "",
        email=child_text(element, "email") or "",
        display_name=child_text(element, "display_name") or "",
    )


def _reason(response: httpx2.Response) -> str:
    with suppress(DocumentError):  # not SecureChange's XML error document: quote the text
        message = child_text(parse_xml(response.content), "message")
        if message:
            return message
    return response.text[:200].strip() or response.reason_phrase


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

"""A workflow integration: which requests WI sends for one SecureChange workflow.

The model checks the shape of a document (kinds of points, methods, paths, header
names, conditions, JMESPath expressions). Checks that need the outside world — do the
named servers exist, is every placeholder known, does each body render to JSON — are
made by the integration service with the templating package.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from workflow_integrator.domain.conditions import (
    Condition,
    ConditionError,
    parse_condition,
)
from workflow_integrator.domain.events import WORKFLOW_EVENTS
from workflow_integrator.domain.headers import is_header_name, line_breaker

EVENT_NAMES: tuple[str, ...] = tuple(event.value for event in WORKFLOW_EVENTS)
"""The events a point may fire on (the one list lives in :mod:`domain.events`)."""


def _event_name(value: str) -> str:
    if value not in EVENT_NAMES:
        raise ValueError(f"Input should be {', '.join(repr(n) for n in EVENT_NAMES)}")
    return value


EventName = Annotated[
    str,
    AfterValidator(_event_name),
    WithJsonSchema({"type": "string", "enum": list(EVENT_NAMES)}),
]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
PointKind = Literal["trigger", "inbound", "outbound", "step_trigger"]

MAX_BODY_TEMPLATE_CHARS = 65_536
MAX_PATH_CHARS = 2_000
FIELD_TYPE_NAMES: tuple[str, ...] = (
    "text_field",
    "text_area",
    "multi_text_field",
    "multi_text_area",
    "checkbox",
    "date",
    "time",
    "drop_down_list",
    "multiple_selection",
    "approve_reject",
    "manager",
    "hyperlink",
    "multi_hyperlink",
    "multi_access_request",
    "multi_group_change",
    "multi_network_object",
    "multi_service",
    "multi_target",
    "multi_server_decommission_request",
    "rule_decommission",
)

_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def fold(name: str) -> str:
    """Names of steps and fields compare case-insensitively, ignoring extra spaces."""
    return " ".join(name.split()).casefold()


class PointOn(_Strict):
    """When a point fires: a general trigger, or a step with inbound/outbound/a trigger."""

    trigger: EventName | None = Field(default=None, description="SecureChange event name")
    step: str | None = Field(default=None, max_length=200, description="Workflow step name")
    when: Literal["inbound", "outbound"] | None = Field(
        default=None, description="For a step: entering (inbound) or leaving (outbound) it"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> PointOn:
        if self.step is not None and not self.step.strip():
            raise ValueError("step: give the step name, or leave step out for a general trigger")
        if self.step is None:
            if self.when is not None:
                raise ValueError("step: 'when' (inbound/outbound) needs the step it applies to")
            if self.trigger is None:
                raise ValueError(
                    'trigger: give a trigger ({"trigger": "CREATE"}) or a step '
                    '({"step": "Business Approval", "when": "inbound"})'
                )
        elif (self.when is None) == (self.trigger is None):
            raise ValueError(
                "when: a step point needs exactly one of 'when' (inbound or outbound) "
                "or 'trigger' (an event in that step)"
            )
        return self

    @property
    def kind(self) -> PointKind:
        """general trigger, step inbound, step outbound or step trigger."""
        if self.step is None:
            return "trigger"
        if self.when is not None:
            return self.when
        return "step_trigger"

    def describe(self) -> str:
        """How a person would say it: 'on CREATE', 'entering step X'..."""
        if self.step is None:
            return f"on {self.trigger}"
        if self.when == "inbound":
            return f"entering step '{self.step}'"
        if self.when == "outbound":
            return f"leaving step '{self.step}'"
        return f"on {self.trigger} in step '{self.step}'"


class RequestTemplate(_Strict):
    """What a point sends: method, path below the server's base, headers, JSON body."""

    method: Method = "POST"
    path: str = Field(default="", max_length=MAX_PATH_CHARS)
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = Field(default=None, max_length=MAX_BODY_TEMPLATE_CHARS)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        value = value.strip()
        literal = _PLACEHOLDER.sub("", value)
        if "://" in value.split("{{")[0]:
            raise ValueError(
                "give only the path below the server's base URL (e.g. /api/now/table/incident);"
                " the host comes from the outbound server"
            )
        if any(c in literal for c in "\r\n\t "):
            raise ValueError(
                "the path must not contain spaces or line breaks outside placeholders; "
                "write a space as %20"
            )
        if value and not value.startswith(("/", "?", "{{")):
            value = "/" + value
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not is_header_name(name):
                raise ValueError(f"'{name}' is not a valid header name")
            if name.lower() in _FORBIDDEN_HEADERS:
                raise ValueError(f"the {name} header is set by WI's HTTP client; leave it out")
            if line_breaker(text) is not None:
                raise ValueError(f"the value of header '{name}' must be one line")
        return value

    @field_validator("body")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value if value is not None and value.strip() else None


class ResponseMapping(_Strict):
    """Values taken from the JSON response (JMESPath) into ticket fields (by name)."""

    fields: dict[str, str] = Field(
        default_factory=dict, description="ticket field name → JMESPath expression"
    )

    @field_validator("fields")
    @classmethod
    def _compile(cls, value: dict[str, str]) -> dict[str, str]:
        for name, expression in value.items():
            if not name.strip():
                raise ValueError("a mapped ticket field needs a name")
            if not expression.strip():
                raise ValueError(f"'{name}': give a JMESPath expression, e.g. result.number")
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                raise ValueError(
                    f"'{name}': '{expression}' is not a valid JMESPath expression: "
                    f"{' '.join(str(exc).split())}"
                ) from None
        return value

    def extract(self, body: Any) -> tuple[dict[str, Any], list[str]]:
        """Apply the mapping to a parsed JSON response.

        Returns the values found (field name → value) and the names of the fields
        whose expression found nothing (null), for the caller to record.
        """
        found: dict[str, Any] = {}
        missing: list[str] = []
        for name, expression in self.fields.items():
            value = jmespath.search(expression, body)
            if value is None:
                missing.append(name)
            else:
                found[name] = value
        return found, missing


def _checked_condition(value: dict[str, Any]) -> dict[str, Any]:
    try:
        parse_condition(value)
    except ConditionError as exc:
        where = ".".join(str(p) for p in exc.loc)
        raise ValueError(f"{where + ': ' if where else ''}{exc.message}") from None
    return value


class IntegrationPoint(_Strict):
    """One request that is sent when its ``on`` matches an event (and its condition holds)."""

    name: str = Field(min_length=1, max_length=100)
    on: PointOn
    condition: dict[str, Any] | None = Field(
        default=None,
        description="Only for tickets where this holds (the routes' condition language); "
        "none: every ticket of the workflow",
    )
    server: str | None = Field(default=None, description="Fixed server; wins over routes")
    enabled: bool = True
    request: RequestTemplate = Field(default_factory=RequestTemplate)
    response: ResponseMapping | None = None

    @field_validator("condition")
    @classmethod
    def _valid_condition(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _checked_condition(value) if value is not None else None

    @property
    def parsed_condition(self) -> Condition | None:
        """The parsed condition, or None when the point fires for every ticket."""
        return parse_condition(self.condition) if self.condition is not None else None


class Route(_Strict):
    """Send to ``server`` instead of the default when ``when`` holds."""

    when: dict[str, Any]
    server: str = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _valid_condition(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _checked_condition(value)

    @property
    def condition(self) -> Condition:
        """The parsed condition."""
        return parse_condition(self.when)


class NotifyOnFailure(_Strict):
    """Who gets an e-mail when a request finally cannot be delivered."""

    requester: bool = False
    handler: bool = False
    addresses: list[str] = Field(default_factory=list)

    @field_validator("addresses")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        cleaned = [a.strip() for a in value if a.strip()]
        for address in cleaned:
            if not _EMAIL.match(address):
                raise ValueError(f"'{address}' is not an e-mail address")
        return cleaned


class Integration(_Strict):
    """One SecureChange workflow connected to outbound servers."""

    workflow: str = Field(min_length=1, max_length=200)
    default_server: str = Field(min_length=1)
    enabled: bool = True
    routes: list[Route] = Field(default_factory=list)
    notify_on_failure: NotifyOnFailure = Field(default_factory=NotifyOnFailure)
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="The workflow's ticket fields that placeholders may use: name → type",
    )
    points: list[IntegrationPoint] = Field(default_factory=list)

    @field_validator("workflow")
    @classmethod
    def _trim(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give the SecureChange workflow name")
        if line_breaker(value) is not None:
            raise ValueError("the workflow name must be one line")
        return value.strip()

    @field_validator("fields", mode="before")
    @classmethod
    def _list_means_text(cls, value: Any) -> Any:
        # A plain list of names is the quick form: every field taken as text.
        if isinstance(value, list):
            return {str(name): "text_field" for name in value}
        return value

    @field_validator("fields")
    @classmethod
    def _field_types(cls, value: dict[str, str]) -> dict[str, str]:
        for name, kind in value.items():
            if not name.strip():
                raise ValueError("a field needs a name")
            if kind not in FIELD_TYPE_NAMES:
                raise ValueError(
                    f"'{name}': unknown field type '{kind}'; one of {', '.join(FIELD_TYPE_NAMES)}"
                )
        return value

    @model_validator(mode="after")
    def _unique_points(self) -> Integration:
        seen: set[str] = set()
        for point in self.points:
            key = fold(point.name)
            if key in seen:
                raise ValueError(f"points: two points are named '{point.name}'; names must differ")
            seen.add(key)
        return self

    def point(self, name: str) -> IntegrationPoint | None:
        """The point with this name."""
        return next((p for p in self.points if fold(p.name) == fold(name)), None)

    def server_names(self) -> set[str]:
        """Every server the integration can send to."""
        names = {self.default_server}
        names.update(route.server for route in self.routes)
        names.update(p.server for p in self.points if p.server)
        return names

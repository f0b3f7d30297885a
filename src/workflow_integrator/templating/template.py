"""Templates: ``{{name}}`` placeholders in JSON bodies, paths and header values.

Syntax: ``{{ name }}`` where ``name`` is a placeholder name, spaces allowed
(``{{ITSM reference}}``), optionally followed by Jinja filters:
``{{ ticket_subject | upper }}``, ``{{ Tags | join(", ") }}``,
``{{ Comment | default("none") }}``. Filters run in Jinja2's
``ImmutableSandboxedEnvironment`` and only from an allow-list, with constant arguments:
templates are data, not code.

A JSON body stays valid JSON whatever the data holds:

* ``"{{name}}"`` — a placeholder that is a whole JSON string — becomes the typed JSON
  value (a number, list, object, true/false, or a string);
* a placeholder inside a longer string is inserted escaped (lists and objects as their
  compact JSON text);
* a placeholder outside any string becomes the typed JSON value.

Path placeholders are URL-encoded as one segment each (``/`` becomes ``%2F``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workflow_integrator.domain.headers import line_breaker
from workflow_integrator.templating.plugins import PlaceholderError

MAX_TEMPLATE_CHARS = 65_536
MAX_RENDERED_CHARS = 1_048_576
RENDER_SECONDS = 2.0

ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "default",
        "d",
        "first",
        "float",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "max",
        "min",
        "replace",
        "reverse",
        "round",
        "sort",
        "string",
        "sum",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
    }
)
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.Filter,
    nodes.Name,
    nodes.Const,
    nodes.Keyword,
    nodes.List,
    nodes.Tuple,
)


class TemplateError(ValueError):
    """The template itself is wrong (syntax, filter, JSON shape); ``line`` when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


class RenderError(RuntimeError):
    """Rendering failed for this ticket: unknown placeholder, failing custom function,
    result too large or too slow."""


class Values(Protocol):
    """Where placeholder values come from: ``lookup`` raises KeyError for unknown names."""

    def lookup(self, name: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Slot:
    """One ``{{ ... }}`` of a template."""

    name: str
    filters: str | None
    line: int
    source: str


Part = str | Slot

_env = ImmutableSandboxedEnvironment(autoescape=False)


def parse_template(text: str) -> list[Part]:
    """Split a template into literal text and placeholder slots."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    parts: list[Part] = []
    position = 0
    while True:
        start = text.find("{{", position)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        line = text.count("\n", 0, start) + 1
        if end < 0:
            raise TemplateError("'{{' is not closed by '}}'", line)
        inner = text[start + 2 : end]
        name, _, filters = inner.partition("|")
        name = " ".join(name.split())
        if not name:
            raise TemplateError("an empty placeholder '{{}}'; put a name inside", line)
        if "{{" in inner or "\n" in name:
            raise TemplateError(f"'{{{{{inner}}}}}' is not a placeholder", line)
        # Inside a JSON string a quote is written \"; the filter means a plain quote.
        filters_text = filters.replace('\\"', '"').strip() or None
        if filters_text is not None:
            try:
                _filter_chain(filters_text)
            except TemplateError as exc:
                raise TemplateError(exc.message, line) from None
        if start > position:
            parts.append(text[position:start])
        parts.append(Slot(name, filters_text, line, text[start : end + 2]))
        position = end + 2
    if position < len(text):
        parts.append(text[position:])
    return parts


def slots(text: str | None) -> Iterator[Slot]:
    """The placeholder slots of a template."""
    for part in parse_template(text or ""):
        if isinstance(part, Slot):
            yield part


@lru_cache(maxsize=512)
def _filter_chain(filters: str) -> Callable[..., Any]:
    source = "value | " + filters
    try:
        tree = _env.parse("{{ " + source + " }}")
    except TemplateSyntaxError as exc:
        raise TemplateError(f"cannot read the filters '{filters}': {exc.message}") from None
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            raise TemplateError(
                f"'{filters}': only filters with constant arguments are allowed "
                f"({type(node).__name__.lower()} is not)"
            )
        if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            raise TemplateError(
                f"filter '{node.name}' is not available; use one of "
                f"{', '.join(sorted(ALLOWED_FILTERS))}"
            )
        if isinstance(node, nodes.Name) and node.name != "value":
            raise TemplateError(
                f"'{node.name}' inside filters: arguments must be constants like \"text\" or 3"
            )
    return _env.compile_expression(source, undefined_to_none=False)


class _Budget:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + RENDER_SECONDS
        self.size = 0

    def spend(self, text: str) -> str:
        self.size += len(text)
        if self.size > MAX_RENDERED_CHARS:
            raise RenderError(f"the rendered result is larger than {MAX_RENDERED_CHARS} characters")
        if time.monotonic() > self.deadline:
            raise RenderError(f"rendering took longer than {RENDER_SECONDS:g}s")
        return text


def slot_value(slot: Slot, values: Values) -> Any:
    """The slot's value: the placeholder's, passed through its filters."""
    try:
        value = values.lookup(slot.name)
    except KeyError:
        raise RenderError(f"unknown placeholder '{slot.name}' (line {slot.line})") from None
    except PlaceholderError as exc:
        raise RenderError(str(exc)) from None
    if slot.filters is None:
        return value
    try:
        result = _filter_chain(slot.filters)(value=value)
    except (SecurityError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise RenderError(
            f"filters '{slot.filters}' on '{slot.name}' failed (line {slot.line}): {exc}"
        ) from None
    return _plain(result)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)  # Markup and other str subclasses become plain text
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_plain(v) for v in value]
    return str(value)


def as_text(value: Any) -> str:
    """How a value reads inside a longer string: text as is, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_json(template: str, values: Values) -> str:
    """Render a JSON body template; the result is valid JSON or RenderError/TemplateError."""
    parts = parse_template(template)
    text = _render_json_parts(parts, lambda slot: slot_value(slot, values))
    try:
        json.loads(text)
    except json.JSONDecodeError:
        problem = json_shape_problem(template)
        raise problem or TemplateError("the rendered body is not valid JSON") from None
    return text


def _render_json_parts(parts: list[Part], value_of: Callable[[Slot], Any]) -> str:
    budget = _Budget()
    out: list[str] = []
    in_string = escaped = just_opened = skip_quote = False
    for index, part in enumerate(parts):
        if isinstance(part, str):
            chunk = part[1:] if skip_quote else part
            skip_quote = False
            for ch in chunk:
                if in_string:
                    just_opened = False
                    if escaped:
                        escaped = False
                    elif ch == "\\":
                        escaped = True
                    elif ch == '"':
                        in_string = False
                elif ch == '"':
                    in_string = just_opened = True
            out.append(budget.spend(chunk))
            continue
        value = value_of(part)
        following = parts[index + 1] if index + 1 < len(parts) else None
        if not in_string:
            out.append(budget.spend(_json(value)))
        elif (
            just_opened
            and isinstance(following, str)
            and following.startswith('"')
            # An object key must stay a string.
            and not following[1:].lstrip().startswith(":")
        ):
            out[-1] = out[-1][:-1]  # the opening quote: the typed value replaces the string
            out.append(budget.spend(_json(value)))
            skip_quote = True
            in_string = just_opened = False
        else:
            out.append(budget.spend(_json(as_text(value))[1:-1]))
            just_opened = False
    return "".join(out)


def json_shape_problem(template: str) -> TemplateError | None:
    """Why a body template cannot yield JSON whatever the values, with the line; or None."""
    try:
        parts = parse_template(template)
    except TemplateError as exc:
        return exc

    def neutral(slot: Slot) -> Any:
        return 0

    skeleton = _render_json_parts(parts, neutral)
    try:
        json.loads(skeleton)
    except json.JSONDecodeError as exc:
        return TemplateError(f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno)
    return None


def render_path(template: str, values: Values) -> str:
    """Render a path; each placeholder's value is URL-encoded as one path segment."""
    budget = _Budget()
    out: list[str] = []
    for part in parse_template(template):
        if isinstance(part, str):
            out.append(budget.spend(part))
            continue
        text = as_text(slot_value(part, values))
        # A bare "." or ".." would climb the server's path: encode the dots.
        encoded = "%2E" * len(text) if text in (".", "..") else quote(text, safe="")
        out.append(budget.spend(encoded))
    return "".join(out)


def render_text(template: str, values: Values, *, what: str = "header") -> str:
    """Render a one-line text (a header value); line breaks in values are refused."""
    budget = _Budget()
    out: list[str] = []
    for part in parse_template(template):
        text = part if isinstance(part, str) else as_text(slot_value(part, values))
        breaker = line_breaker(text)
        if breaker is not None:
            name = part.name if isinstance(part, Slot) else "text"
            raise RenderError(f"'{name}' holds a {breaker} character, which a {what} cannot carry")
        out.append(budget.spend(text))
    return "".join(out)

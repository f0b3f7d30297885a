"""Route conditions: data, not code, so the UI can edit them and the API can check them.

A condition is one of::

    {"field": "<placeholder>", "op": "equals|not_equals|contains|in|matches|exists",
     "value": ...}
    {"all": [<condition>, ...]}
    {"any": [<condition>, ...]}
    {"not": <condition>}

It is evaluated against placeholder values (see ``templating.placeholders``).
Regular expressions run with a time limit, so a pathological pattern cannot stall WI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import regex

Op = Literal["equals", "not_equals", "contains", "in", "matches", "exists"]
OPS: tuple[str, ...] = ("equals", "not_equals", "contains", "in", "matches", "exists")

#: Seconds one regular-expression search may take before the condition fails.
REGEX_TIMEOUT_SECONDS = 0.05
MAX_PATTERN_LENGTH = 1000
MAX_DEPTH = 16
MAX_TEXT_FOR_MATCH = 100_000


class ConditionError(ValueError):
    """A condition document is malformed; ``loc`` says where inside it."""

    def __init__(self, loc: list[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class ConditionTimeout(RuntimeError):
    """A ``matches`` pattern took longer than its time limit."""


@dataclass(frozen=True, slots=True)
class FieldCondition:
    """Compare one placeholder's value with ``value``."""

    field: str
    op: Op
    value: Any = None


@dataclass(frozen=True, slots=True)
class AllOf:
    """Holds when every part holds (an empty list holds)."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Holds when some part holds (an empty list does not)."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Holds when its part does not."""

    part: Condition


Condition: TypeAlias = FieldCondition | AllOf | AnyOf | Not

_MISSING = object()


def parse_condition(data: Any, loc: list[str | int] | None = None, depth: int = 0) -> Condition:
    """Build a condition from its JSON form; :class:`ConditionError` names the bad part."""
    loc = loc or []
    if depth > MAX_DEPTH:
        raise ConditionError(loc, f"conditions may nest at most {MAX_DEPTH} levels deep")
    if not isinstance(data, dict):
        raise ConditionError(
            loc,
            'a condition must be an object: {"field": ..., "op": ..., "value": ...}, '
            '{"all": [...]}, {"any": [...]} or {"not": {...}}',
        )
    combinators = [k for k in ("all", "any", "not") if k in data]
    if combinators:
        if len(data) != 1:
            raise ConditionError(
                loc, f"'{combinators[0]}' must be the only key of its condition object"
            )
        key = combinators[0]
        if key == "not":
            return Not(parse_condition(data["not"], [*loc, "not"], depth + 1))
        items = data[key]
        if not isinstance(items, list):
            raise ConditionError([*loc, key], f"'{key}' takes a list of conditions")
        parts = tuple(
            parse_condition(item, [*loc, key, i], depth + 1) for i, item in enumerate(items)
        )
        return AllOf(parts) if key == "all" else AnyOf(parts)
    unknown = sorted(set(data) - {"field", "op", "value"})
    if unknown:
        raise ConditionError(
            loc, f"unknown key(s) {', '.join(unknown)}; a field condition has field, op, value"
        )
    field = data.get("field")
    if not isinstance(field, str) or not field.strip():
        raise ConditionError([*loc, "field"], "give the placeholder name to test, e.g. Region")
    op = data.get("op")
    if op not in OPS:
        raise ConditionError([*loc, "op"], f"op must be one of {', '.join(OPS)}; got {op!r}")
    value = data.get("value", _MISSING)
    if op == "exists":
        if value is not _MISSING and not isinstance(value, bool):
            raise ConditionError([*loc, "value"], "'exists' takes no value, or true/false")
        return FieldCondition(field.strip(), "exists", True if value is _MISSING else value)
    if value is _MISSING:
        raise ConditionError([*loc, "value"], f"op '{op}' needs a value")
    if op == "in" and not isinstance(value, list):
        raise ConditionError([*loc, "value"], "op 'in' takes a list of values")
    if op == "matches":
        if not isinstance(value, str):
            raise ConditionError([*loc, "value"], "op 'matches' takes a regular expression")
        if len(value) > MAX_PATTERN_LENGTH:
            raise ConditionError(
                [*loc, "value"], f"the pattern is longer than {MAX_PATTERN_LENGTH} characters"
            )
        try:
            _compile(value)
        except regex.error as exc:
            raise ConditionError([*loc, "value"], f"invalid regular expression: {exc}") from None
    return FieldCondition(field.strip(), op, value)


def condition_to_data(condition: Condition) -> dict[str, Any]:
    """The JSON form of a condition (inverse of :func:`parse_condition`)."""
    if isinstance(condition, FieldCondition):
        out: dict[str, Any] = {"field": condition.field, "op": condition.op}
        if condition.op != "exists" or condition.value is not True:
            out["value"] = condition.value
        return out
    if isinstance(condition, AllOf):
        return {"all": [condition_to_data(p) for p in condition.parts]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_to_data(p) for p in condition.parts]}
    return {"not": condition_to_data(condition.part)}


def condition_fields(condition: Condition) -> Iterator[str]:
    """Every placeholder name the condition reads."""
    if isinstance(condition, FieldCondition):
        yield condition.field
    elif isinstance(condition, AllOf | AnyOf):
        for part in condition.parts:
            yield from condition_fields(part)
    else:
        yield from condition_fields(condition.part)


Lookup = Callable[[str], Any]
"""Returns the value of a placeholder, or raises KeyError when it has none."""


def evaluate(condition: Condition, lookup: Lookup) -> bool:
    """Whether the condition holds for the placeholder values behind ``lookup``.

    Raises :class:`ConditionTimeout` when a regular expression runs too long.
    """
    if isinstance(condition, AllOf):
        return all(evaluate(p, lookup) for p in condition.parts)
    if isinstance(condition, AnyOf):
        return any(evaluate(p, lookup) for p in condition.parts)
    if isinstance(condition, Not):
        return not evaluate(condition.part, lookup)
    try:
        actual = lookup(condition.field)
    except KeyError:
        actual = _MISSING
    return _compare(condition, actual)


def _present(value: Any) -> bool:
    return value is not _MISSING and value is not None and value != "" and value != []


def _compare(condition: FieldCondition, actual: Any) -> bool:
    op, expected = condition.op, condition.value
    if op == "exists":
        return _present(actual) is bool(expected)
    if actual is _MISSING:
        return op == "not_equals"
    if op == "equals":
        return _equal(actual, expected)
    if op == "not_equals":
        return not _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op == "contains":
        if isinstance(actual, list):
            return any(_equal(item, expected) for item in actual)
        if isinstance(actual, dict):
            return str(expected) in actual
        return _text(expected).casefold() in _text(actual).casefold()
    # matches: any element of a list may match
    candidates = actual if isinstance(actual, list) else [actual]
    pattern = _compile(str(expected))
    for item in candidates:
        text = _text(item)[:MAX_TEXT_FOR_MATCH]
        try:
            if pattern.search(text, timeout=REGEX_TIMEOUT_SECONDS) is not None:
                return True
        except TimeoutError:
            raise ConditionTimeout(
                f"the pattern {expected!r} on '{condition.field}' ran longer than "
                f"{REGEX_TIMEOUT_SECONDS}s; simplify it"
            ) from None
    return False


def _compile(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _equal(actual: Any, expected: Any) -> bool:
    """Equality the way a form user means it: "5" equals 5, "true" equals True."""
    if isinstance(actual, list | dict) or isinstance(expected, list | dict):
        return bool(actual == expected)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return _text(actual).casefold() == _text(expected).casefold()
    return _text(actual) == _text(expected)

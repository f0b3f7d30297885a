"""Plain words for the generic checks pydantic runs (required, lengths, ranges, choices).

Every interface shows these: the API, the CLI and the UI, which puts its own field
label in front. Rules written for WI already speak plainly and pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NUMBER_TYPES = {"int_parsing", "int_type", "int_from_float"}
_FLOAT_TYPES = {"float_parsing", "float_type", "decimal_parsing"}
_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(error: Mapping[str, Any]) -> str:
    """The message for one pydantic error, in WI's words."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "a value is required"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "a value is required" if least == 1 else f"enter at least {least} characters"
    if kind == "string_too_long":
        return f"use at most {ctx.get('max_length')} characters"
    if kind == "greater_than":
        return f"enter a number greater than {_number(ctx.get('gt'))}"
    if kind == "greater_than_equal":
        return f"enter a number of at least {_number(ctx.get('ge'))}"
    if kind == "less_than":
        return f"enter a number below {_number(ctx.get('lt'))}"
    if kind == "less_than_equal":
        return f"enter a number of at most {_number(ctx.get('le'))}"
    if kind in _NUMBER_TYPES:
        return "enter a whole number"
    if kind in _FLOAT_TYPES:
        return "enter a number"
    if kind == "bool_parsing":
        return "choose yes or no (true or false)"
    if kind == "literal_error":
        return f"choose one of {ctx.get('expected')}"
    if kind == "string_type":
        return "enter text"
    if kind == "extra_forbidden":
        return "not a setting WI knows; remove it"
    if kind in ("list_type", "dict_type", "model_type"):
        return "this value has the wrong shape; see the API documentation for this field"
    message = str(error.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

"""The route condition language: parsing with clear errors, evaluation, bounded regexes."""

from __future__ import annotations

from typing import Any

import pytest

from workflow_integrator.domain.conditions import (
    ConditionError,
    ConditionTimeout,
    condition_fields,
    condition_to_data,
    evaluate,
    parse_condition,
)

VALUES: dict[str, Any] = {
    "Region": "EMEA",
    "Priority": 3,
    "Urgent": True,
    "Tags": ["firewall", "dmz"],
    "Approval": {"approved": True, "reason": "ok"},
    "Empty": "",
    "Subject": "Open port 443 to the DMZ",
}


def holds(data: dict[str, Any]) -> bool:
    return evaluate(parse_condition(data), VALUES.__getitem__)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "Region", "op": "equals", "value": "EMEA"}, True),
        ({"field": "Region", "op": "equals", "value": "emea"}, False),
        ({"field": "Priority", "op": "equals", "value": "3"}, True),
        ({"field": "Urgent", "op": "equals", "value": "true"}, True),
        ({"field": "Urgent", "op": "equals", "value": True}, True),
        ({"field": "Region", "op": "not_equals", "value": "APAC"}, True),
        ({"field": "Missing", "op": "not_equals", "value": "x"}, True),
        ({"field": "Missing", "op": "equals", "value": "x"}, False),
        ({"field": "Subject", "op": "contains", "value": "dmz"}, True),
        ({"field": "Subject", "op": "contains", "value": "vpn"}, False),
        ({"field": "Tags", "op": "contains", "value": "dmz"}, True),
        ({"field": "Tags", "op": "contains", "value": "dm"}, False),
        ({"field": "Approval", "op": "contains", "value": "reason"}, True),
        ({"field": "Region", "op": "in", "value": ["APAC", "EMEA"]}, True),
        ({"field": "Region", "op": "in", "value": []}, False),
        ({"field": "Priority", "op": "in", "value": [1, 3]}, True),
        ({"field": "Subject", "op": "matches", "value": r"port \d+"}, True),
        ({"field": "Subject", "op": "matches", "value": r"^port"}, False),
        ({"field": "Tags", "op": "matches", "value": r"^fire"}, True),
        ({"field": "Region", "op": "exists"}, True),
        ({"field": "Empty", "op": "exists"}, False),
        ({"field": "Missing", "op": "exists"}, False),
        ({"field": "Missing", "op": "exists", "value": False}, True),
        ({"all": []}, True),
        ({"any": []}, False),
        (
            {
                "all": [
                    {"field": "Region", "op": "equals", "value": "EMEA"},
                    {"not": {"field": "Tags", "op": "contains", "value": "vpn"}},
                ]
            },
            True,
        ),
        (
            {
                "any": [
                    {"field": "Region", "op": "equals", "value": "APAC"},
                    {"field": "Priority", "op": "equals", "value": 1},
                ]
            },
            False,
        ),
        ({"not": {"field": "Region", "op": "equals", "value": "EMEA"}}, False),
    ],
)
def test_evaluate(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition) is expected
    # The JSON form round-trips.
    assert parse_condition(condition_to_data(parse_condition(condition))) == parse_condition(
        condition
    )


@pytest.mark.parametrize(
    ("condition", "loc", "words"),
    [
        ("EMEA", [], "must be an object"),
        ({"field": "Region", "op": "is", "value": 1}, ["op"], "one of equals"),
        ({"field": "", "op": "equals", "value": 1}, ["field"], "placeholder name"),
        ({"field": "Region", "op": "equals"}, ["value"], "needs a value"),
        ({"field": "Region", "op": "in", "value": "EMEA"}, ["value"], "list"),
        ({"field": "Region", "op": "matches", "value": "(unclosed"}, ["value"], "invalid regular"),
        ({"field": "Region", "op": "matches", "value": 5}, ["value"], "regular expression"),
        ({"field": "Region", "op": "exists", "value": "x"}, ["value"], "exists"),
        ({"all": {"field": "R"}}, ["all"], "list of conditions"),
        ({"all": [], "any": []}, [], "only key"),
        ({"any": [{"field": "R", "op": "equals", "value": 1}, 3]}, ["any", 1], "object"),
        ({"field": "R", "op": "equals", "value": 1, "extra": 2}, [], "unknown key"),
    ],
)
def test_bad_conditions_name_the_place_and_the_fix(
    condition: Any, loc: list[Any], words: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(condition)
    assert caught.value.loc == loc
    assert words in caught.value.message


def test_deep_nesting_is_refused() -> None:
    condition: dict[str, Any] = {"field": "R", "op": "exists"}
    for _ in range(40):
        condition = {"not": condition}
    with pytest.raises(ConditionError, match="nest"):
        parse_condition(condition)


def test_fields_lists_every_placeholder_read() -> None:
    condition = parse_condition(
        {
            "all": [
                {"field": "A", "op": "exists"},
                {"not": {"field": "B", "op": "equals", "value": 1}},
            ]
        }
    )
    assert list(condition_fields(condition)) == ["A", "B"]


def test_a_catastrophic_pattern_is_stopped_by_its_time_limit() -> None:
    condition = parse_condition({"field": "Subject", "op": "matches", "value": r"(x+x+)+y"})
    with pytest.raises(ConditionTimeout, match="simplify"):
        evaluate(condition, {"Subject": "x" * 5000}.__getitem__)

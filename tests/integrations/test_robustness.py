"""Arbitrary input never crashes validation or rendering: it is accepted or refused clearly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from workflow_integrator.domain.conditions import (
    ConditionError,
    ConditionTimeout,
    evaluate,
    parse_condition,
)
from workflow_integrator.domain.integration import Integration
from workflow_integrator.templating.template import RenderError, TemplateError, render_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["field", "op", "value", "all", "any", "not", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=15,
)


class Values:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def lookup(self, name: str) -> Any:
        return self.values[name]


@settings(max_examples=400, deadline=None)
@given(condition=json_values, value=json_values)
def test_any_condition_document_parses_or_is_refused_and_evaluates(condition: Any, value: Any):
    try:
        parsed = parse_condition(condition)
    except ConditionError as exc:
        assert exc.message
        return
    try:
        result = evaluate(parsed, {"field": value, "x": value}.__getitem__)
    except ConditionTimeout:
        return
    assert isinstance(result, bool)


@settings(max_examples=400, deadline=None)
@given(template=st.text(alphabet="{}\"[]:, \\abn|x\n()'", max_size=40), value=json_values)
def test_any_template_renders_valid_json_or_is_refused(template: str, value: Any) -> None:
    try:
        out = render_json(template, Values({"a": value, "b": value, "x": "x"}))
    except (TemplateError, RenderError):
        return
    json.loads(out)


@settings(max_examples=200, deadline=None)
@given(
    doc=st.dictionaries(
        st.sampled_from(
            [
                "workflow",
                "default_server",
                "routes",
                "points",
                "fields",
                "enabled",
                "notify_on_failure",
            ]
        ),
        json_values,
        max_size=7,
    )
)
def test_any_integration_document_validates_or_is_refused(doc: dict[str, Any]) -> None:
    try:
        Integration.model_validate(doc)
    except ValidationError as exc:
        assert exc.errors()

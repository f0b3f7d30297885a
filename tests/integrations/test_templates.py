"""Templates: typed JSON, escaping whatever the data holds, paths, filters, the sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow_integrator.templating.template import (
    RenderError,
    TemplateError,
    json_shape_problem,
    render_json,
    render_path,
    render_text,
)


class Values:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def lookup(self, name: str) -> Any:
        return self.values[name]


def body(template: str, **values: Any) -> Any:
    return json.loads(render_json(template, Values(**values)))


def test_a_whole_string_placeholder_becomes_the_typed_value() -> None:
    template = (
        '{"id": "{{ticket_id}}", "tags": "{{Tags}}", "ok": "{{Flag}}", '
        '"approval": "{{Approval}}", "none": "{{Nothing}}", "text": "{{Text}}"}'
    )
    assert body(
        template,
        ticket_id=445,
        Tags=["a", "b"],
        Flag=True,
        Approval={"approved": False, "reason": "no"},
        Nothing=None,
        Text="hi",
    ) == {
        "id": 445,
        "tags": ["a", "b"],
        "ok": True,
        "approval": {"approved": False, "reason": "no"},
        "none": None,
        "text": "hi",
    }


def test_a_placeholder_inside_a_longer_string_is_inserted_as_escaped_text() -> None:
    template = '{"d": "Ticket {{ticket_id}}: {{subject}} [{{Tags}}]"}'
    assert body(template, ticket_id=5, subject='say "hi"\nnow', Tags=["x"]) == {
        "d": 'Ticket 5: say "hi"\nnow [["x"]]'
    }


def test_a_placeholder_as_an_object_key_stays_a_string() -> None:
    assert body('{"{{n}}": "{{n}}", "k{{n}}" : 1}', n=5) == {"5": 5, "k5": 1}


def test_placeholders_outside_strings_are_json_values() -> None:
    assert body('{"n": {{n}}, "l": {{l}}, "s": {{s}}}', n=3, l=[1], s='a"b') == {
        "n": 3,
        "l": [1],
        "s": 'a"b',
    }


def test_field_names_with_spaces_work_with_and_without_inner_spaces() -> None:
    values = {"ITSM reference": "INC001"}
    assert json.loads(
        render_json('{"a": "{{ITSM reference}}", "b": "x{{ ITSM  reference }}"}', Values(**values))
    ) == {"a": "INC001", "b": "xINC001"}


def test_filters_from_the_allow_list_apply() -> None:
    template = (
        '{"u": "{{s | upper}}", "j": "{{t | join(\\", \\")}}", '
        '"d": "{{e | default(\'none\', true)}}", "s": "{{n | string}}"}'
    )
    assert body(template, s="abc", t=["a", "b"], e="", n=7) == {
        "u": "ABC",
        "j": "a, b",
        "d": "none",
        "s": "7",
    }


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ('{"a": "{{s | attr(\\"__class__\\")}}"}', "not available"),
        ('{"a": "{{s | format(1)}}"}', "not available"),
        ('{"a": "{{s | replace(s, 1)}}"}', "constants"),
        ('{"a": "{{s | join(\\"x\\" * 99999999)}}"}', "constant"),
        ('{"a": "{{s | upper()()}}"}', "call"),
        ('{"a": "{{s | upper"}', "not closed"),
        ('{"a": "{{ }}"}', "empty placeholder"),
    ],
)
def test_the_sandbox_refuses_code(template: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words):
        render_json(template, Values(s="x"))


def test_python_attribute_access_is_just_an_unknown_name() -> None:
    with pytest.raises(RenderError, match=r"unknown placeholder 's\.__class__'"):
        render_json('{"a": "{{s.__class__}}"}', Values(s="x"))


@pytest.mark.parametrize(
    ("template", "line", "words"),
    [
        ('{"a": {{x}}', 1, "Expecting"),
        ('{\n  "a": "{{x}}",\n  "b": oops\n}', 3, "Expecting value"),
        ('{"a": "{{x}}" "b": 1}', 1, "delimiter"),
    ],
)
def test_a_template_that_cannot_be_json_names_the_line(
    template: str, line: int, words: str
) -> None:
    problem = json_shape_problem(template)
    assert problem is not None
    assert problem.line == line
    assert words in problem.message
    with pytest.raises(TemplateError):
        render_json(template, Values(x="v"))


def test_a_valid_template_has_no_shape_problem() -> None:
    assert json_shape_problem('{"a": "{{x}}", "b": {{y}}, "c": ["{{z}} and {{x}}"]}') is None


def test_rendering_is_bounded_in_size() -> None:
    with pytest.raises(RenderError, match="larger than"):
        render_json('["{{x}}", "{{x}}"]', Values(x="y" * 600_000))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, text=st.text())
def test_any_ticket_data_renders_to_valid_json_with_the_value_intact(value: Any, text: str) -> None:
    template = (
        '{"whole": "{{v}}", "inside": "<{{t}}> and {{v}}", "bare": {{v}}, "list": ["{{t}}", {{t}}]}'
    )
    out = body(template, v=value, t=text)
    assert out["whole"] == value
    assert out["bare"] == value
    assert out["list"] == [text, text]
    inside = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    )
    assert out["inside"] == f"<{text}> and {'' if value is None else inside}"


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1))
def test_path_placeholders_are_one_encoded_segment(text: str) -> None:
    from urllib.parse import unquote

    path = render_path("/api/items/{{x}}/notes", Values(x=text))
    assert path.startswith("/api/items/")
    segment = path.removeprefix("/api/items/").removesuffix("/notes")
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert unquote(segment) == text


def test_dot_segments_cannot_climb_the_servers_path() -> None:
    assert render_path("/a/{{x}}/b", Values(x="..")) == "/a/%2E%2E/b"


def test_header_values_refuse_line_breaks() -> None:
    assert render_text("Ticket {{id}}", Values(id=5)) == "Ticket 5"
    with pytest.raises(RenderError, match="holds a CR character, which a header cannot carry"):
        render_text("{{s}}", Values(s="a\r\nX-Injected: 1"))
    with pytest.raises(RenderError, match="holds a line break character"):
        render_text("{{s}}", Values(s="a\nX-Injected: 1"))
    with pytest.raises(RenderError, match="holds a NUL character"):
        render_text("{{s}}", Values(s="a\x00"))

"""Hypothesis strategies for SecureChange tickets with every field type."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from workflow_integrator.domain.ticket import (
    Comment,
    Field,
    FieldType,
    Step,
    StepRef,
    Task,
    Ticket,
    Workflow,
)

# Characters XML 1.0 can carry (no control characters, surrogates or non-characters).
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cn")) | st.just("\n"),
    max_size=30,
)
# Values SecureChange trims (names, options, subject): no surrounding whitespace.
trimmed = st.text(alphabet=string.ascii_letters + string.digits + " -_./", min_size=1,
                  max_size=20).map(str.strip).filter(bool)
ids = st.integers(min_value=1, max_value=10**9)
_leaf_keys = st.sampled_from(["order", "action", "comment", "protocol", "port", "ip_address",
                              "netmask", "object_name", "status", "description"])
_network_item = st.fixed_dictionaries(
    {"@type": st.sampled_from(["IP", "Object", "PROTOCOL", "ANY"])},
    optional={"ip_address": trimmed, "netmask": trimmed, "protocol": trimmed, "port": trimmed},
)
_object = st.fixed_dictionaries(
    {"order": trimmed},
    optional={
        "action": xml_text,
        "comment": xml_text,
        "use_topology": st.sampled_from(["true", "false"]),
        "sources": st.lists(_network_item, max_size=3),
        "destinations": st.lists(_network_item, max_size=3),
        "services": st.lists(_network_item, max_size=2),
        "users": st.lists(trimmed, max_size=2),
        "labels": st.lists(trimmed, max_size=2),
        "risk_analysis_result": st.fixed_dictionaries({"status": trimmed}),
    },
)


@st.composite
def fields(draw: st.DrawFn, field_type: FieldType | None = None) -> Field:
    """A field of the given (or any) type with a value of the right shape."""
    ftype = field_type or draw(st.sampled_from(list(FieldType)))
    options: tuple[str, ...] = ()
    value: object
    if ftype in (FieldType.TEXT_FIELD, FieldType.TEXT_AREA, FieldType.MANAGER,
                 FieldType.HYPERLINK):
        value = draw(xml_text)
    elif ftype in (FieldType.MULTI_TEXT_FIELD, FieldType.MULTI_TEXT_AREA,
                   FieldType.MULTI_HYPERLINK):
        value = draw(st.lists(xml_text, max_size=4))
    elif ftype == FieldType.CHECKBOX:
        value = draw(st.booleans())
    elif ftype == FieldType.DATE:
        value = draw(st.none() | st.dates().map(lambda d: d.isoformat()))
    elif ftype == FieldType.TIME:
        value = draw(st.none() | st.times().map(lambda t: t.strftime("%H:%M")))
    elif ftype in (FieldType.DROP_DOWN_LIST, FieldType.MULTIPLE_SELECTION):
        options = tuple(draw(st.lists(trimmed, min_size=1, max_size=5, unique=True)))
        if ftype == FieldType.DROP_DOWN_LIST:
            value = draw(st.none() | st.sampled_from(options))
        else:
            value = draw(st.lists(st.sampled_from(options), unique=True))
    elif ftype == FieldType.APPROVE_REJECT:
        value = {"approved": draw(st.none() | st.booleans()), "reason": draw(xml_text)}
    elif ftype == FieldType.RULE_DECOMMISSION:
        value = draw(st.dictionaries(_leaf_keys, xml_text, max_size=3))
    else:
        value = draw(st.lists(_object, max_size=3))
    return Field(name=draw(trimmed), type=ftype.value, value=value,  # type: ignore[arg-type]
                 id=draw(st.none() | ids), read_only=draw(st.booleans()), options=options)


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    """A ticket with one to three steps, every field type appearing at least once."""
    every_type = [draw(fields(t)) for t in FieldType]
    steps = []
    for index in range(draw(st.integers(min_value=1, max_value=3))):
        extra = draw(st.lists(fields(), max_size=3))
        task_fields = tuple(every_type + extra) if index == 0 else tuple(extra)
        task = Task(id=draw(ids), assignee=draw(trimmed), assignee_id=draw(st.none() | ids),
                    status=draw(st.sampled_from(["ASSIGNED", "DONE", "WAITING_TO_BE_ASSIGNED"])),
                    fields=task_fields)
        steps.append(Step(id=draw(ids), name=draw(trimmed), redone=draw(st.booleans()),
                          skipped=draw(st.booleans()), tasks=(task,)))
    current = draw(st.none() | st.sampled_from(steps))
    return Ticket(
        id=draw(ids),
        subject=draw(trimmed),
        requester=draw(trimmed),
        requester_id=draw(st.none() | ids),
        priority=draw(st.sampled_from(["Low", "Normal", "High", "Critical"])),
        status=draw(st.sampled_from(["In Progress", "Ticket Resolved", "Ticket Closed"])),
        domain_name=draw(st.just("") | trimmed),
        workflow=Workflow(draw(ids), draw(trimmed)),
        steps=tuple(steps),
        current_step=StepRef(current.id, current.name) if current else None,
        comments=tuple(draw(st.lists(
            st.builds(Comment, content=trimmed, user=trimmed, created=trimmed,
                      type=st.sampled_from(["Regular", "Rejection"])), max_size=2))),
    )

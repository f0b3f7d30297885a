"""Reading and writing SecureChange ticket documents (XML or JSON) as :class:`Ticket`."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element, SubElement

from workflow_integrator.domain.bounds import TICKET_ID_MAX, OutOfBounds, parse_ticket_id
from workflow_integrator.domain.ticket import (
    MULTI_TEXT_TYPES,
    OBJECT_LIST_TYPES,
    TEXT_TYPES,
    Comment,
    Field,
    FieldType,
    JsonValue,
    Step,
    StepRef,
    Task,
    Ticket,
    Workflow,
)
from workflow_integrator.securechange.documents import (
    XSI_TYPE,
    DocumentError,
    child_text,
    parse_json,
    parse_xml,
    render_json,
    render_xml,
)

#: The element holding each value of a multi-valued field, by field type.
ITEM_TAGS: dict[str, str] = {
    FieldType.MULTI_TEXT_FIELD: "text_field",
    FieldType.MULTI_TEXT_AREA: "text_area",
    FieldType.MULTI_HYPERLINK: "hyperlink",
    FieldType.MULTI_ACCESS_REQUEST: "access_request",
    FieldType.MULTI_GROUP_CHANGE: "group_change",
    FieldType.MULTI_NETWORK_OBJECT: "network_object",
    FieldType.MULTI_SERVICE: "service",
    FieldType.MULTI_TARGET: "target",
    FieldType.MULTI_SERVER_DECOMMISSION_REQUEST: "server_decommission_request",
}
#: Containers whose members become a JSON list inside structured field values.
PLURAL_CONTAINERS = frozenset(
    {
        "sources", "destinations", "services", "targets", "users", "labels", "members",
        "exclusions", "applications", "devices", "rules", "bindings", "objects",
        "servers", "comments", "network_objects", "group_changes",
    }
)
_HEADER_TAGS = frozenset({"id", "name", "read_only"})


def _text_tag(field_type: str) -> str:
    return "url" if field_type in (FieldType.HYPERLINK, FieldType.MULTI_HYPERLINK) else "text"


# ---------------------------------------------------------------- reading


def parse_ticket_document(data: bytes | str, *, json_body: bool = False) -> Ticket:
    """Parse a ``GET /tickets/{id}`` body, XML or JSON."""
    root = parse_json(data, "ticket") if json_body else parse_xml(data)
    return ticket_from_element(root)


def ticket_from_element(root: Element) -> Ticket:
    """Read a ``<ticket>`` element; DocumentError when it lacks an id."""
    if root.tag != "ticket":
        raise DocumentError(f"expected a <ticket> document, got <{root.tag}>")
    raw_id = child_text(root, "id")
    if not raw_id:
        raise DocumentError("the ticket has no <id>")
    try:
        ticket_id = parse_ticket_id(raw_id)
    except OutOfBounds as exc:
        raise DocumentError(str(exc)) from None
    workflow = root.find("workflow")
    current = root.find("current_step")
    return Ticket(
        id=ticket_id,
        subject=child_text(root, "subject") or "",
        requester=child_text(root, "requester") or "",
        requester_id=_int(child_text(root, "requester_id"), "requester_id"),
        priority=child_text(root, "priority") or "",
        status=child_text(root, "status") or "",
        domain_name=child_text(root, "domain_name") or "",
        workflow=(
            Workflow(_int(child_text(workflow, "id"), "workflow id"),
                     child_text(workflow, "name") or "")
            if workflow is not None
            else Workflow(None, "")
        ),
        steps=tuple(_step(s) for s in root.iterfind("steps/step")),
        current_step=_step_ref(current),
        comments=tuple(_comment(c) for c in root.iterfind("comments/comment")),
    )


def _step_ref(element: Element | None) -> StepRef | None:
    if element is None or (len(element) == 0 and not (element.text or "").strip()):
        return None
    return StepRef(_int(child_text(element, "id"), "step id"), child_text(element, "name") or "")


def _step(element: Element) -> Step:
    return Step(
        id=_int(child_text(element, "id"), "step id"),
        name=child_text(element, "name") or "",
        redone=_bool(child_text(element, "redone")) or False,
        skipped=_bool(child_text(element, "skipped")) or False,
        tasks=tuple(_task(t) for t in element.iterfind("tasks/task")),
    )


def _task(element: Element) -> Task:
    return Task(
        id=_int(child_text(element, "id"), "task id"),
        assignee=child_text(element, "assignee") or "",
        assignee_id=_int(child_text(element, "assignee_id"), "assignee_id"),
        status=child_text(element, "status") or "",
        fields=fields_from_elements(element.iterfind("fields/field")),
    )


def _comment(element: Element) -> Comment:
    return Comment(
        content=child_text(element, "content") or "",
        user=child_text(element, "user") or "",
        created=child_text(element, "created") or "",
        type=child_text(element, "type") or "",
    )


def fields_from_elements(elements: Iterable[Element]) -> tuple[Field, ...]:
    """Read ``<field xsi:type=...>`` elements into typed fields."""
    return tuple(field_from_element(e) for e in elements)


def field_from_element(element: Element) -> Field:
    """Read one ``<field>``: its ``xsi:type`` decides how the value is read."""
    field_type = (element.get(XSI_TYPE) or element.get("type") or "").strip()
    if not field_type:
        raise DocumentError(
            f"field {child_text(element, 'name')!r} has no xsi:type attribute"
        )
    options: tuple[str, ...] = ()
    if field_type in (FieldType.DROP_DOWN_LIST, FieldType.MULTIPLE_SELECTION):
        options = tuple(_texts(element, "options/option", "value"))
    return Field(
        name=child_text(element, "name") or "",
        type=field_type,
        value=_field_value(field_type, element),
        id=_int(child_text(element, "id"), "field id"),
        read_only=_bool(child_text(element, "read_only")) or False,
        options=options,
    )


def _field_value(field_type: str, element: Element) -> JsonValue:
    if field_type == FieldType.MANAGER:
        for tag in ("text", "value", "manager"):
            if element.find(tag) is not None:
                return _raw_text(element, tag)
        return ""
    if field_type in TEXT_TYPES:
        return _raw_text(element, _text_tag(field_type))
    if field_type in MULTI_TEXT_TYPES:
        item = ITEM_TAGS[field_type]
        return [
            _raw_text(member, _text_tag(field_type)) for member in element.iterfind(item)
        ]
    if field_type == FieldType.CHECKBOX:
        return _bool(child_text(element, "value")) or False
    if field_type in (FieldType.DATE, FieldType.TIME):
        return child_text(element, "value") or None
    if field_type == FieldType.DROP_DOWN_LIST:
        return child_text(element, "selection") or None
    if field_type == FieldType.MULTIPLE_SELECTION:
        return list(_texts(element, "selected_options/selected_option", "value"))
    if field_type == FieldType.APPROVE_REJECT:
        return {
            "approved": _bool(child_text(element, "approved")),
            "reason": _raw_text(element, "reason"),
        }
    if field_type in OBJECT_LIST_TYPES:
        return [object_value(member) for member in element.iterfind(ITEM_TAGS[field_type])]
    # rule_decommission and types this version does not know: the field's own content.
    return _object_of(c for c in element if c.tag not in _HEADER_TAGS)


def object_value(element: Element) -> JsonValue:
    """A structured value (access request, network object...) as plain JSON."""
    if len(element) == 0 and not element.attrib:
        return element.text or ""
    out = _object_of(element)
    assert isinstance(out, dict)
    for name, val in element.attrib.items():
        out["@xsi.type" if name == XSI_TYPE else f"@{name}"] = val
    return out


def _object_of(children: Iterable[Element]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for child in children:
        if child.tag in PLURAL_CONTAINERS and not child.attrib:
            value: JsonValue = [object_value(m) for m in child]
        else:
            value = object_value(child)
        if child.tag in out:
            previous = out[child.tag]
            if isinstance(previous, list) and child.tag not in PLURAL_CONTAINERS:
                previous.append(value)
            else:
                out[child.tag] = [previous, value]
        else:
            out[child.tag] = value
    return out


def _texts(element: Element, path: str, tag: str) -> Iterable[str]:
    for member in element.iterfind(path):
        text = child_text(member, tag)
        if text is None:
            text = (member.text or "").strip()
        yield text


def _raw_text(element: Element, tag: str) -> str:
    child = element.find(tag)
    return child.text or "" if child is not None else ""


def _int(raw: str | None, what: str) -> int | None:
    if raw is None or raw == "":
        return None
    # ASCII digits only: int() would also take "1_000" and other scripts' digits.
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 16):
        raise DocumentError(f"{what} must be a whole number, got {raw[:40]!r}")
    value = int(raw)
    if abs(value) > TICKET_ID_MAX:
        raise DocumentError(f"{what} must be at most {TICKET_ID_MAX}, got {raw}")
    return value


def _bool(raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    return raw.strip().lower() == "true"


# ---------------------------------------------------------------- writing


def render_ticket(ticket: Ticket, *, json_body: bool = False) -> str:
    """The ``GET /tickets/{id}`` body for a ticket, XML (default) or JSON."""
    root = ticket_to_element(ticket)
    return render_json(root) if json_body else render_xml(root)


def ticket_to_element(ticket: Ticket) -> Element:
    """The ``<ticket>`` element of a ticket, shaped like SecureChange's."""
    root = Element("ticket")
    _leaf(root, "id", ticket.id)
    _leaf(root, "subject", ticket.subject)
    _leaf(root, "requester", ticket.requester)
    _leaf(root, "requester_id", ticket.requester_id)
    _leaf(root, "priority", ticket.priority)
    _leaf(root, "status", ticket.status)
    _leaf(root, "domain_name", ticket.domain_name)
    workflow = SubElement(root, "workflow")
    _leaf(workflow, "id", ticket.workflow.id)
    _leaf(workflow, "name", ticket.workflow.name)
    steps = SubElement(root, "steps")
    for step in ticket.steps:
        step_el = SubElement(steps, "step")
        _leaf(step_el, "id", step.id)
        _leaf(step_el, "name", step.name)
        _leaf(step_el, "redone", step.redone)
        _leaf(step_el, "skipped", step.skipped)
        tasks = SubElement(step_el, "tasks")
        for task in step.tasks:
            task_el = SubElement(tasks, "task")
            _leaf(task_el, "id", task.id)
            _leaf(task_el, "assignee_id", task.assignee_id)
            _leaf(task_el, "assignee", task.assignee)
            _leaf(task_el, "status", task.status)
            fields = SubElement(task_el, "fields")
            for field in task.fields:
                fields.append(field_to_element(field))
    if ticket.current_step is not None:
        current = SubElement(root, "current_step")
        _leaf(current, "id", ticket.current_step.id)
        _leaf(current, "name", ticket.current_step.name)
    comments = SubElement(root, "comments")
    for comment in ticket.comments:
        comment_el = SubElement(comments, "comment")
        _leaf(comment_el, "content", comment.content)
        _leaf(comment_el, "created", comment.created)
        _leaf(comment_el, "type", comment.type)
        _leaf(comment_el, "user", comment.user)
    return root


def field_to_element(field: Field) -> Element:
    """The ``<field xsi:type=...>`` element of a field."""
    element = Element("field", {XSI_TYPE: field.type})
    _leaf(element, "id", field.id)
    _leaf(element, "name", field.name)
    _leaf(element, "read_only", field.read_only)
    value = field.value
    ftype = field.type
    if ftype in TEXT_TYPES:
        _leaf(element, _text_tag(ftype), value)
    elif ftype in MULTI_TEXT_TYPES:
        for item in value if isinstance(value, list) else []:
            member = SubElement(element, ITEM_TAGS[ftype])
            _leaf(member, _text_tag(ftype), item)
    elif ftype in (FieldType.CHECKBOX, FieldType.DATE, FieldType.TIME):
        _leaf(element, "value", value)
    elif ftype in (FieldType.DROP_DOWN_LIST, FieldType.MULTIPLE_SELECTION):
        options = SubElement(element, "options")
        for option in field.options:
            _leaf(SubElement(options, "option"), "value", option)
        if ftype == FieldType.DROP_DOWN_LIST:
            _leaf(element, "selection", value)
        else:
            selected = SubElement(element, "selected_options")
            for item in value if isinstance(value, list) else []:
                _leaf(SubElement(selected, "selected_option"), "value", item)
    elif ftype == FieldType.APPROVE_REJECT:
        verdict = value if isinstance(value, dict) else {}
        _leaf(element, "approved", verdict.get("approved"))
        _leaf(element, "reason", verdict.get("reason"))
    elif ftype in OBJECT_LIST_TYPES:
        for item in value if isinstance(value, list) else []:
            member = SubElement(element, ITEM_TAGS[ftype])
            _write_object(member, item)
    elif isinstance(value, dict):
        _write_object(element, value)
    return element


def _write_object(element: Element, value: JsonValue) -> None:
    if not isinstance(value, dict):
        element.text = _text(value)
        return
    for key, item in value.items():
        if key.startswith("@"):
            element.set(XSI_TYPE if key == "@xsi.type" else key[1:], _text(item))
        elif key in PLURAL_CONTAINERS and isinstance(item, list):
            container = SubElement(element, key)
            for member in item:
                _write_object(SubElement(container, _singular(key)), member)
        elif isinstance(item, list):
            for member in item:
                _write_object(SubElement(element, key), member)
        else:
            _write_object(SubElement(element, key), item)


def _singular(container: str) -> str:
    return container[:-1]


def _leaf(parent: Element, tag: str, value: object) -> Element:
    child = SubElement(parent, tag)
    if value is not None:
        child.text = _text(value)
    return child


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

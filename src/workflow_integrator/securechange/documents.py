"""SecureChange documents as element trees: safe XML parsing and the JSON mapping.

SecureChange's REST API speaks XML and the same documents as JSON (attributes as
``"@name"``, ``xsi:type`` as ``"@xsi.type"``, repeated elements as lists). Both are
read into :class:`xml.etree.ElementTree.Element` trees so one reader serves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, fromstring, tostring
from xml.parsers import expat

from workflow_integrator.domain.bounds import (
    MAX_DOCUMENT_DEPTH,
    MAX_DOCUMENT_NODES,
    OutOfBounds,
    check_json_value,
)
from workflow_integrator.domain.ticket import JsonValue

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

#: Element names that are always lists in JSON output, even with one member.
LIST_TAGS = frozenset(
    {
        "step", "task", "field", "comment", "option", "selected_option", "access_request",
        "text_field", "text_area", "hyperlink", "group_change", "network_object",
        "service", "target", "server_decommission_request", "source", "destination",
        "user", "label", "role", "ticket",
    }
)


class DocumentError(ValueError):
    """A document that is not well-formed or not what was expected; the message says why."""


def decode_utf8(data: bytes | str) -> str:
    """The document as text; DocumentError unless the bytes are valid UTF-8."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DocumentError(
                f"the document holds a character that is not valid UTF-8 (at {exc.start})"
            ) from None
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"the document is not valid UTF-8 (byte {exc.start}); send it encoded as UTF-8"
        ) from None


def parse_xml(data: bytes | str) -> Element:
    """Parse untrusted XML, refusing DTDs (so entity declarations and external references),
    text that is not UTF-8 and documents deeper or larger than the bounds."""
    text = decode_utf8(data)
    _refuse_dtd(text)
    try:
        # The C parser, four times faster than a pure-Python one: without a DTD only the
        # five predefined entities exist, so nothing expands and nothing outside is read.
        root = fromstring(text)  # noqa: S314 - its DTD was refused by _refuse_dtd
    except ParseError as exc:
        raise DocumentError(f"malformed XML: {exc}") from None
    _check_tree(root)
    return root


class _DtdFound(Exception):
    pass


def _refuse_dtd(text: str) -> None:
    """Refuse a document with a DTD, before anything in it is declared or read.

    A DTD starts with the literal ``<!DOCTYPE``, so a document without that text has
    none. One with it (perhaps only in a comment or CDATA) is scanned by expat alone,
    which stops at the declaration's start, before its internal subset.
    """
    if "<!DOCTYPE" not in text:
        return
    scanner = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise _DtdFound

    scanner.StartDoctypeDeclHandler = refuse
    try:
        scanner.Parse(text, True)
    except _DtdFound:
        raise DocumentError(
            "XML refused: the document has a DTD (DTDs and entities are not allowed)"
        ) from None
    except expat.ExpatError as exc:
        raise DocumentError(f"malformed XML: {exc}") from None


def _check_tree(root: Element) -> None:
    # Level by level, not recursively: readers of the tree recurse, so depth is checked
    # before them.
    level, depth, nodes = [root], 1, 0
    while level:
        if depth > MAX_DOCUMENT_DEPTH:
            raise DocumentError(
                f"the document is nested more than {MAX_DOCUMENT_DEPTH} elements deep"
            )
        nodes += len(level)
        if nodes > MAX_DOCUMENT_NODES:
            raise DocumentError(f"the document has more than {MAX_DOCUMENT_NODES} elements")
        level = [child for element in level for child in element]
        depth += 1


def parse_json(data: bytes | str, root_tag: str) -> Element:
    """Read a SecureChange JSON document (``{"ticket": {...}}`` or the bare object)."""
    try:
        value = json.loads(decode_utf8(data))
        check_json_value(value, "the document")
    except json.JSONDecodeError as exc:
        raise DocumentError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise DocumentError(
            f"the document is nested more than {MAX_DOCUMENT_DEPTH} levels deep"
        ) from None
    except OutOfBounds as exc:
        raise DocumentError(str(exc)) from None
    except ValueError as exc:
        # e.g. an integer of more than 4300 digits, which Python refuses to convert.
        raise DocumentError(f"malformed JSON: {exc}") from None
    if isinstance(value, Mapping) and len(value) == 1 and root_tag in value:
        value = value[root_tag]
    if not isinstance(value, Mapping):
        raise DocumentError(f"expected a JSON object for {root_tag!r}")
    return json_to_element(root_tag, value)


def json_to_element(tag: str, value: Any) -> Element:
    """Build the element a JSON value stands for."""
    element = Element(tag)
    _fill(element, value)
    return element


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key.startswith("@"):
                name = XSI_TYPE if key in ("@xsi.type", "@xsi:type") else key[1:]
                element.set(name, _scalar_text(item))
                continue
            items = item if isinstance(item, list) else [item]
            for member in items:
                _fill(SubElement(element, key), member)
    elif isinstance(value, list):
        raise DocumentError(f"unexpected list inside {element.tag!r}")
    elif value is not None:
        element.text = _scalar_text(value)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        raise DocumentError("expected a plain value, got an object or list")
    return str(value)


def element_to_json(element: Element) -> JsonValue:
    """The SecureChange JSON form of an element (inverse of :func:`json_to_element`)."""
    children = list(element)
    if not children and not element.attrib:
        return element.text
    out: dict[str, JsonValue] = {}
    for name, val in element.attrib.items():
        out["@xsi.type" if name == XSI_TYPE else f"@{name}"] = val
    groups: dict[str, list[JsonValue]] = {}
    for child in children:
        groups.setdefault(child.tag, []).append(element_to_json(child))
    for tag, members in groups.items():
        out[tag] = members if len(members) > 1 or tag in LIST_TAGS else members[0]
    return out


def render_xml(element: Element) -> str:
    """Serialize an element as a standalone XML document."""
    body = tostring(element, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + body


def render_json(element: Element) -> str:
    """Serialize an element as SecureChange JSON (``{"<tag>": {...}}``)."""
    return json.dumps({element.tag: element_to_json(element)})


def child_text(element: Element, tag: str) -> str | None:
    """The text of the first child with this tag, stripped; None when there is none."""
    child = element.find(tag)
    if child is None:
        return None
    return (child.text or "").strip()

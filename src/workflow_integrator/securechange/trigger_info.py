"""The ``<ticket_info>`` document SecureChange writes to a trigger script's stdin."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from workflow_integrator.domain.bounds import (
    MAX_DATE_CHARS,
    MAX_STEP_NAME_CHARS,
    MAX_SUBJECT_CHARS,
    OutOfBounds,
    check_text,
    parse_ticket_id,
)
from workflow_integrator.domain.events import TicketInfo
from workflow_integrator.domain.ticket import StepRef
from workflow_integrator.securechange.documents import (
    DocumentError,
    child_text,
    parse_xml,
    render_xml,
)


def parse_ticket_info(data: bytes | str) -> TicketInfo | None:
    """Parse a trigger document; None for SecureChange's empty test document.

    Real documents may repeat ``current_stage`` and ``open_request_stage``; the
    first occurrence is the one SecureChange means (later ones are ignored).
    """
    if isinstance(data, bytes | str) and not data.strip():
        raise DocumentError("the ticket_info document is empty")
    root = parse_xml(data)
    return ticket_info_from_element(root)


def ticket_info_from_element(root: Element) -> TicketInfo | None:
    """Read a ``<ticket_info>`` element; None when it is the empty test document."""
    if root.tag != "ticket_info":
        raise DocumentError(f"expected a <ticket_info> document, got <{root.tag}>")
    if len(root) == 0:
        return None
    raw_id = child_text(root, "id")
    if not raw_id:
        raise DocumentError("ticket_info has no <id>")
    completion = root.find("completion_data")
    try:
        return TicketInfo(
            id=parse_ticket_id(raw_id, "ticket_info <id>"),
            subject=_text(root, "subject", MAX_SUBJECT_CHARS),
            create_date=_text(root, "createDate", MAX_DATE_CHARS),
            update_date=_text(root, "updateDate", MAX_DATE_CHARS),
            current_stage=_stage(root.find("current_stage")),
            open_request_stage=_stage(root.find("open_request_stage")),
            completion_stage=(
                _stage(completion.find("stage")) if completion is not None else None
            ),
        )
    except OutOfBounds as exc:
        raise DocumentError(str(exc)) from None


def _text(element: Element, tag: str, max_chars: int) -> str:
    return check_text(child_text(element, tag) or "", f"<{tag}>", max_chars)


def _stage(element: Element | None) -> StepRef | None:
    if element is None or len(element) == 0:
        return None
    raw = child_text(element, "id")
    stage_id = parse_ticket_id(raw, f"<{element.tag}> <id>") if raw else None
    return StepRef(stage_id, _text(element, "name", MAX_STEP_NAME_CHARS))


def render_ticket_info(info: TicketInfo) -> str:
    """The trigger document for an event, as SecureChange writes it."""
    root = Element("ticket_info")
    SubElement(root, "id").text = str(info.id)
    SubElement(root, "subject").text = info.subject
    SubElement(root, "createDate").text = info.create_date
    SubElement(root, "updateDate").text = info.update_date
    for tag, stage in (
        ("current_stage", info.current_stage),
        ("open_request_stage", info.open_request_stage),
    ):
        if stage is not None:
            _write_stage(SubElement(root, tag), stage)
    if info.completion_stage is not None:
        completion = SubElement(root, "completion_data")
        _write_stage(SubElement(completion, "stage"), info.completion_stage)
    return render_xml(root)


def _write_stage(element: Element, stage: StepRef) -> None:
    SubElement(element, "id").text = "" if stage.id is None else str(stage.id)
    SubElement(element, "name").text = stage.name

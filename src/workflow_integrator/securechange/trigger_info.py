"""The ``<ticket_info>`` document SecureChange writes to a trigger script's stdin."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

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
    try:
        ticket_id = int(raw_id)
    except ValueError:
        raise DocumentError(f"ticket_info <id> must be a whole number, got {raw_id!r}") from None
    if ticket_id < 1:
        raise DocumentError(f"ticket_info <id> must be positive, got {ticket_id}")
    completion = root.find("completion_data")
    return TicketInfo(
        id=ticket_id,
        subject=child_text(root, "subject") or "",
        create_date=child_text(root, "createDate") or "",
        update_date=child_text(root, "updateDate") or "",
        current_stage=_stage(root.find("current_stage")),
        open_request_stage=_stage(root.find("open_request_stage")),
        completion_stage=_stage(completion.find("stage")) if completion is not None else None,
    )


def _stage(element: Element | None) -> StepRef | None:
    if element is None or len(element) == 0:
        return None
    raw = child_text(element, "id")
    try:
        stage_id = int(raw) if raw else None
    except ValueError:
        raise DocumentError(f"stage <id> must be a whole number, got {raw!r}") from None
    return StepRef(stage_id, child_text(element, "name") or "")


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

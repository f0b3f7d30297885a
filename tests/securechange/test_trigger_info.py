"""The trigger document SecureChange writes to a trigger script's standard input."""

from __future__ import annotations

import pytest

from tests.securechange.samples import sample
from workflow_integrator.domain.events import (
    WORKFLOW_EVENTS,
    TicketInfo,
    TriggerEvent,
    dedupe_key,
    parse_event_name,
)
from workflow_integrator.domain.ticket import StepRef
from workflow_integrator.securechange.documents import DocumentError
from workflow_integrator.securechange.trigger_info import parse_ticket_info, render_ticket_info


def test_real_sample_with_repeated_elements_takes_the_first() -> None:
    info = parse_ticket_info(sample("ticket_info.xml"))
    assert info == TicketInfo(
        id=1, subject="1", create_date="1", update_date="1",
        current_stage=StepRef(1, "Current Step Name"),
        open_request_stage=StepRef(1, "Open Request Step Name"),
    )


@pytest.mark.parametrize("doc", ["<ticket_info/>", "<ticket_info></ticket_info>",
                                 '<?xml version="1.0"?>\n<ticket_info>\n</ticket_info>'])
def test_empty_document_is_the_test_call(doc: str) -> None:
    assert parse_ticket_info(doc) is None


def test_completion_data_after_advance() -> None:
    doc = (
        "<ticket_info><id>12</id><subject>s</subject><createDate>100</createDate>"
        "<updateDate>200</updateDate><current_stage><id>3</id><name>Approve</name>"
        "</current_stage><open_request_stage><id>1</id><name>Open</name></open_request_stage>"
        "<completion_data><stage><id>1</id><name>Open</name></stage></completion_data>"
        "</ticket_info>"
    )
    info = parse_ticket_info(doc)
    assert info is not None
    assert info.completion_stage == StepRef(1, "Open")
    assert info.update_date == "200"
    assert parse_ticket_info(render_ticket_info(info)) == info


def test_missing_optional_parts_are_fine() -> None:
    info = parse_ticket_info("<ticket_info><id>5</id></ticket_info>")
    assert info == TicketInfo(id=5)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ("<ticket_info><subject>x</subject></ticket_info>", "ticket_info has no <id>"),
        ("<ticket_info><id>x1</id></ticket_info>", "must be a whole number, got 'x1'"),
        ("<ticket_info><id>0</id></ticket_info>", "must be between 1 and 9007199254740991"),
        # int() would read these as 1000, 12 and 9223372036854775808 (past 64 bits).
        ("<ticket_info><id>1_000</id></ticket_info>", "must be a whole number, got '1_000'"),
        ("<ticket_info><id>\u0661\u0662</id></ticket_info>", "digits 0-9"),
        ("<ticket_info><id>9223372036854775808</id></ticket_info>", "must be between 1 and"),
        ("<ticket_info><id>+5</id></ticket_info>", "must be a whole number"),
        ("<ticket_info><id>1</id><updateDate>" + "9" * 65 + "</updateDate></ticket_info>",
         "<updateDate> is 65 characters long; at most 64"),
        ("<ticket_info><id>1</id><subject>" + "s" * 1001 + "</subject></ticket_info>",
         "<subject> is 1001 characters long; at most 1000"),
        ("<ticket_info><id>1</id><current_stage><id>1_0</id></current_stage></ticket_info>",
         "<current_stage> <id> must be a whole number"),
        ("<ticket_info><id>1</id>" + "<a>" * 40 + "</a>" * 40 + "</ticket_info>",
         "nested more than 32 elements deep"),
        ("<ticket><id>1</id></ticket>", "expected a <ticket_info> document, got <ticket>"),
        ("<ticket_info><id>1</id>", "malformed XML"),
        ("", "the ticket_info document is empty"),
        ('<!DOCTYPE t [<!ENTITY a "aaaa">]><ticket_info><id>1</id><subject>&a;</subject>'
         "</ticket_info>", "XML refused"),
    ],
)
def test_bad_documents_name_the_reason(doc: str, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        parse_ticket_info(doc)


def test_event_names() -> None:
    assert len(WORKFLOW_EVENTS) == 10
    assert TriggerEvent.PRE_ASSIGNMENT_SCRIPT not in WORKFLOW_EVENTS
    assert parse_event_name(" advance ") is TriggerEvent.ADVANCE
    with pytest.raises(ValueError, match="unknown event name 'MOVE'; expected one of: CREATE"):
        parse_event_name("MOVE")
    with pytest.raises(ValueError, match="missing"):
        parse_event_name("")


def test_dedupe_key_separates_what_differs() -> None:
    base = dedupe_key("securechange", 1, "CREATE", "100")
    assert base == dedupe_key("securechange", 1, "CREATE", "100")
    assert len({base, dedupe_key("securechange", 1, "CREATE", "101"),
                dedupe_key("securechange", 11, "CREATE", "00"),
                dedupe_key("securechange", 1, "ADVANCE", "100")}) == 4

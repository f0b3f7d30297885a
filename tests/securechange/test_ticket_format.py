"""Reading and writing SecureChange ticket documents."""

from __future__ import annotations

from xml.etree.ElementTree import SubElement

import pytest
from hypothesis import HealthCheck, given, settings

from tests.securechange.samples import sample
from tests.securechange.strategies import fields, tickets
from workflow_integrator.domain.bounds import MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_NODES
from workflow_integrator.domain.ticket import Field, FieldType, Ticket
from workflow_integrator.securechange.documents import DocumentError, parse_xml
from workflow_integrator.securechange.ticket_format import (
    field_from_element,
    field_to_element,
    parse_ticket_document,
    render_ticket,
    ticket_from_element,
)


def test_sample_ticket_header_steps_and_current_step() -> None:
    ticket = parse_ticket_document(sample("ticket.xml"))
    assert (ticket.id, ticket.subject, ticket.requester, ticket.requester_id) == (
        445, "Ticket 445", "tzachi", 3)
    assert (ticket.priority, ticket.status, ticket.domain_name) == ("Normal", "In Progress", "")
    assert (ticket.workflow.id, ticket.workflow.name) == (491, "Access Request Add Targets")
    assert [s.name for s in ticket.steps] == ["Open Request", "Business Approval",
                                              "Technical Design"]
    assert [t.status for s in ticket.steps for t in s.tasks] == ["DONE", "DONE", "ASSIGNED"]
    assert ticket.current_step is not None and ticket.current_step.id == 1954
    assert ticket.current is ticket.steps[2]
    assert ticket.comments == ()


def test_sample_access_request_value() -> None:
    ticket = parse_ticket_document(sample("ticket.xml"))
    field = ticket.field("required access")
    assert field is not None and field.type == FieldType.MULTI_ACCESS_REQUEST
    assert field.id == 55800  # the current step's copy, not the open request's
    (request,) = field.value  # type: ignore[misc]
    assert request["action"] == "Accept"
    assert request["sources"] == [
        {"@type": "IP", "id": "55806", "ip_address": "123.123.123.0", "netmask": "255.255.255.0"}
    ]
    assert request["destinations"][0]["ip_address"] == "8.8.8.0"
    assert request["services"] == [
        {"@type": "PROTOCOL", "id": "55804", "protocol": "TCP", "port": "54"}
    ]
    assert request["users"] == ["Any"]
    assert request["labels"] == []
    assert request["targets"][0]["object_name"] == "SRX 100 FireWall"


def test_field_lookup_by_step_and_fallback() -> None:
    ticket = parse_ticket_document(sample("ticket.xml"))
    targets = ticket.field("Targets", step="Open Request")
    assert targets is not None and targets.value == ""
    assert ticket.field("Targets") is None  # not in the current step
    assert ticket.field("text field") is not None
    assert ticket.field("Required Access", step=1952).id == 55778  # type: ignore[union-attr]
    closed = Ticket(id=1, subject="x", steps=ticket.steps, current_step=None)
    assert closed.field("Targets2") is not None  # last step holding it wins


def test_sample_ticket_list_parses_every_ticket() -> None:
    root = parse_xml(sample("tickets.xml"))
    parsed = [ticket_from_element(e) for e in root.iterfind("ticket")]
    assert [(t.id, t.requester) for t in parsed] == [(445, "user"), (444, "user")]
    assert parsed[0].current is not None and parsed[0].current.name == "Technical Design"


def test_new_ticket_sample_reads_without_an_id_once_given_one() -> None:
    root = parse_xml(sample("new_ticket.xml"))
    with pytest.raises(DocumentError, match="no <id>"):
        ticket_from_element(root)
    SubElement(root, "id").text = "7"
    ticket = ticket_from_element(root)
    time_field = ticket.steps[0].field("Time field")
    assert time_field is not None and time_field.type == "time" and time_field.value is None


def test_sample_round_trips_through_xml_and_json() -> None:
    ticket = parse_ticket_document(sample("ticket.xml"))
    assert parse_ticket_document(render_ticket(ticket)) == ticket
    as_json = render_ticket(ticket, json_body=True)
    assert as_json.startswith('{"ticket": {')
    assert parse_ticket_document(as_json, json_body=True) == ticket


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ('<field xsi:type="checkbox"><name>c</name><value>true</value></field>', True),
        ('<field xsi:type="checkbox"><name>c</name></field>', False),
        ('<field xsi:type="date"><name>d</name><value>2026-11-28</value></field>', "2026-11-28"),
        ('<field xsi:type="time"><name>t</name><value>10:30</value></field>', "10:30"),
        ('<field xsi:type="drop_down_list"><name>e</name><options><option><value>A</value>'
         "</option><option><value>B</value></option></options><selection>B</selection></field>",
         "B"),
        ('<field xsi:type="multiple_selection"><name>m</name><options><option><value>A</value>'
         "</option><option><value>B</value></option></options><selected_options>"
         "<selected_option><value>A</value></selected_option><selected_option><value>B</value>"
         "</selected_option></selected_options></field>", ["A", "B"]),
        ('<field xsi:type="approve_reject"><name>a</name><approved>false</approved>'
         "<reason>too wide</reason></field>", {"approved": False, "reason": "too wide"}),
        ('<field xsi:type="approve_reject"><name>a</name></field>',
         {"approved": None, "reason": ""}),
        ('<field xsi:type="multi_text_field"><name>m</name><text_field><text>a</text>'
         "</text_field><text_field><text>b</text></text_field></field>", ["a", "b"]),
        ('<field xsi:type="hyperlink"><name>h</name><url>https://x.example</url></field>',
         "https://x.example"),
        ('<field xsi:type="multi_hyperlink"><name>h</name><hyperlink><url>u1</url></hyperlink>'
         "</field>", ["u1"]),
        ('<field xsi:type="manager"><name>m</name><text>boss</text></field>', "boss"),
        ('<field xsi:type="text_area"><name>t</name><text>line 1\nline 2</text></field>',
         "line 1\nline 2"),
        ('<field xsi:type="multi_service"><name>s</name><service xsi:type="transport_service">'
         "<protocol>6</protocol></service></field>",
         [{"@xsi.type": "transport_service", "protocol": "6"}]),
        ('<field xsi:type="rule_decommission"><id>1</id><name>r</name><action>Disable</action>'
         "</field>", {"action": "Disable"}),
    ],
)
def test_field_values_by_type(xml: str, expected: object) -> None:
    ns = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    element = parse_xml(xml.replace("<field ", "<field " + ns, 1))
    assert field_from_element(element).value == expected


def test_drop_down_options_are_kept_in_order() -> None:
    element = parse_xml(
        '<field xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="drop_down_list">'
        "<name>e</name><options><option><value>Z</value></option><option><value>A</value>"
        "</option></options></field>"
    )
    field = field_from_element(element)
    assert field.options == ("Z", "A") and field.value is None


def test_field_without_type_is_a_clear_error() -> None:
    with pytest.raises(DocumentError, match="'Owner' has no xsi:type"):
        field_from_element(parse_xml("<field><name>Owner</name></field>"))


def test_bad_ids_and_wrong_roots_are_clear_errors() -> None:
    with pytest.raises(DocumentError, match="ticket id must be a whole number, got 'abc'"):
        parse_ticket_document("<ticket><id>abc</id></ticket>")
    with pytest.raises(DocumentError, match="expected a <ticket> document, got <user>"):
        parse_ticket_document(sample("user.xml"))
    with pytest.raises(DocumentError, match="malformed XML"):
        parse_ticket_document("<ticket><id>1</ticket>")
    with pytest.raises(DocumentError, match="malformed JSON"):
        parse_ticket_document("{nope", json_body=True)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<ticket><id>1</id><subject>&lol2;</subject></ticket>"
    )
    with pytest.raises(DocumentError, match="XML refused"):
        parse_ticket_document(bomb)
    external = ('<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                "<ticket><id>1</id><subject>&x;</subject></ticket>")
    with pytest.raises(DocumentError, match="XML refused"):
        parse_ticket_document(external)


def test_any_dtd_is_refused_but_its_keyword_in_text_is_not() -> None:
    # Without an internal subset too: a DTD may point outside the document.
    for document in ('<!DOCTYPE ticket SYSTEM "http://127.0.0.1:9/t.dtd"><ticket/>',
                     "<?xml version='1.0'?>\n<!DOCTYPE ticket><ticket/>"):
        with pytest.raises(DocumentError, match="XML refused: the document has a DTD"):
            parse_xml(document)
    # The keyword inside a comment or CDATA (a ticket may quote XML) is only text.
    quoted = ("<!-- <!DOCTYPE x> --><ticket><subject><![CDATA[<!DOCTYPE x [<!ENTITY e 'e'>]>"
              "]]></subject></ticket>")
    assert parse_xml(quoted).findtext("subject") == "<!DOCTYPE x [<!ENTITY e 'e'>]>"
    with pytest.raises(DocumentError, match="XML refused"):  # refused before it is read
        parse_xml("<!DOCTYPE x [<ticket>")
    with pytest.raises(DocumentError, match="malformed XML"):
        parse_xml("<ticket>&undeclared;</ticket>")


def test_documents_at_the_bounds_parse_and_beyond_them_are_refused() -> None:
    def nested(depth: int) -> str:
        return "<a>" * depth + "</a>" * depth

    assert parse_xml(nested(MAX_DOCUMENT_DEPTH)) is not None
    with pytest.raises(DocumentError, match=f"nested more than {MAX_DOCUMENT_DEPTH} elements"):
        parse_xml(nested(MAX_DOCUMENT_DEPTH + 1))
    wide = "<r>" + "<a/>" * (MAX_DOCUMENT_NODES - 1) + "</r>"
    assert len(parse_xml(wide)) == MAX_DOCUMENT_NODES - 1
    with pytest.raises(DocumentError, match=f"more than {MAX_DOCUMENT_NODES} elements"):
        parse_xml(wide.replace("<r>", "<r><a/>", 1))


def test_json_single_members_may_be_objects_not_lists() -> None:
    # SecureChange's JSON writes a one-member list as a bare object.
    doc = (
        '{"ticket": {"id": 9, "subject": "s", "workflow": {"id": 1, "name": "w"},'
        ' "steps": {"step": {"id": 2, "name": "Open", "tasks": {"task": {"id": 3,'
        ' "fields": {"field": {"@xsi.type": "checkbox", "id": 4, "name": "ok",'
        ' "value": true}}}}}}, "current_step": {"id": 2, "name": "Open"}}}'
    )
    ticket = parse_ticket_document(doc, json_body=True)
    assert ticket.field("ok") == Field(name="ok", type="checkbox", value=True, id=4)


def test_to_dict_and_from_dict_round_trip() -> None:
    ticket = parse_ticket_document(sample("ticket.xml"))
    assert Ticket.from_dict(ticket.to_dict()) == ticket


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets())
def test_generated_tickets_round_trip_xml(ticket: Ticket) -> None:
    assert parse_ticket_document(render_ticket(ticket)) == ticket


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets())
def test_generated_tickets_round_trip_json(ticket: Ticket) -> None:
    assert parse_ticket_document(render_ticket(ticket, json_body=True), json_body=True) == ticket
    assert Ticket.from_dict(ticket.to_dict()) == ticket


@settings(max_examples=200, deadline=None)
@given(fields())
def test_every_field_type_round_trips(field: Field) -> None:
    assert field_from_element(field_to_element(field)) == field

"""The Integrations pages: HTTP answers, and the editor in real headless Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Page, expect

from tests.integrations.conftest import EXAMPLE, SERVERS
from tests.servers.browser import screenshot
from tests.servers.live_wi import LiveWI
from tests.web.conftest import ADMIN, VIEWER, browser_client, csrf_of, sign_in

TICKET_XML = (Path(__file__).parent / "data" / "ticket.xml").read_text()


@pytest.fixture
def ui(live_wi: LiveWI) -> LiveWI:
    """A live WI with two servers, the spec's example integration and two users."""
    users = live_wi.services.users
    users.add(ADMIN[0], "admin", ADMIN[1])
    users.add(VIEWER[0], "viewer", VIEWER[1])
    for server in SERVERS:
        live_wi.services.servers.create(server)
    live_wi.services.integrations.create(json.loads(json.dumps(EXAMPLE)))
    return live_wi


@pytest.fixture
def admin(ui: LiveWI) -> Iterator[httpx2.Client]:
    with browser_client(ui.url) as client:
        assert sign_in(client, *ADMIN).status_code == 303
        yield client


def form_of(html: str) -> dict[str, str]:
    """The editor's fields as a browser would post them (text, selects, checked boxes)."""
    values: dict[str, str] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        values[name] = value
    for match in re.finditer(r'<input([^>]*)type="checkbox"([^>]*)>', html):
        attributes = match.group(1) + match.group(2)
        name = re.search(r'name="([^"]+)"', attributes)
        if name and " checked" in attributes:
            values[name.group(1)] = "on"
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        values[name] = unescape(body)
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        first = re.search(r'<option value="([^"]*)"', options)
        values[name] = unescape((chosen or first).group(1)) if (chosen or first) else ""
    return {k: unescape(v) for k, v in values.items()}


def unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_list_and_editor_pages(admin: httpx2.Client) -> None:
    listing = admin.get("/integrations")
    assert listing.status_code == 200
    assert 'data-integration="Access Request"' in listing.text
    assert 'aria-current="page"' in listing.text and ">Integrations<" in listing.text
    editor = admin.get("/integrations/Access%20Request/edit")
    assert editor.status_code == 200
    assert "open incident" in editor.text and "result.number" in editor.text
    assert admin.get("/integrations/Nope/edit").status_code == 404


def test_saving_the_form_keeps_the_document(admin: httpx2.Client, ui: LiveWI) -> None:
    before = ui.services.integrations.get("Access Request")
    page = admin.get("/integrations/Access%20Request/edit").text
    form = form_of(page)
    form["action"] = "save"
    saved = admin.post("/integrations/Access%20Request/edit", data=form)
    assert saved.status_code == 303, saved.text
    after = ui.services.integrations.get("Access Request")
    assert after.revision == before.revision + 1
    assert after.model_dump(exclude={"revision", "updated_at"}) == before.model_dump(
        exclude={"revision", "updated_at"}
    )


def test_errors_come_back_next_to_their_fields(admin: httpx2.Client, ui: LiveWI) -> None:
    form = form_of(admin.get("/integrations/Access%20Request/edit").text)
    form["point-0-body"] = '{"a": {{nope}}'
    form["action"] = "save"
    answer = admin.post("/integrations/Access%20Request/edit", data=form)
    assert answer.status_code == 422
    assert 'id="err-point-0-body"' in answer.text
    assert "unknown placeholder" in answer.text
    # What the user typed is still there.
    assert "{{nope}}" in answer.text


def test_delete_asks_first_then_deletes(admin: httpx2.Client, ui: LiveWI) -> None:
    confirm = admin.get("/integrations/Access%20Request/delete")
    assert (
        confirm.status_code == 200 and "Delete the integration of Access Request?" in confirm.text
    )
    done = admin.post(
        "/integrations/Access%20Request/delete", data={"csrf_token": csrf_of(confirm.text)}
    )
    assert done.status_code == 303
    assert ui.services.integrations.list_all() == []


def test_add_rows_and_preview_without_saving(admin: httpx2.Client, ui: LiveWI) -> None:
    form = form_of(admin.get("/integrations/Access%20Request/edit").text)
    form["action"] = "add_point"
    more = admin.post("/integrations/Access%20Request/edit", data=form)
    assert more.status_code == 200 and 'id="point-2-name"' in more.text
    form = form_of(more.text)
    form.update(
        {
            "action": "preview",
            "workflow": "Access Request Add Targets",
            "point-2-name": "extra",
            "preview_ticket": TICKET_XML,
            "preview_event": "CREATE",
        }
    )
    shown = admin.post("/integrations/Access%20Request/edit", data=form)
    assert shown.status_code == 200, shown.text
    assert "POST https://itsm.example.com/base/api/now/table/incident" in shown.text
    assert 'data-preview-point="extra"' in shown.text
    # The preview saved nothing.
    assert [p.name for p in ui.services.integrations.get("Access Request").points] == [
        "open incident",
        "approval done",
    ]


def test_viewers_see_but_cannot_save(ui: LiveWI) -> None:
    with browser_client(ui.url) as viewer:
        assert sign_in(viewer, *VIEWER).status_code == 303
        page = viewer.get("/integrations/Access%20Request/edit").text
        assert '<fieldset class="plain" disabled>' in page
        form = form_of(page)
        form["action"] = "save"
        form["csrf_token"] = csrf_of(page)
        assert viewer.post("/integrations/Access%20Request/edit", data=form).status_code == 403
        form.update({"action": "preview", "preview_ticket": TICKET_XML})
        previewed = viewer.post("/integrations/Access%20Request/edit", data=form)
        assert previewed.status_code == 200 and 'id="preview-result"' in previewed.text


def ui_sign_in(page: Page, ui: LiveWI) -> None:
    page.goto(ui.url + "/integrations")
    page.get_by_label("User name", exact=True).fill(ADMIN[0])
    page.get_by_label("Password", exact=True).fill(ADMIN[1])
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page).to_have_url(re.compile(r"/integrations$"))


@pytest.mark.browser
def test_build_an_integration_in_the_browser_and_preview_it(page: Page, ui: LiveWI) -> None:
    ui_sign_in(page, ui)
    page.locator("summary", has_text="Actions").click()
    page.get_by_role("link", name="New Integration").click()
    page.get_by_label("Workflow", exact=True).fill("Access Request Add Targets")
    page.get_by_label("Default server").select_option("servicenow-prod")
    page.get_by_label("Point 1 name").fill("design started")
    page.get_by_label("Point 1 fires on").select_option("inbound")
    page.get_by_label("Point 1 step").fill("Technical Design")
    page.get_by_label("Point 1 method").select_option("PUT")
    page.get_by_label("Point 1 path").fill("/tickets/")
    body = page.get_by_label("Point 1 body template (JSON)")
    body.fill('{"subject": "')
    # Insert placeholders from the list at the cursor.
    page.get_by_role("button", name="{{ticket_subject}}").click()
    body.press("End")
    body.type('", "step": "')
    page.get_by_role("button", name="{{step_name}}").click()
    body.press("End")
    body.type('"}')
    expect(body).to_have_value('{"subject": "{{ticket_subject}}", "step": "{{step_name}}"}')
    path = page.get_by_label("Point 1 path")
    path.click()
    path.press("End")
    page.get_by_role("button", name="{{ticket_id}}").click()
    expect(path).to_have_value("/tickets/{{ticket_id}}")

    # Preview against a pasted ticket before saving.
    page.get_by_label("…or paste the ticket (XML or JSON)").fill(TICKET_XML)
    page.get_by_role("button", name="Preview").click()
    result = page.locator("#preview-result")
    expect(result).to_contain_text("PUT https://itsm.example.com/base/tickets/445")
    expect(result).to_contain_text('"step": "Technical Design"')
    expect(result).to_contain_text("Authorization: Basic ********")
    screenshot(page, "integration-editor-preview")

    # A second point, then save.
    page.get_by_role("button", name="Add point").click()
    page.get_by_label("Point 2 name").fill("closed")
    page.get_by_label("Point 2 trigger").select_option("CLOSE")
    page.get_by_label("Point 2 server").select_option("jira-emea")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/integrations\?saved="))
    expect(page.locator('tr[data-integration="Access Request Add Targets"]')).to_contain_text("2")
    saved = ui.services.integrations.get("Access Request Add Targets")
    assert [p.name for p in saved.points] == ["design started", "closed"]
    assert saved.points[1].server == "jira-emea"
    assert saved.points[0].on.when == "inbound"


@pytest.mark.browser
def test_saving_over_someone_elses_change_is_refused_and_keeps_the_typing(
    page: Page, ui: LiveWI
) -> None:
    service = ui.services.integrations
    ui_sign_in(page, ui)
    page.get_by_role("link", name="Edit Access Request").click()
    page.get_by_label("Point 1 name").fill("open incident now")
    page.get_by_label("Point 1 path").fill("/api/now/table/problem")
    # Someone else saves the integration while the editor is open.
    other = service.update("Access Request", {"enabled": False})
    page.get_by_role("button", name="Save").click()

    alert = page.locator("#form-errors")
    expect(alert).to_contain_text(
        "the integration of workflow 'Access Request' was changed by someone else"
    )
    expect(alert).to_contain_text("Nothing was saved, and what you typed is kept below.")
    expect(page.get_by_label("Point 1 name")).to_have_value("open incident now")
    expect(page.get_by_label("Point 1 path")).to_have_value("/api/now/table/problem")
    stored = service.get("Access Request")
    assert stored.revision == other.revision and stored.points[0].name == "open incident"

    # Having been told, saving again replaces their change with what was typed.
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/integrations\?saved="))
    assert service.get("Access Request").points[0].request.path == "/api/now/table/problem"

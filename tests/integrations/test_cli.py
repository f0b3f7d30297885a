"""``wi integrations``: the CLI over the same services, on a real SQLite data folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.integrations.conftest import SERVERS
from workflow_integrator.cli import app
from workflow_integrator.cli.context import services

DATA = Path(__file__).parent / "data"


@pytest.fixture
def wi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Runs ``wi ...`` in-process against a fresh data folder with two servers."""
    monkeypatch.setenv("WI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WI_DATABASE_URL", raising=False)
    monkeypatch.delenv("WI_SECRET_KEY", raising=False)
    services.cache_clear()
    for server in SERVERS:
        services().servers.create(server)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    yield run
    services().close()
    services.cache_clear()


def test_add_list_show_edit_export_import_delete(
    wi: Any, tmp_path: Path, example: dict[str, Any]
) -> None:
    doc = tmp_path / "integration.yaml"
    doc.write_text(yaml.safe_dump(example))
    added = wi("integrations", "add", str(doc))
    assert added.exit_code == 0, added.output
    assert "created the integration of Access Request" in added.output

    listed = json.loads(wi("integrations", "list", "--json").output)
    assert [i["workflow"] for i in listed] == ["Access Request"]
    shown = wi("integrations", "show", "Access Request")
    assert shown.exit_code == 0 and "Access Request → servicenow-prod" in shown.output
    points = json.loads(wi("integrations", "show", "Access Request", "--json").output)["points"]
    assert [p["name"] for p in points] == ["open incident", "approval done"]

    edited = wi(
        "integrations",
        "edit",
        "Access Request",
        "--disabled",
        "--default-server",
        "jira-emea",
        "--json",
    )
    assert edited.exit_code == 0, edited.output
    assert json.loads(edited.output)["enabled"] is False
    assert json.loads(edited.output)["default_server"] == "jira-emea"

    exported = tmp_path / "export.yaml"
    assert wi("integrations", "export", "-o", str(exported)).exit_code == 0
    data = yaml.safe_load(exported.read_text())
    assert data["integrations"][0]["default_server"] == "jira-emea"

    assert wi("integrations", "delete", "Access Request", "--yes").exit_code == 0
    assert json.loads(wi("integrations", "list", "--json").output) == []

    dry = wi("integrations", "import", str(exported), "--dry-run")
    assert "would be created: Access Request" in dry.output
    assert json.loads(wi("integrations", "list", "--json").output) == []
    imported = wi("integrations", "import", str(exported), "--json")
    assert json.loads(imported.output)["created"] == ["Access Request"]
    again = wi("integrations", "import", str(exported), "--json")
    assert json.loads(again.output)["unchanged"] == ["Access Request"]
    # The round trip keeps the document.
    assert yaml.safe_load(wi("integrations", "export").output) == data


def test_bad_input_exits_2_with_the_field_and_changes_nothing(
    wi: Any, tmp_path: Path, example: dict[str, Any]
) -> None:
    good = dict(example, workflow="Good")
    bad = dict(example, workflow="Bad", default_server="missing")
    export = tmp_path / "two.json"
    export.write_text(json.dumps({"integrations": [good, bad]}))
    result = wi("integrations", "import", str(export))
    assert result.exit_code == 2
    assert "1.default_server: no outbound server named 'missing'" in result.output
    assert json.loads(wi("integrations", "list", "--json").output) == []

    broken = tmp_path / "broken.yaml"
    broken.write_text("workflow: [unclosed")
    result = wi("integrations", "add", str(broken))
    assert result.exit_code == 2 and "not valid YAML" in result.output

    assert wi("integrations", "show", "Nope").exit_code == 2
    assert "nothing to change" in wi("integrations", "edit", "Nope").output


def test_preview_from_a_ticket_file(wi: Any, tmp_path: Path, example: dict[str, Any]) -> None:
    example["workflow"] = "Access Request Add Targets"
    doc = tmp_path / "integration.json"
    doc.write_text(json.dumps(example))
    assert wi("integrations", "add", str(doc)).exit_code == 0
    result = wi(
        "integrations",
        "preview",
        "Access Request Add Targets",
        "--event",
        "CREATE",
        "--ticket-file",
        str(DATA / "ticket.xml"),
    )
    assert result.exit_code == 0, result.output
    assert "POST https://itsm.example.com/base/api/now/table/incident" in result.output
    assert "Authorization: Basic ********" in result.output
    assert '"correlation_id": 445' in result.output
    assert "nothing was sent" in result.output
    assert "s3cret-pw" not in result.output

    as_json = wi(
        "integrations",
        "preview",
        "Access Request Add Targets",
        "--event",
        "advance",
        "--completed-step",
        "Business Approval",
        "--ticket-file",
        str(DATA / "ticket.xml"),
        "--json",
    )
    assert [p["name"] for p in json.loads(as_json.output)["points"]] == ["approval done"]

    no_sc = wi(
        "integrations",
        "preview",
        "Access Request Add Targets",
        "--event",
        "CREATE",
        "--ticket",
        "445",
    )
    assert no_sc.exit_code == 2 and "paste the ticket document" in no_sc.output


def test_placeholders_command(wi: Any) -> None:
    result = wi("integrations", "placeholders", "--json")
    assert result.exit_code == 0
    names = [p["name"] for p in json.loads(result.output)["placeholders"]]
    assert "ticket_task_url" in names

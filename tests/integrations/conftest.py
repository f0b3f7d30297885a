"""Fixtures of the integration tests: servers to point at, the spec's example document."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest

SERVERS: list[dict[str, Any]] = [
    {
        "name": "servicenow-prod",
        "host": "itsm.example.com/base",
        "auth": {"method": "basic", "username": "wi", "password": "s3cret-pw"},
    },
    {
        "name": "jira-emea",
        "host": "jira.example.com",
        "auth": {"method": "bearer", "token": "tok-123"},
    },
]

EXAMPLE: dict[str, Any] = {
    "workflow": "Access Request",
    "default_server": "servicenow-prod",
    "routes": [
        {"when": {"field": "Region", "op": "equals", "value": "EMEA"}, "server": "jira-emea"}
    ],
    "notify_on_failure": {"requester": False, "handler": True, "addresses": ["noc@example.com"]},
    "fields": {"Region": "drop_down_list", "ITSM reference": "text_field"},
    "points": [
        {
            "name": "open incident",
            "on": {"trigger": "CREATE"},
            "request": {
                "method": "POST",
                "path": "/api/now/table/incident",
                "body": '{"short_description": "{{ticket_subject}}", '
                '"correlation_id": "{{ticket_id}}"}',
            },
            "response": {"fields": {"ITSM reference": "result.number"}},
        },
        {
            "name": "approval done",
            "on": {"step": "Business Approval", "when": "outbound"},
            "request": {
                "method": "PATCH",
                "path": "/api/now/table/incident/{{ITSM reference}}",
                "body": '{"state": "approved"}',
            },
        },
    ],
}


@pytest.fixture
def example() -> dict[str, Any]:
    """The integration example of the spec, with its fields declared."""
    return deepcopy(EXAMPLE)

"""One way pydantic errors become field errors: the field named, the fix said, no input echoed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.services.errors import InvalidInput


def errors_of(model: Any, document: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(document)
    return InvalidInput.from_validation(caught.value, document).errors


def test_union_tags_leave_the_location_and_cross_field_rules_name_their_field() -> None:
    document = {
        "name": "itsm",
        "host": "itsm.example.com",
        "auth": {
            "method": "oauth2",
            "token_url": "https://t.example.com/token",
            "client_id": "c",
            "client_secret": "top-secret-value",
        },
    }
    errors = errors_of(OutboundServer, document)
    locs = [e["loc"] for e in errors]
    assert locs == [["auth", "username"]]
    assert all("oauth2_password" not in loc for loc in locs)
    assert all(not e["msg"].startswith("Value error") for e in errors)
    assert "top-secret-value" not in repr(errors)


def test_a_missing_field_is_named_and_unknown_fields_are_refused_by_name() -> None:
    errors = errors_of(OutboundServer, {"host": "itsm.example.com", "colour": "red"})
    assert {tuple(e["loc"]): e["type"] for e in errors} == {
        ("name",): "missing",
        ("colour",): "extra_forbidden",
    }


def test_securechange_settings_use_the_same_rule() -> None:
    errors = errors_of(SecureChangeConnection, {"host": "sc.example.com", "protocol": "ftp"})
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["protocol"], "literal_error"),
        (["username"], "missing"),
    ]
    assert errors[0]["msg"] == "Input should be 'https' or 'http'"


def test_a_rule_across_fields_names_the_field_it_concerns() -> None:
    document = {
        "name": "itsm",
        "host": "h.example.com",
        "auth": {"method": "basic", "username": "u"},
    }
    assert errors_of(OutboundServer, document) == [
        {
            "loc": ["auth", "password"],
            "msg": "the login password is required",
            "type": "value_error",
        }
    ]

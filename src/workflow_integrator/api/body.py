"""Reading JSON bodies whose validation belongs to the service layer.

Server documents are validated by the services (masked secrets must be merged with
the stored ones first), so routes read the raw JSON here and document the schema with
:func:`schema_body` instead of letting FastAPI validate a model.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from workflow_integrator.services.errors import InvalidInput


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 422 that says what is wrong with it."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput.single([], "the request needs a JSON object body")
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput.single([], f"the body is not valid JSON: {exc}") from None
    except ValueError as exc:
        # e.g. an integer of more than 4300 digits, which Python refuses to convert.
        raise InvalidInput.single([], f"the body cannot be read as JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput.single([], "the body is nested too deeply to be a server") from None
    if not isinstance(value, dict):
        raise InvalidInput.single([], "the body must be a JSON object")
    return value


def schema_body(schema_name: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` that documents a JSON body by a component schema name."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
            },
        }
    }

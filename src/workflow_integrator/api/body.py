"""Reading JSON bodies whose validation belongs to the service layer.

Server documents are validated by the services (masked secrets must be merged with
the stored ones first), so routes read the raw JSON here and document the schema with
:func:`schema_body` instead of letting FastAPI validate a model.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from workflow_integrator.domain.bounds import MAX_DOCUMENT_DEPTH, OutOfBounds, check_json_value
from workflow_integrator.services.errors import InvalidInput, UnsupportedMedia


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 422 that says what is wrong with it.

    The body must be UTF-8 (415 otherwise), nested at most ``MAX_DOCUMENT_DEPTH``
    levels, and hold only text both databases can store (no lone surrogates).
    """
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput.single([], "the request needs a JSON object body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsupportedMedia(
            f"the body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8"
        ) from None
    try:
        value = json.loads(text)
        check_json_value(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput.single([], f"the body is not valid JSON: {exc}") from None
    except OutOfBounds as exc:
        raise InvalidInput.single([], str(exc)) from None
    except ValueError as exc:
        # e.g. an integer of more than 4300 digits, which Python refuses to convert.
        raise InvalidInput.single([], f"the body cannot be read as JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput.single(
            [], f"the body is nested more than {MAX_DOCUMENT_DEPTH} levels deep"
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput.single([], "the body must be a JSON object")
    return value


Model = TypeVar("Model", bound=BaseModel)


async def model_body(request: Request, model: type[Model]) -> Model:
    """The body read like :func:`json_object`, then validated as ``model`` (422 per field).

    Used instead of FastAPI's own body parsing, which answers 400 without saying what
    is wrong and gives up on deeply nested JSON.
    """
    body = await json_object(request)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, body) from None


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

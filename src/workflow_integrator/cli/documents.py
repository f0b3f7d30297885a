"""Reading and writing the YAML/JSON documents of ``add --file``, ``import`` and ``export``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import typer
import yaml

from workflow_integrator.cli.context import console, fail, print_json


class Format(StrEnum):
    """File formats of import and export."""

    yaml = "yaml"
    json = "json"


class ImportOutcome(Protocol):
    """What an import reports, whatever it imported."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]

    def model_dump(self) -> dict[str, Any]:
        """JSON-ready form."""
        ...


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (``-`` reads stdin); exit 2 with the parser's reason."""
    try:
        text = path.read_text() if str(path) != "-" else typer.get_text_stream("stdin").read()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        fail(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}")


def read_one(path: Path, what: str) -> dict[str, Any]:
    """A file that must hold one object (one server, one integration)."""
    loaded = read_document(path)
    if not isinstance(loaded, dict):
        fail(f"{path} must hold one {what} document (an object)")
    return loaded


def read_many(path: Path, key: str, identity: str, what: str) -> list[Any]:
    """An export's list under ``key``, a bare list, or a single ``identity``-bearing object."""
    loaded = read_document(path)
    docs = loaded.get(key) if isinstance(loaded, dict) else loaded
    if isinstance(loaded, dict) and docs is None and identity in loaded:
        docs = [loaded]
    if not isinstance(docs, list):
        fail(f"{path} must hold a list of {what} (or '{key}: [...]')")
    return docs


def write_export(
    key: str, docs: list[dict[str, Any]], fmt: Format, output: Path | None, what: str
) -> None:
    """Write ``{key: docs}`` as YAML or JSON to a file or stdout."""
    payload = {key: docs}
    text = (
        json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n"
        if fmt is Format.json
        else yaml.safe_dump(payload, sort_keys=False, allow_unicode=True)
    )
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"exported {len(docs)} {what} to {output}")


def print_import(report: ImportOutcome, *, dry_run: bool, as_json: bool) -> None:
    """Say what an import did, or with dry run would do."""
    if as_json:
        print_json(report.model_dump())
        return
    prefix = "would be " if dry_run else ""
    for label, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        if names:
            console.print(f"{prefix}{label}: {', '.join(names)}")
    if not (report.created or report.updated or report.unchanged):
        console.print("nothing to import")

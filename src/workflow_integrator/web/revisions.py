"""The revision a dialog or editor loaded, carried in a hidden field so a save cannot
silently overwrite a change someone else made meanwhile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_integrator.services.errors import Stale

KEPT_NOTE = (
    "Nothing was saved, and what you typed is kept below. Saving again replaces "
    "their change with yours; open it in another tab first to see what they changed."
)


def loaded_revision(form: Mapping[str, Any]) -> int | None:
    """The revision in the form's hidden ``revision`` field (None if absent or damaged)."""
    raw = str(form.get("revision") or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None


def stale_errors(exc: Stale) -> list[dict[str, Any]]:
    """Form-wide errors that explain the refusal; the form then carries the new revision."""
    return [{"loc": [], "msg": f"{exc.message}."}, {"loc": [], "msg": KEPT_NOTE}]

"""The placeholder catalogue: which names a template may use, and their values for a ticket."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import EllipsisType

from pydantic import BaseModel

from workflow_integrator.domain.integration import Integration
from workflow_integrator.domain.matching import WorkflowEvent
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.templating.placeholders import PREDEFINED, PlaceholderValues
from workflow_integrator.templating.plugins import CustomFunctions, load_custom_functions


class PlaceholderInfo(BaseModel):
    """One placeholder a template may use."""

    name: str
    kind: str  # predefined | custom | field
    description: str


class PlaceholderCatalog(BaseModel):
    """Every placeholder name an integration's templates may use."""

    placeholders: list[PlaceholderInfo]
    custom_functions_file: str | None
    custom_functions_error: str | None


class PlaceholderService:
    """Predefined placeholders, the plugin folder's custom functions and ticket fields."""

    def __init__(
        self, plugin_dir: Path | None, securechange_url: Callable[[], str | None] | None = None
    ) -> None:
        self._plugin_dir = plugin_dir
        self._securechange_url = securechange_url

    def custom_functions(self) -> CustomFunctions:
        """The custom placeholders of the plugin folder (reloaded when the file changes)."""
        return load_custom_functions(self._plugin_dir)

    def catalog(self, fields: Mapping[str, str] | None = None) -> PlaceholderCatalog:
        """Every placeholder name a template may use, with ``fields`` (name → type) if given."""
        custom = self.custom_functions()
        items = [
            PlaceholderInfo(name=n, kind="custom", description="custom function")
            for n in custom.names()
        ]
        items += [
            PlaceholderInfo(name=n, kind="predefined", description=d)
            for n, d in PREDEFINED.items()
            if n not in custom.functions
        ]
        items += [
            PlaceholderInfo(name=n, kind="field", description=f"ticket field ({t})")
            for n, t in (fields or {}).items()
        ]
        return PlaceholderCatalog(
            placeholders=items,
            custom_functions_file=str(custom.path) if custom.path else None,
            custom_functions_error=custom.error,
        )

    def values(
        self,
        ticket: Ticket,
        event: WorkflowEvent,
        *,
        create_date: str | None = None,
        update_date: str | None = None,
        integration: Integration | None = None,
        requester_full_name: str | None = None,
        securechange_url: str | EllipsisType | None = ...,
    ) -> PlaceholderValues:
        """Placeholder values for one ticket and event, with the custom functions.

        Fields the integration declares but the ticket lacks read as null. Reads the
        SecureChange connection from the database unless ``securechange_url`` is given
        (a batch reads it once): call it off the event loop.
        """
        if securechange_url is ...:
            securechange_url = self._securechange_url() if self._securechange_url else None
        return PlaceholderValues(
            ticket,
            event,
            declared_fields=integration.fields if integration else (),
            custom=self.custom_functions().functions,
            securechange_url=securechange_url,
            create_date=create_date,
            update_date=update_date,
            requester_full_name=requester_full_name,
        )

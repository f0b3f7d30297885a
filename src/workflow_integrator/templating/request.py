"""The request a point sends to a server, rendered for one ticket and event."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflow_integrator.domain.integration import IntegrationPoint
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.templating.template import (
    Values,
    render_json,
    render_path,
    render_text,
)


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """Method, path (below the server's base URL), headers and body, ready to send.

    ``headers`` holds the server's headers and the point's; the Authorization header is
    not here: the server's auth flow adds it when sending.
    """

    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None

    def url(self, server: OutboundServer) -> str:
        """The full URL on ``server``."""
        base = server.base_url.rstrip("/")
        if not self.path:
            return base
        return base + self.path if self.path.startswith(("/", "?")) else f"{base}/{self.path}"


def render_request(
    point: IntegrationPoint, server: OutboundServer, values: Values
) -> RenderedRequest:
    """Render ``point``'s request for ``server`` from placeholder ``values``.

    Raises ``RenderError`` (this ticket's data cannot be rendered) or ``TemplateError``.
    """
    request = point.request
    headers = list(server.header_list)
    extra = [(name, render_text(value, values)) for name, value in request.headers.items()]
    overridden = {name.lower() for name, _ in extra}
    # A point's header replaces the server's header of the same name.
    headers = [(n, v) for n, v in headers if n.lower() not in overridden] + extra
    body = render_json(request.body, values) if request.body is not None else None
    if body is not None and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return RenderedRequest(
        method=request.method,
        path=render_path(request.path, values),
        headers=headers,
        body=body,
    )


def auth_header_preview(server: OutboundServer) -> tuple[str, str] | None:
    """The Authorization header the server's auth adds, with its secret masked."""
    method = server.auth.method
    if method == "basic":
        return ("Authorization", f"Basic {MASK}")
    if method in ("oauth2", "bearer"):
        return ("Authorization", f"Bearer {MASK}")
    return None

"""The Servers list as pages: search, sort and paging over the saved servers.

Done on the server so that the list stays short whatever the number of servers;
the rows come from :class:`OutboundServerService` (secrets masked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workflow_integrator.domain.delivery import BreakerState
from workflow_integrator.services.outbound_servers import OutboundServerService, ServerView

PAGE_SIZE = 25
EXPIRY_NOTICE = timedelta(days=30)
"""Certificates expiring sooner than this are flagged (as the server's warnings do)."""

AUTH_LABELS = {"basic": "Basic", "oauth2": "OAuth 2.0", "bearer": "Bearer Token", "none": "None"}
GRANT_LABELS = {"password": "password credentials", "refresh_token": "refresh token"}


def auth_label(view: ServerView) -> str:
    """The authentication as the list shows it: ``OAuth 2.0 (refresh token)``."""
    method = str(view.auth.get("method", "none"))
    label = AUTH_LABELS.get(method, method)
    if method == "oauth2":
        label += f" ({GRANT_LABELS.get(str(view.auth.get('grant_type')), '')})"
    return label


@dataclass(frozen=True, slots=True)
class Badge:
    """A short flag on a row; ``level`` is ok, warn or bad; ``detail`` says why."""

    text: str
    level: str
    detail: str


def badges(view: ServerView, now: datetime) -> list[Badge]:
    """The row's warnings as badges: plain HTTP, no verification, certificate expiry, proxy,
    an open circuit breaker."""
    found: list[Badge] = []
    if view.protocol == "http":
        found.append(Badge("No TLS (HTTP)", "warn", "requests and credentials travel unencrypted"))
    elif view.verify_certificate == "disable":
        found.append(Badge("TLS not verified", "warn", "certificate verification is disabled"))
    for info in view.certificate_info:
        expires = datetime.fromisoformat(info["not_after"])
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if expires < now:
            found.append(Badge(f"Certificate expired {expires:%Y-%m-%d}", "bad",
                               "TLS to this server fails until a current certificate is uploaded"))
        elif expires < now + EXPIRY_NOTICE:
            found.append(Badge(f"Certificate expires {expires:%Y-%m-%d}", "warn",
                               "upload the renewed certificate before then"))
    if view.proxy:
        scheme = view.proxy.split("://", 1)[0] if "://" in view.proxy else "http"
        secret_in_clear = scheme == "http" and ":********@" in view.proxy
        found.append(Badge("Via proxy", "warn" if secret_in_clear else "info",
                           "the proxy password travels unencrypted to the proxy"
                           if secret_in_clear else f"requests go through {view.proxy}"))
    if view.breaker.state == BreakerState.OPEN and view.breaker.open_until is not None:
        found.append(Badge(f"Circuit open until {view.breaker.open_until:%H:%M:%S} UTC", "bad",
                           f"{view.breaker.failures} failures in a row: its deliveries wait "
                           "instead of hammering it"))
    elif view.breaker.state == BreakerState.HALF_OPEN:
        found.append(Badge("Circuit half-open", "warn",
                           "one delivery at a time probes it until one succeeds"))
    if not view.enabled:
        found.append(Badge("Disabled", "muted", "nothing is sent to it"))
    return found


SORTS: dict[str, Callable[[ServerView], Any]] = {
    "name": lambda v: v.name.casefold(),
    "host": lambda v: v.host.casefold(),
    "protocol": lambda v: v.protocol,
    "auth": lambda v: auth_label(v).casefold(),
    "tls": lambda v: v.verify_certificate,
    "state": lambda v: (v.state == "ok", v.name.casefold()),
}


@dataclass(frozen=True, slots=True)
class ServerQuery:
    """What the list asks for: a search text, a sort key and direction, a page (1-based)."""

    search: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1
    size: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class ServerPage:
    """One page of the list."""

    rows: list[ServerView]
    total: int
    matched: int
    page: int
    pages: int
    query: ServerQuery


def _matches(view: ServerView, words: list[str]) -> bool:
    haystack = " ".join(
        [view.name, view.host, view.protocol, auth_label(view), view.verify_certificate,
         view.state, view.proxy or ""]
    ).casefold()
    return all(word in haystack for word in words)


def server_page(servers: OutboundServerService, query: ServerQuery) -> ServerPage:
    """The servers matching every word of the search, sorted, one page of them."""
    every = servers.list_all()
    words = query.search.casefold().split()
    matched = [view for view in every if _matches(view, words)]
    key = SORTS.get(query.sort, SORTS["name"])
    matched.sort(key=lambda v: (key(v), v.name.casefold()), reverse=query.descending)
    pages = max(1, -(-len(matched) // query.size))
    page = min(max(1, query.page), pages)
    start = (page - 1) * query.size
    return ServerPage(
        rows=matched[start:start + query.size],
        total=len(every),
        matched=len(matched),
        page=page,
        pages=pages,
        query=query,
    )

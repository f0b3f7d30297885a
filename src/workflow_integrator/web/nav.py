"""The top bar's menu: one list, in the order it shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """One top-bar menu entry; it is highlighted on pages under ``prefix``."""

    label: str
    href: str
    prefix: str
    admin_only: bool = False


NAV: tuple[NavItem, ...] = (
    NavItem("Servers", "/servers", "/servers"),
    NavItem("Integrations", "/integrations", "/integrations"),
    NavItem("Events", "/events", "/events"),
    NavItem("Deliveries", "/deliveries", "/deliveries"),
    NavItem("SecureChange", "/securechange", "/securechange"),
    NavItem("Mail", "/smtp", "/smtp", admin_only=True),
    NavItem("Users", "/users", "/users", admin_only=True),
    NavItem("Audit", "/audit", "/audit", admin_only=True),
)
"""The menu, in order."""

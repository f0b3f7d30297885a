"""The top bar's menu: one list, in the order it shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """One top-bar menu entry; it is highlighted on pages under ``prefix``."""

    label: str
    href: str
    prefix: str
    order: int = 100
    admin_only: bool = False


NAV: tuple[NavItem, ...] = (
    NavItem("Servers", "/servers", "/servers", order=10),
    NavItem("Integrations", "/integrations", "/integrations", order=20),
    NavItem("Users", "/users", "/users", order=90, admin_only=True),
)
"""The menu, in order."""

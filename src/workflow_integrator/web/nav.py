"""The top bar's menu: a registry each UI module appends its entry to."""

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


NAV: list[NavItem] = []


def register(item: NavItem) -> None:
    """Add a menu entry (once), kept in ``order``."""
    if any(existing.href == item.href for existing in NAV):
        return
    NAV.append(item)
    NAV.sort(key=lambda entry: entry.order)


register(NavItem("Servers", "/servers", "/servers", order=10))
register(NavItem("Mail", "/smtp", "/smtp", order=80, admin_only=True))
register(NavItem("Users", "/users", "/users", order=90, admin_only=True))

"""Accessibility checks with axe-core (vendored under tests/vendor/axe-core) in Chromium.

``assert_accessible(page)`` runs axe on the page as it is and fails on any violation
of impact "serious" or "critical", listing rule, impact, help text and the elements.
The script is evaluated through the DevTools protocol, so the page's strict
Content-Security-Policy stays in force and untouched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
AXE_SCRIPT = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _source() -> str:
    text = AXE_SCRIPT.read_text(encoding="utf-8")
    assert text.startswith(f"/*! axe v{AXE_VERSION}"), "vendored axe-core is not the pinned one"
    return text


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page (WCAG 2.x A and AA rules plus best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())
    result: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ") + " — " + n.failureSummary)}));
        }"""
    )
    return result


def assert_accessible(page: Page, what: str = "") -> None:
    """No serious or critical axe violation on the page as it is now."""
    found = [v for v in violations(page) if v["impact"] in BLOCKING]
    report = "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']})\n    " + "\n    ".join(v["nodes"][:5])
        for v in found
    )
    assert not found, f"accessibility violations on {what or page.url}:\n{report}"

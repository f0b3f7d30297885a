"""What the parts of a running WI last said about themselves, for ``/readyz``.

Long-lived parts (the delivery workers, the SecureChange connection) report into one
``Readiness`` per process; ``/readyz`` adds the checks it makes itself (database,
migrations) and answers 503 when a required part is failing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class PartState:
    """One part's last report. ``required``: whether it decides readiness."""

    ok: bool
    detail: str
    checked_at: datetime
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        return {"ok": self.ok, "detail": self.detail, "required": self.required,
                "checked_at": self.checked_at.isoformat()}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Readiness:
    """Thread-safe reports by part name; the newest report of a part wins."""

    def __init__(self, now: Callable[[], datetime] = _utcnow) -> None:
        self._now = now
        self._parts: dict[str, PartState] = {}
        self._probes: dict[str, tuple[Callable[[], tuple[bool, str]], bool]] = {}
        self._lock = threading.Lock()

    def report(self, part: str, ok: bool, detail: str, *, required: bool = True) -> None:
        """Record what ``part`` says now (e.g. ``report("workers", True, "4 running")``)."""
        with self._lock:
            self._parts[part] = PartState(ok, detail, self._now(), required)

    def watch(self, part: str, probe: Callable[[], tuple[bool, str]], *,
              required: bool = True) -> None:
        """Ask ``probe`` for ``part``'s state at every :meth:`parts` (an in-process engine)."""
        with self._lock:
            self._probes[part] = (probe, required)

    def forget(self, part: str) -> None:
        """Drop a part that no longer runs in this process."""
        with self._lock:
            self._parts.pop(part, None)
            self._probes.pop(part, None)

    def parts(self) -> dict[str, PartState]:
        """A copy of every part's last report; watched parts are asked now."""
        with self._lock:
            parts = dict(self._parts)
            probes = dict(self._probes)
        for part, (probe, required) in probes.items():
            try:
                ok, detail = probe()
            except Exception as exc:  # a broken probe is a failing part, not a failed /readyz
                ok, detail = False, f"cannot tell: {type(exc).__name__}: {exc}"
            parts[part] = PartState(ok, detail, self._now(), required)
        return parts

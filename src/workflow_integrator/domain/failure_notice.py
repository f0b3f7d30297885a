"""Failure e-mails: who hears of a failed delivery, and the one digest each recipient gets.

Pure: the caller finds the addresses (SecureChange users) and sends the mail. Many
deliveries failing at once (a server down) become one e-mail per recipient, not one
per delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from workflow_integrator.domain.integration import NotifyOnFailure
from workflow_integrator.domain.ticket import Ticket

MAX_LISTED = 50
"""Deliveries named one by one in a digest; beyond it the mail says how many more."""


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that gave up (``dead``) or stays ``held`` too long."""

    delivery_id: int
    ticket_id: int
    workflow: str
    point: str
    server: str
    state: Literal["dead", "held"]
    reason: str
    since: datetime


@dataclass(frozen=True, slots=True)
class Wanted:
    """Who an integration wants told: fixed addresses and SecureChange users to look up."""

    addresses: tuple[str, ...]
    users: tuple[tuple[int | None, str], ...]
    """(user id, login name) of the requester and the current step's handlers."""


def wanted(notify: NotifyOnFailure, ticket: Ticket | None) -> Wanted:
    """The recipients ``notify`` names for ``ticket`` (users only when the ticket was read)."""
    users: list[tuple[int | None, str]] = []
    if ticket is not None and notify.requester and (ticket.requester_id or ticket.requester):
        users.append((ticket.requester_id, ticket.requester))
    current = ticket.current if ticket is not None else None
    if notify.handler and current is not None:
        for task in current.tasks:
            if task.assignee_id or task.assignee:
                users.append((task.assignee_id, task.assignee))
    unique = tuple(dict.fromkeys(users))
    return Wanted(tuple(dict.fromkeys(a.strip().lower() for a in notify.addresses)), unique)


@dataclass(frozen=True, slots=True)
class Digest:
    """One e-mail to one recipient about one or more failed deliveries."""

    recipient: str
    subject: str
    body: str
    delivery_ids: tuple[int, ...]


def digest(recipient: str, failures: Sequence[FailedDelivery], ui_url: str | None) -> Digest:
    """The e-mail telling ``recipient`` about ``failures`` (oldest first)."""
    ordered = sorted(failures, key=lambda f: (f.since, f.delivery_id))
    if len(ordered) == 1:
        only = ordered[0]
        verb = "could not be delivered" if only.state == "dead" else "is held"
        subject = f"WI: ticket {only.ticket_id} ({only.workflow}) {verb} to {only.server}"
    else:
        servers = sorted({f.server for f in ordered})
        subject = (f"WI: {len(ordered)} deliveries failed "
                   f"({', '.join(servers[:3])}{', …' if len(servers) > 3 else ''})")
    lines = ["Workflow Integrator could not deliver the following requests.", ""]
    for failure in ordered[:MAX_LISTED]:
        lines += _describe(failure, ui_url)
    if len(ordered) > MAX_LISTED:
        lines.append(f"… and {len(ordered) - MAX_LISTED} more"
                     + (f": {ui_url.rstrip('/')}/deliveries?state=dead" if ui_url else "."))
    lines += ["", "Dead deliveries are not retried: fix the cause and replay them from the "
              "Deliveries page or with `wi deliveries replay`. Held deliveries resume by "
              "themselves when their server is enabled or has valid credentials again."]
    return Digest(recipient, subject, "\n".join(lines) + "\n",
                  tuple(f.delivery_id for f in ordered))


def _describe(failure: FailedDelivery, ui_url: str | None) -> list[str]:
    state = "dead (gave up)" if failure.state == "dead" else "held"
    lines = [
        f"- Ticket {failure.ticket_id}, workflow {failure.workflow}, point {failure.point}",
        f"  server {failure.server}: {state} since "
        f"{failure.since.strftime('%Y-%m-%d %H:%M UTC')}",
        f"  reason: {failure.reason}",
    ]
    if ui_url:
        lines.append(f"  {ui_url.rstrip('/')}/deliveries/{failure.delivery_id}")
    return lines


def by_recipient(
    entries: Iterable[tuple[str, FailedDelivery]],
) -> dict[str, list[FailedDelivery]]:
    """Group (recipient, failure) pairs so each recipient gets one digest."""
    grouped: dict[str, list[FailedDelivery]] = {}
    for recipient, failure in entries:
        bucket = grouped.setdefault(recipient.strip().lower(), [])
        if failure not in bucket:
            bucket.append(failure)
    return grouped

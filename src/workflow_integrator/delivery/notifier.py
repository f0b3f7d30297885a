"""From failed deliveries to queued e-mails: one digest per recipient per batch.

The delivery engine hands in the deliveries that went ``dead`` or stayed ``held`` too
long since its last call; the notifier finds each integration's recipients (reading
the ticket and its users from SecureChange only when requester or handler are
wanted) and queues one e-mail per recipient through the mailer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from workflow_integrator.delivery.mailer import FailureMailer
from workflow_integrator.delivery.recipients import resolve
from workflow_integrator.domain.failure_notice import (
    FailedDelivery,
    by_recipient,
    digest,
    wanted,
)
from workflow_integrator.domain.integration import NotifyOnFailure
from workflow_integrator.domain.network_policy import DEFAULT_POLICY, NetworkPolicy
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeClient, SecureChangeError
from workflow_integrator.securechange.connection import SecureChangeConnection

log = logging.getLogger("workflow_integrator.delivery.notifier")


@dataclass(frozen=True, slots=True)
class NoticeReport:
    """What a batch queued, and who could not be told (with why)."""

    mail_ids: tuple[int, ...]
    unresolved: tuple[str, ...]


class FailureNotifier:
    """Turns a batch of failed deliveries into queued failure e-mails."""

    def __init__(
        self,
        mailer: FailureMailer,
        notify_for: Callable[[str], NotifyOnFailure | None],
        securechange: Callable[[], SecureChangeConnection | None],
        ui_url: Callable[[], str | None],
        policy: NetworkPolicy = DEFAULT_POLICY,
    ) -> None:
        self._policy = policy
        self._mailer = mailer
        self._notify_for = notify_for  # sync: reads the database, called off the loop
        self._securechange = securechange
        self._ui_url = ui_url

    async def notify(self, failures: Sequence[FailedDelivery], now: datetime) -> NoticeReport:
        """Queue the e-mails about ``failures``; one per recipient."""
        workflows = sorted({f.workflow for f in failures})
        settings = await asyncio.to_thread(
            lambda: {w: self._notify_for(w) for w in workflows})
        pairs: list[tuple[str, FailedDelivery]] = []
        unresolved: list[str] = []
        needs_ticket = any(s is not None and (s.requester or s.handler)
                           for s in settings.values())
        connection = await asyncio.to_thread(self._securechange) if needs_ticket else None
        client = (SecureChangeClient(connection, policy=self._policy)
                  if connection is not None else None)
        tickets: dict[int, Ticket | None] = {}
        try:
            for failure in failures:
                notify = settings.get(failure.workflow)
                if notify is None:
                    continue
                ticket = None
                if client is not None and (notify.requester or notify.handler):
                    ticket = await self._ticket(client, failure.ticket_id, tickets, unresolved)
                elif notify.requester or notify.handler:
                    unresolved.append(f"ticket {failure.ticket_id}: requester and handler "
                                      "need the SecureChange connection, which is not set up")
                want = wanted(notify, ticket)
                found = await resolve(want, client) if client is not None and want.users \
                    else None
                addresses = found.addresses if found is not None else want.addresses
                if found is not None:
                    unresolved += [f"ticket {failure.ticket_id}: {u}" for u in found.unresolved]
                pairs += [(address, failure) for address in addresses]
        finally:
            if client is not None:
                await client.aclose()
        url = await asyncio.to_thread(self._ui_url)
        digests = [digest(recipient, items, url)
                   for recipient, items in by_recipient(pairs).items()]
        ids = await asyncio.to_thread(self._mailer.enqueue, digests, now) if digests else []
        for reason in dict.fromkeys(unresolved):
            log.warning("failure e-mail: cannot reach %s", reason)
        return NoticeReport(tuple(ids), tuple(dict.fromkeys(unresolved)))

    @staticmethod
    async def _ticket(client: SecureChangeClient, ticket_id: int,
                      cache: dict[int, Ticket | None], unresolved: list[str]) -> Ticket | None:
        if ticket_id not in cache:
            try:
                cache[ticket_id] = await client.ticket(ticket_id)
            except SecureChangeError as exc:
                # The fixed addresses still hear of it; requester and handler cannot.
                unresolved.append(f"ticket {ticket_id}: cannot be read ({exc})")
                cache[ticket_id] = None
        return cache[ticket_id]

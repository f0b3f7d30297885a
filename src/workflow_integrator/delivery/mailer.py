"""Sending queued failure e-mails: claim the due ones, send, record; retry with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator import logs
from workflow_integrator.domain.failure_notice import Digest
from workflow_integrator.outbound.smtp import Mail, MailResult
from workflow_integrator.services.errors import NotFound
from workflow_integrator.services.smtp import SmtpSettingsService
from workflow_integrator.store import mail_outbox

log = logging.getLogger("workflow_integrator.delivery.mailer")

FIRST_RETRY = 60.0
LAST_RETRY = 3600.0


def retry_delay(attempt: int, rng: random.Random) -> timedelta:
    """Exponential backoff with full jitter, from a minute up to an hour."""
    return timedelta(seconds=rng.uniform(0, min(LAST_RETRY, FIRST_RETRY * 2 ** (attempt - 1))))


class FailureMailer:
    """Queues digests and sends what is due; every e-mail stays recorded in the outbox."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        smtp: SmtpSettingsService,
        worker: str,
        *,
        max_attempts: int = 10,
        lease: timedelta = timedelta(minutes=5),
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._smtp = smtp
        self._worker = worker
        self._max_attempts = max_attempts
        self._lease = lease
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._recording: set[asyncio.Future[None]] = set()

    def enqueue(self, digests: Iterable[Digest], now: datetime) -> list[int]:
        """Queue one e-mail per digest in one transaction; their ids."""
        with self._sessions() as session:
            ids = [mail_outbox.enqueue(session, kind="failure", recipient=d.recipient,
                                       subject=d.subject, body=d.body,
                                       delivery_ids=list(d.delivery_ids), now=now)
                   for d in digests]
            session.commit()
        return ids

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest e-mails, queued, sent or failed: to whom, about what, and how it went."""
        with self._sessions() as session:
            rows = mail_outbox.recent(session, limit)
        return [{"id": r.id, "kind": r.kind, "recipient": r.recipient, "subject": r.subject,
                 "delivery_ids": list(r.delivery_ids), "state": r.state,
                 "attempts": r.attempts, "last_error": r.last_error,
                 "created_at": r.created_at.isoformat(),
                 "next_attempt_at": r.next_attempt_at.isoformat() if r.state == "pending"
                 else None,
                 "sent_at": r.sent_at.isoformat() if r.sent_at else None} for r in rows]

    async def send_due(self, now: datetime, limit: int = 20) -> int:
        """Send the e-mails due at ``now``; how many were tried."""
        claimed = await asyncio.to_thread(self._claim, now, limit)
        for mail in claimed:
            # Lines about a failure e-mail name the deliveries it tells of.
            with logs.bound(mail_id=mail.id, delivery_ids=list(mail.delivery_ids) or None):
                result = await self._send(mail)
                retry_at = None
                if not result.ok and result.retryable and mail.attempt < self._max_attempts:
                    retry_at = now + retry_delay(mail.attempt, self._rng)
                # The outcome is kept even if this task is cancelled meanwhile.
                recording = asyncio.ensure_future(asyncio.to_thread(
                    self._record, mail.id, result, retry_at, now))
                self._recording.add(recording)
                recording.add_done_callback(self._recording.discard)
                await asyncio.shield(recording)
                if result.ok:
                    log.info("failure e-mail sent to %s", mail.recipient)
                else:
                    log.warning("failure e-mail to %s not sent (%s)%s", mail.recipient,
                                result.message,
                                f"; next try at {retry_at.isoformat()}" if retry_at else
                                "; giving up")
        return len(claimed)

    async def settled(self) -> None:
        """Wait until the outcomes of e-mails sent so far are recorded (on shutdown)."""
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def _send(self, mail: mail_outbox.QueuedMail) -> MailResult:
        try:
            return await self._smtp.send(Mail((mail.recipient,), mail.subject, mail.body))
        except NotFound as exc:
            return MailResult(False, exc.message, 0, retryable=True)

    def _claim(self, now: datetime, limit: int) -> list[mail_outbox.QueuedMail]:
        with self._sessions() as session:
            claimed = mail_outbox.claim(session, self._worker, limit, now, self._lease)
            session.commit()
        return claimed

    def _record(self, mail_id: int, result: MailResult, retry_at: datetime | None,
                now: datetime) -> None:
        with self._sessions() as session:
            kept = mail_outbox.record(session, mail_id, self._worker, sent=result.ok,
                                      error=None if result.ok else result.message,
                                      retry_at=retry_at, now=now)
            session.commit()
        if not kept:
            log.warning("e-mail %s was claimed by another process meanwhile", mail_id)

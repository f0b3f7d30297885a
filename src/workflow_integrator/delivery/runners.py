"""What a delivering process runs beside its work: the engine, failure notices, the mailer.

``wi serve`` (with WI_SERVE_WORKERS) and ``wi worker`` build the same set here, so
failure e-mails go out wherever deliveries are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from workflow_integrator.delivery.engine import DeliveryEngine, delivery_engine
from workflow_integrator.delivery.mail_runner import MailRunner
from workflow_integrator.delivery.notices import FailureNotices
from workflow_integrator.domain.clock import Clock

if TYPE_CHECKING:
    from workflow_integrator.app import BackgroundRunner, Services


@dataclass(frozen=True)
class DeliveryRunners:
    """The engine, the failure-notice loop and the mail runner of one process."""

    engine: DeliveryEngine
    notices: FailureNotices
    mails: MailRunner

    @property
    def in_start_order(self) -> tuple[BackgroundRunner, ...]:
        """Started in this order, stopped in reverse: the mailer stops last."""
        return (self.mails, self.notices, self.engine)


def delivery_runners(
    services: Services, *, concurrency: int | None = None, clock: Clock | None = None
) -> DeliveryRunners:
    """The runners of one delivering process, wired to each other and to its services."""
    settings = services.settings
    clock = clock or services.clock
    engine = delivery_engine(services, concurrency=concurrency, clock=clock)
    mails = MailRunner(services.failure_mails, clock.now, settings.mail_interval_seconds)
    held = settings.held_notify_after_seconds
    notices = FailureNotices(
        services.sessions, services.notifier, clock,
        held_after=timedelta(seconds=held) if held > 0 else None,
        interval=settings.mail_interval_seconds, on_queued=mails.wake)
    engine.sender.on_recorded.append(notices.observe)
    return DeliveryRunners(engine, notices, mails)

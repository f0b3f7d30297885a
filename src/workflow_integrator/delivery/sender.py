"""Send one claimed delivery: render its request now, send it, and say what happened.

The request is rendered at send time (so it sees fields an earlier point of the
same ticket wrote back), sent through the server's transport and auth with the
same ``Idempotency-Key`` and ``X-WI-Delivery-Id`` on every attempt, and the
outcome is classified by the one retryable rule (``domain.retry``). The attempt
record keeps what a person needs to see, with every secret masked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from pydantic import BaseModel, SecretStr

from workflow_integrator.delivery.queue import ClaimedDelivery
from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.delivery import AttemptRecord, Outcome
from workflow_integrator.domain.headers import DELIVERY_ID_HEADER, IDEMPOTENCY_HEADER
from workflow_integrator.domain.integration import IntegrationPoint
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.domain.redaction import redact_headers, redact_url, scrub
from workflow_integrator.domain.retry import backoff_delay, is_retryable_status, retry_after
from workflow_integrator.outbound.errors import NeedsCredentials, OutboundError
from workflow_integrator.outbound.transport import TransportPool
from workflow_integrator.templating.plugins import PlaceholderError
from workflow_integrator.templating.request import RenderedRequest, render_request
from workflow_integrator.templating.template import RenderError, TemplateError, Values

#: Characters of a request or response body kept in an attempt record.
BODY_LIMIT = 16_384


@dataclass(frozen=True, slots=True)
class ServerRevision:
    """An outbound server as sent to: its id, configuration revision and settings."""

    id: int
    revision: int
    config: OutboundServer


class Sender:
    """Renders, sends and classifies one delivery at a time (shared by concurrent sends)."""

    def __init__(
        self,
        transports: TransportPool,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        first_retry_seconds: float = 1.0,
        max_retry_seconds: float = 600.0,
        body_limit: int = BODY_LIMIT,
    ) -> None:
        self._transports = transports
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._first = first_retry_seconds
        self._cap = max_retry_seconds
        self._body_limit = body_limit

    async def send(
        self,
        delivery: ClaimedDelivery,
        point: IntegrationPoint,
        server: ServerRevision,
        values: Values,
    ) -> Outcome:
        """Send ``point``'s request for ``delivery`` to ``server``; never raises for the
        receiver's or the network's failures, only returns the outcome."""
        started = self._clock.now()
        clock_start = time.monotonic()
        config = server.config
        secrets = set(_config_secrets(config))
        try:
            # Off the loop: a custom placeholder function may take seconds.
            request = await asyncio.to_thread(render_request, point, config, values)
        except (RenderError, TemplateError, PlaceholderError) as exc:
            attempt = AttemptRecord(
                started_at=started, duration_ms=0, method=point.request.method,
                url=redact_url(config.base_url.rstrip("/") + point.request.path),
                error_class=type(exc).__name__, error_message=scrub(str(exc), secrets),
                stage="render",
            )
            return Outcome("dead", f"the request cannot be rendered: {exc}", attempt)
        headers = [*request.headers, (IDEMPOTENCY_HEADER, delivery.idempotency_key),
                   (DELIVERY_ID_HEADER, str(delivery.id))]
        url = request.url(config)
        try:
            async with self._transports.lease(server.id, server.revision, config) as transport:
                response = await transport.send(
                    request.method, request.path, headers, request.body
                )
        except NeedsCredentials as exc:
            record = self._failed_attempt(
                started, clock_start, request, url, headers, exc, secrets, config
            )
            return Outcome("held", f"the server needs new credentials: {exc.reason}", record)
        except OutboundError as exc:
            record = self._failed_attempt(
                started, clock_start, request, url, headers, exc, secrets, config
            )
            return self._retry(delivery, record, None, f"{exc.stage}: {exc.message}")
        sent_headers = list(response.request.headers.multi_items())
        secrets.update(_sent_secrets(sent_headers))
        record = AttemptRecord(
            started_at=started,
            duration_ms=_elapsed_ms(clock_start),
            method=request.method,
            url=redact_url(url),
            request_headers=_redacted(sent_headers, config, secrets),
            request_body=self._bounded(request.body, secrets),
            response_status=response.status_code,
            response_headers=_redacted(list(response.headers.multi_items()), config, secrets),
            response_body=self._bounded(_text(response), secrets),
        )
        status = response.status_code
        if status < 300:
            found, missing = _mapped(point, response)
            reason = f"{status} {response.reason_phrase}".strip()
            if missing:
                reason += f"; the response holds nothing for {', '.join(missing)}"
            return Outcome("delivered", reason, record, status=status,
                           writeback=found or None, unmapped=tuple(missing))
        reason = f"{url_path(request)} answered {status} {response.reason_phrase}".strip()
        if is_retryable_status(status):
            wait = retry_after(dict(response.headers.items()), self._clock.now())
            return self._retry(delivery, record, wait, reason, status)
        return Outcome("dead", f"{reason}: not retried (only 408, 425, 429 and 5xx are)",
                       record, status=status)

    def not_sent(
        self, delivery: ClaimedDelivery, reason: str, *, stage: str, retry: bool,
        url: str = "",
    ) -> Outcome:
        """The outcome of a delivery that could not even be sent (its point or server is
        gone: dead; its ticket cannot be read now: retried like a network error)."""
        record = AttemptRecord(started_at=self._clock.now(), duration_ms=0, method="",
                               url=redact_url(url), error_message=reason, stage=stage)
        if retry:
            return self._retry(delivery, record, None, reason)
        return Outcome("dead", reason, record)

    def _retry(
        self, delivery: ClaimedDelivery, record: AttemptRecord, wait: timedelta | None,
        reason: str, status: int | None = None,
    ) -> Outcome:
        now = self._clock.now()
        if wait is None:
            wait = backoff_delay(delivery.attempt, self._rng, first=self._first, cap=self._cap)
        retry_at = now + wait
        give_up = delivery.give_up_at
        if give_up is not None and retry_at > give_up:
            return Outcome("dead", f"{reason}; gave up: no attempt left before "
                           f"{give_up.isoformat(timespec='seconds')}", record, status=status)
        return Outcome("retry", reason, record, status=status, retry_at=retry_at)

    def _failed_attempt(
        self, started: datetime, clock_start: float, request: RenderedRequest, url: str,
        headers: list[tuple[str, str]], exc: OutboundError, secrets: set[str],
        config: OutboundServer,
    ) -> AttemptRecord:
        return AttemptRecord(
            started_at=started,
            duration_ms=_elapsed_ms(clock_start),
            method=request.method,
            url=redact_url(url),
            request_headers=_redacted(headers, config, secrets),
            request_body=self._bounded(request.body, secrets),
            error_class=type(exc.__cause__ or exc).__name__,
            error_message=scrub(exc.message, secrets),
            stage=exc.stage,
        )

    def _bounded(self, text: str | None, secrets: Iterable[str]) -> str | None:
        if text is None:
            return None
        text = scrub(text, secrets)
        if len(text) <= self._body_limit:
            return text
        return text[: self._body_limit] + f"… ({len(text) - self._body_limit} more characters)"


def url_path(request: RenderedRequest) -> str:
    """``METHOD /path`` for messages."""
    return f"{request.method} {request.path or '/'}"


def _elapsed_ms(clock_start: float) -> int:
    return int((time.monotonic() - clock_start) * 1000)


def _text(response: httpx2.Response) -> str:
    return response.content.decode(response.encoding or "utf-8", "replace")


def _redacted(
    headers: list[tuple[str, str]], config: OutboundServer, secrets: Iterable[str]
) -> list[tuple[str, str]]:
    # The server's own headers may carry keys under any name: mask those too.
    own = {name for name, value in config.header_list if value in set(secrets)}
    own.update(config.secret_headers)
    return [(n, scrub(v, secrets)) for n, v in redact_headers(headers, extra_secret_names=own)]


def _mapped(point: IntegrationPoint, response: httpx2.Response) -> tuple[dict[str, Any], list[str]]:
    mapping = point.response
    if mapping is None or not mapping.fields:
        return {}, []
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        return {}, list(mapping.fields)
    return mapping.extract(body)


def _config_secrets(config: OutboundServer) -> Iterator[str]:
    """Every secret value of a server configuration (auth, proxy, key, secret headers)."""
    yield from _model_secrets(config)
    own = config.header_list
    shown_headers = redact_headers(own, extra_secret_names=config.secret_headers)
    for (_, value), (_, shown) in zip(own, shown_headers, strict=True):
        if shown != value:
            yield value


def _model_secrets(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _model_secrets(value)


def _sent_secrets(headers: list[tuple[str, str]]) -> Iterator[str]:
    """The credentials WI put on the wire (a fetched token, the Basic pair) and their parts."""
    for (_, original), (_, shown) in zip(headers, redact_headers(headers), strict=True):
        if shown == original:
            continue
        yield original
        scheme, _, credential = original.partition(" ")
        if credential:
            yield credential
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credential, validate=True).decode("utf-8", "replace")
                except ValueError:
                    continue
                yield decoded
                yield decoded.partition(":")[2]

"""Logging: one JSON object per line (readable text on a terminal), with context fields.

Context fields (``request_id``, ``delivery_id`` …) live in a context variable, so they
follow a request into thread hops (``asyncio.to_thread``, Starlette's thread pool) and
tasks started from it, and every line logged meanwhile carries them.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from workflow_integrator.domain.redaction import redact_line

LogFormat = Literal["auto", "json", "text"]

_SECRETS: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
_SECRETS_LOCK = threading.Lock()
_MAX_SECRETS = 2000
_FIELDS: ContextVar[Mapping[str, Any]] = ContextVar("wi_log_fields", default={})  # noqa: B039 - never mutated: each bind makes a new mapping

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


def context_fields() -> Mapping[str, Any]:
    """The fields bound in the current context."""
    return _FIELDS.get()


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (and tasks it starts);
    a field whose value is None is left out."""
    token = _FIELDS.set({**_FIELDS.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def bind(**fields: Any) -> None:
    """Add ``fields`` for the rest of the current context (a request, a task); a field
    whose value is None is left out."""
    _FIELDS.set({**_FIELDS.get(), **{k: v for k, v in fields.items() if v is not None}})


def remember_secrets(values: Iterable[str | None]) -> None:
    """Secret values this process uses (a server's password, a fetched token): from now on
    they are masked wherever they would appear in a log line."""
    with _SECRETS_LOCK:
        for value in values:
            if value and value not in _SECRETS:
                _SECRETS[value] = None
        while len(_SECRETS) > _MAX_SECRETS:  # the oldest go first
            del _SECRETS[next(iter(_SECRETS))]


def _known_secrets() -> list[str]:
    with _SECRETS_LOCK:
        return list(_SECRETS)


def _safe(value: Any, known: list[str]) -> Any:
    # The one redaction rule for every line WI writes: no secret is ever logged.
    return redact_line(value, known) if isinstance(value, str) else value


def _fields_of(record: logging.LogRecord, known: list[str]) -> dict[str, Any]:
    fields = dict(context_fields())
    fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
    return {k: _safe(v, known) for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        known = _known_secrets()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_line(record.getMessage(), known),
        }
        entry.update(_fields_of(record, known))
        if record.exc_info:
            entry["exception"] = redact_line(self.formatException(record.exc_info), known)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value …`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as readable text."""
        known = _known_secrets()
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = _fields_of(record, known)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_line(line, known)


def configure(level: str = "info", log_format: LogFormat = "auto",
              stream: TextIO | None = None) -> None:
    """Send every logger's lines (WI's, uvicorn's, libraries') to ``stream`` in one format."""
    out = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # Through the root handler, so uvicorn's lines have the same shape as WI's.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True

"""wi-trigger: the script SecureChange runs on workflow events; forwards them to WI.

Standard library only, so this one file can be copied to the SecureChange host and
run with its Python 3 (``python3 mediator.py``). SecureChange passes the event name
in ``SCW_EVENT`` and the ``<ticket_info>`` document on standard input, and retries
the script when it exits non-zero. This script therefore exits 0 only once WI has
answered that the event is stored, and never runs longer than its time budget.

Configuration (environment wins over the config file):

    WI_URL          WI's base URL, e.g. https://wi.example.com
    WI_API_TOKEN    an admin API token of WI (or WI_API_TOKEN_FILE: a file holding it)
    WI_CA_FILE      PEM file of the CA that signed WI's certificate (optional)
    WI_TIMEOUT      total seconds to spend, retries included (default 30)

The config file (``--config PATH``, else ``$WI_TRIGGER_CONFIG``, else
``/etc/wi-trigger.conf`` when present) holds the same names as ``NAME=value`` lines.

Exit status: 0 stored (or SecureChange's test call), 1 WI did not store it (SecureChange
will retry), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import IO

EXIT_OK = 0
EXIT_RETRY = 1
EXIT_CONFIG = 2
INTAKE_PATH = "/api/v1/events/securechange"
MAX_DOCUMENT_BYTES = 1_048_576
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONFIG = "/etc/wi-trigger.conf"
_TEST_DOCUMENT = re.compile(
    rb"^\s*(<\?xml[^>]*\?>)?\s*(<ticket_info\s*/>|<ticket_info\s*>\s*</ticket_info\s*>)\s*$"
)
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_KEYS = ("WI_URL", "WI_API_TOKEN", "WI_API_TOKEN_FILE", "WI_CA_FILE", "WI_TIMEOUT")


class ConfigError(Exception):
    """The mediator's configuration is incomplete or wrong; the message says how to fix it."""


@dataclass(frozen=True)
class MediatorConfig:
    """Where WI is and how to authenticate to it."""

    url: str
    token: str
    ca_file: str | None
    timeout: float

    @property
    def parsed(self) -> urllib.parse.SplitResult:
        """The parsed base URL."""
        return urllib.parse.urlsplit(self.url)


def read_config_file(path: str) -> dict[str, str]:
    """Read ``NAME=value`` lines (``#`` comments, optional quotes)."""
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        name = name.strip()
        if not sep or name not in _KEYS:
            raise ConfigError(
                f"{path}:{number}: expected NAME=value with NAME one of {', '.join(_KEYS)}"
            )
        values[name] = value.strip().strip("'\"")
    return values


def load_config(environ: dict[str, str], config_path: str | None) -> MediatorConfig:
    """Merge the config file and the environment (environment wins) and validate."""
    path = config_path or environ.get("WI_TRIGGER_CONFIG")
    if path is None and os.path.exists(DEFAULT_CONFIG):
        path = DEFAULT_CONFIG
    values = read_config_file(path) if path else {}
    values.update({k: v for k, v in environ.items() if k in _KEYS and v})
    url = values.get("WI_URL", "").rstrip("/")
    if not url:
        raise ConfigError("WI_URL is not set (e.g. WI_URL=https://wi.example.com)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"WI_URL must be an http:// or https:// URL, got {url!r}")
    token = values.get("WI_API_TOKEN", "")
    if not token and values.get("WI_API_TOKEN_FILE"):
        try:
            with open(values["WI_API_TOKEN_FILE"], encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read WI_API_TOKEN_FILE {values['WI_API_TOKEN_FILE']}: {exc.strerror}"
            ) from None
    if not token:
        raise ConfigError("WI_API_TOKEN is not set (create one with `wi tokens create`)")
    ca_file = values.get("WI_CA_FILE") or None
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"WI_CA_FILE {ca_file} does not exist")
    raw_timeout = values.get("WI_TIMEOUT", str(DEFAULT_TIMEOUT))
    try:
        timeout = float(raw_timeout)
    except ValueError:
        raise ConfigError(f"WI_TIMEOUT must be a number of seconds, got {raw_timeout!r}") from None
    if not 1 <= timeout <= 600:
        raise ConfigError(f"WI_TIMEOUT must be between 1 and 600 seconds, got {raw_timeout}")
    return MediatorConfig(url=url, token=token, ca_file=ca_file, timeout=timeout)


def is_test_document(document: bytes) -> bool:
    """Whether this is SecureChange's "Test" call: an empty ``<ticket_info/>``."""
    return _TEST_DOCUMENT.match(document) is not None


@dataclass(frozen=True)
class Answer:
    """What WI answered to one attempt."""

    status: int
    body: bytes


def post_document(
    config: MediatorConfig, event: str, document: bytes, timeout: float
) -> Answer:
    """One POST of the document to WI's intake."""
    parts = config.parsed
    query = urllib.parse.urlencode({"event": event}) if event else ""
    path = (parts.path or "") + INTAKE_PATH + (f"?{query}" if query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=config.ca_file)
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            path,
            body=document,
            headers={
                "Authorization": f"Bearer {config.token}",
                "Content-Type": "application/xml",
                "Accept": "application/json",
                "User-Agent": "wi-trigger/1",
            },
        )
        response = connection.getresponse()
        return Answer(response.status, response.read(65536))
    finally:
        connection.close()


def _reason(answer: Answer) -> str:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return answer.body[:200].decode("utf-8", "replace").strip() or "no details"
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or body.get("error")
        if isinstance(detail, str):
            return detail
        if detail is not None:
            return json.dumps(detail)[:300]
    return json.dumps(body)[:300]


def forward(config: MediatorConfig, event: str, document: bytes) -> tuple[int, str]:
    """Send the event until WI stores it or the time budget is spent.

    Returns the exit status and the one-line message for stderr.
    """
    deadline = time.monotonic() + config.timeout
    delay = 0.5
    last = "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            return EXIT_RETRY, f"WI did not store the event within {config.timeout:g}s: {last}"
        try:
            answer = post_document(config, event, document, remaining)
        except ssl.SSLError as exc:
            last = f"TLS error talking to {config.url}: {exc.reason or exc}"
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                return EXIT_RETRY, f"{last} (set WI_CA_FILE to the CA that signed WI's certificate)"
        except (OSError, http.client.HTTPException) as exc:
            last = f"cannot reach WI at {config.url}: {exc}"
        else:
            if answer.status in (200, 201, 202):
                try:
                    event_id = json.loads(answer.body).get("id")
                except (ValueError, AttributeError):
                    event_id = None
                if event_id is None:
                    return EXIT_RETRY, f"WI answered {answer.status} without an event id"
                return EXIT_OK, f"{event or 'event'} stored by WI as event {event_id}"
            refused = _token_refusal(answer.status)
            if refused:
                return EXIT_RETRY, refused
            if answer.status not in _RETRY_STATUSES:
                return EXIT_RETRY, f"WI rejected the event ({answer.status}): {_reason(answer)}"
            last = f"WI answered {answer.status}: {_reason(answer)}"
        pause = min(delay, max(0.0, deadline - time.monotonic() - 0.1))
        if pause > 0:
            time.sleep(pause)
        delay = min(delay * 2, 5.0)


def _token_refusal(status: int) -> str | None:
    """What to fix when WI refuses the token (401 or 403); None for other answers."""
    if status == 401:
        return "WI refused the API token (401): check WI_API_TOKEN"
    if status == 403:
        return (
            "the API token may not post events (403): use a token made with "
            "`wi tokens create --role trigger`"
        )
    return None


def check(config: MediatorConfig) -> tuple[int, str]:
    """Test connection and token by sending the test document (WI stores nothing)."""
    try:
        answer = post_document(config, "", b"<ticket_info/>", config.timeout)
    except ssl.SSLError as exc:
        return EXIT_RETRY, f"TLS error talking to {config.url}: {exc.reason or exc}"
    except (OSError, http.client.HTTPException) as exc:
        return EXIT_RETRY, f"cannot reach WI at {config.url}: {exc}"
    if answer.status in (200, 202):
        return EXIT_OK, f"OK: {config.url} accepts events with this token"
    refused = _token_refusal(answer.status)
    if refused:
        return EXIT_RETRY, refused
    return EXIT_RETRY, f"WI answered {answer.status}: {_reason(answer)}"


def run(argv: list[str] | None, environ: dict[str, str], stdin: IO[bytes]) -> tuple[int, str]:
    """The whole script; returns the exit status and the stderr line."""
    parser = argparse.ArgumentParser(
        prog="wi-trigger",
        description="Forward a SecureChange trigger event to Workflow Integrator.",
    )
    parser.add_argument("--check", action="store_true", help="test the connection and token")
    parser.add_argument("--config", help=f"config file (default: {DEFAULT_CONFIG} if present)")
    args = parser.parse_args(argv)
    try:
        config = load_config(environ, args.config)
    except ConfigError as exc:
        return EXIT_CONFIG, str(exc)
    if args.check:
        return check(config)
    document = stdin.read(MAX_DOCUMENT_BYTES + 1)
    if len(document) > MAX_DOCUMENT_BYTES:
        return EXIT_CONFIG, f"the ticket_info document is larger than {MAX_DOCUMENT_BYTES} bytes"
    if is_test_document(document):
        return EXIT_OK, "test call from SecureChange answered; nothing sent"
    if not document.strip():
        return EXIT_CONFIG, "no ticket_info document on standard input"
    event = environ.get("SCW_EVENT", "").strip()
    if not event:
        return EXIT_CONFIG, "SCW_EVENT is not set (SecureChange sets it for trigger scripts)"
    return forward(config, event, document)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run, print one line to stderr, exit with the status."""
    try:
        status, message = run(argv, dict(os.environ), sys.stdin.buffer)
    except KeyboardInterrupt:
        status, message = EXIT_RETRY, "interrupted"
    print(f"wi-trigger: {message}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()

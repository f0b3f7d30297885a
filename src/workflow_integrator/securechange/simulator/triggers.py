"""Running the trigger command the way SecureChange does: async, with retries."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workflow_integrator.domain.ticket import JsonValue

#: SecureChange makes up to five attempts of a failing trigger script.
MAX_ATTEMPTS = 5
DEFAULT_DELAYS = (1.0, 2.0, 4.0, 8.0)


@dataclass(slots=True)
class TriggerRun:
    """One attempt of the trigger command for one event."""

    ticket_id: int
    event: str
    attempt: int
    exit_code: int | None
    stderr: str
    started_at: float
    duration: float

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view."""
        return {
            "ticket_id": self.ticket_id, "event": self.event, "attempt": self.attempt,
            "exit_code": self.exit_code, "stderr": self.stderr,
            "started_at": self.started_at, "duration": round(self.duration, 3),
        }


@dataclass(slots=True)
class TriggerConfig:
    """The command to run, its extra environment, and the retry schedule."""

    command: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    attempts: int = MAX_ATTEMPTS
    delays: Sequence[float] = DEFAULT_DELAYS
    timeout: float = 60.0


def parse_command(command: str | Sequence[str] | None) -> tuple[str, ...]:
    """A command line (shell words) or argument list as an argument tuple."""
    if command is None:
        return ()
    if isinstance(command, str):
        return tuple(shlex.split(command))
    return tuple(command)


def wi_trigger_command() -> list[str]:
    """The ``wi-trigger`` installed beside this Python (else the mediator run as a module)."""
    script = Path(sys.executable).parent / "wi-trigger"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "workflow_integrator.securechange.mediator"]


class TriggerRunner:
    """Fires the configured command for each event in its own thread, retrying failures."""

    def __init__(self, config: TriggerConfig | None = None) -> None:
        self.config = config or TriggerConfig()
        self._lock = threading.Lock()
        self._runs: list[TriggerRun] = []
        self._active = 0
        self._idle = threading.Condition(self._lock)

    def configure(self, config: TriggerConfig) -> None:
        """Replace the command and schedule (events already firing keep theirs)."""
        self.config = config

    @property
    def runs(self) -> list[TriggerRun]:
        """Every attempt so far, oldest first."""
        with self._lock:
            return list(self._runs)

    def fire(self, ticket_id: int, event: str, document: str) -> None:
        """Run the command for an event in the background (no-op without a command)."""
        config = self.config
        if not config.command:
            return
        with self._lock:
            self._active += 1
        thread = threading.Thread(
            target=self._deliver, args=(config, ticket_id, event, document),
            name=f"trigger-{ticket_id}-{event}", daemon=True,
        )
        thread.start()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no event is still being attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _deliver(self, config: TriggerConfig, ticket_id: int, event: str, document: str) -> None:
        try:
            for attempt in range(1, config.attempts + 1):
                run = self._attempt(config, ticket_id, event, document, attempt)
                with self._lock:
                    self._runs.append(run)
                if run.exit_code == 0:
                    return
                if attempt < config.attempts and config.delays:
                    time.sleep(config.delays[min(attempt - 1, len(config.delays) - 1)])
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @staticmethod
    def _attempt(
        config: TriggerConfig, ticket_id: int, event: str, document: str, attempt: int
    ) -> TriggerRun:
        env = {**os.environ, **config.env, "SCW_EVENT": event}
        started = time.time()
        clock = time.monotonic()
        try:
            done = subprocess.run(
                list(config.command), input=document.encode("utf-8"), env=env,
                capture_output=True, timeout=config.timeout, check=False,
            )
            code: int | None = done.returncode
            stderr = done.stderr.decode("utf-8", "replace").strip()
        except subprocess.TimeoutExpired:
            code, stderr = None, f"killed after {config.timeout:g}s"
        except OSError as exc:
            code, stderr = None, f"cannot run {config.command[0]!r}: {exc.strerror}"
        return TriggerRun(ticket_id, event, attempt, code, stderr[-2000:], started,
                          time.monotonic() - clock)

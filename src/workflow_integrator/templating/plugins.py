"""Custom placeholders: functions of a ``custom_functions.py`` module in the plugin folder.

Each public function ``def name(ticket, **kwargs) -> str`` is a placeholder called
``name``. The module runs in a worker process of its own (one per plugin file, see
``plugin_worker``), never in WI: a call that runs longer than ``CALL_TIMEOUT_SECONDS``
gets its worker killed, and the next call starts a new one. The module is reloaded when
the file changes. A module that fails to load is reported (by
:attr:`CustomFunctions.error`), never raised into the service.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow_integrator.templating.plugin_worker import write_frame

MODULE_FILE = "custom_functions.py"
#: Seconds a custom function may run before its request fails.
CALL_TIMEOUT_SECONDS = 5.0
#: Seconds the worker may take to start and load ``custom_functions.py``.
LOAD_TIMEOUT_SECONDS = 20.0

CustomFunction = Callable[..., Any]
_HEADER = struct.Struct("!I")


class PlaceholderError(RuntimeError):
    """A placeholder could not produce its value (a custom function failed or hung)."""


@dataclass(frozen=True)
class CustomFunctions:
    """The custom placeholders found in the plugin folder."""

    functions: dict[str, CustomFunction] = field(default_factory=dict)
    path: Path | None = None
    error: str | None = None

    def names(self) -> list[str]:
        """Placeholder names, sorted."""
        return sorted(self.functions)


class _Stopped(Exception):
    """The worker did not answer in time or ended; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PluginWorker:
    """The worker process of one plugin file; one call at a time, killed when it runs away."""

    def __init__(self, path: Path, mtime: int) -> None:
        self.path = path
        self.mtime = mtime
        self.names: list[str] = []
        self.error: str | None = None
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running worker's process id, if one runs."""
        return self._process.pid if self._process is not None else None

    def load(self) -> None:
        """Start the worker and learn the function names (or why the module fails)."""
        with self._lock:
            try:
                self._start()
            except _Stopped as stopped:
                self.error = f"{self.path.name} {stopped.reason}"

    def call(self, name: str, ticket: Any, kwargs: dict[str, Any]) -> Any:
        """Run one function in the worker; ``PlaceholderError`` on failure or timeout."""
        limit = CALL_TIMEOUT_SECONDS
        if not self._lock.acquire(timeout=limit):
            raise PlaceholderError(
                f"custom placeholder '{name}' waited over {limit:g}s for another custom function"
            )
        try:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._process is not None and self._process.stdin is not None
            try:
                write_frame(self._process.stdin, ("call", name, ticket, kwargs))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise PlaceholderError(
                    f"custom placeholder '{name}' cannot be given this ticket: {exc}"
                ) from None
            except OSError:
                raise _Stopped("ended its worker process") from None
            kind, value = self._receive(limit, "did not return within")
        except _Stopped as stopped:
            self.stop()
            raise PlaceholderError(
                f"custom placeholder '{name}' {stopped.reason}; its worker process was stopped"
            ) from None
        finally:
            self._lock.release()
        if kind == "error":
            raise PlaceholderError(f"custom placeholder '{name}' failed: {value}")
        return value

    def stop(self) -> None:
        """Kill the worker and everything it started (it runs in a session of its own)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "workflow_integrator.templating.plugin_worker", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        _kind, names, error = self._receive(LOAD_TIMEOUT_SECONDS, "did not load within")
        self.names, self.error = list(names), error

    def _receive(self, timeout: float, late: str) -> Any:
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = b""
        while True:
            if len(buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buffer)
                if len(buffer) >= _HEADER.size + size:
                    return pickle.loads(buffer[_HEADER.size : _HEADER.size + size])  # noqa: S301
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Stopped(f"{late} {timeout:g}s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _Stopped("ended its worker process")
                buffer += chunk


@dataclass(frozen=True)
class _WorkerFunction:
    """A custom function as WI sees it: a call into the plugin's worker process."""

    worker: PluginWorker
    name: str

    def __call__(self, ticket: Any, **kwargs: Any) -> Any:
        return self.worker.call(self.name, ticket, kwargs)


_workers: dict[Path, PluginWorker] = {}
_workers_lock = threading.Lock()


def load_custom_functions(plugin_dir: Path | None) -> CustomFunctions:
    """The functions of ``<plugin_dir>/custom_functions.py`` (none when there is no file)."""
    if plugin_dir is None:
        return CustomFunctions()
    path = (plugin_dir / MODULE_FILE).resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return CustomFunctions(path=path)
    except OSError as exc:
        return CustomFunctions(path=path, error=f"cannot read {path}: {exc.strerror}")
    with _workers_lock:
        worker = _workers.get(path)
        if worker is None or worker.mtime != mtime:
            if worker is not None:
                worker.stop()
            worker = PluginWorker(path, mtime)
            worker.load()
            _workers[path] = worker
    if worker.error is not None:
        return CustomFunctions(path=path, error=worker.error)
    functions: dict[str, CustomFunction] = {
        name: _WorkerFunction(worker, name) for name in worker.names
    }
    return CustomFunctions(functions=functions, path=path)


@atexit.register
def stop_plugin_workers() -> None:
    """Stop every plugin worker process (at exit, or when the application stops)."""
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop()


def call_custom(name: str, function: CustomFunction, ticket: Any, kwargs: dict[str, Any]) -> Any:
    """Call a custom function; :class:`PlaceholderError` on any failure or timeout."""
    try:
        return function(ticket, **kwargs)
    except PlaceholderError:
        raise
    except Exception as exc:  # a function handed in directly rather than loaded
        raise PlaceholderError(
            f"custom placeholder '{name}' failed: {type(exc).__name__}: {exc}"
        ) from exc

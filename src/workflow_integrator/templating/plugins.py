"""Custom placeholders: functions of a ``custom_functions.py`` module in the plugin folder.

Each public function ``def name(ticket, **kwargs) -> str`` is a placeholder called
``name``. The module is reloaded when the file changes. A module that fails to load is
reported (by :attr:`CustomFunctions.error`), never raised into the service.
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODULE_FILE = "custom_functions.py"
#: Seconds a custom function may run before its request fails.
CALL_TIMEOUT_SECONDS = 5.0

CustomFunction = Callable[..., Any]


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


_cache: dict[Path, tuple[float, CustomFunctions]] = {}
_cache_lock = threading.Lock()


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
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        loaded = _load(path)
        _cache[path] = (mtime, loaded)
        return loaded


def _load(path: Path) -> CustomFunctions:
    spec = importlib.util.spec_from_file_location("wi_custom_functions", path)
    if spec is None or spec.loader is None:
        return CustomFunctions(path=path, error=f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    # A broken plugin (even one calling sys.exit) must not stop WI.
    except BaseException as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        line = f" (line {last[0].lineno})" if last else ""
        return CustomFunctions(path=path, error=f"{path.name}{line}: {type(exc).__name__}: {exc}")
    functions: dict[str, CustomFunction] = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj)
        and not name.startswith("_")
        and getattr(obj, "__module__", None) == module.__name__
    }
    return CustomFunctions(functions=functions, path=path)


def call_custom(name: str, function: CustomFunction, ticket: Any, kwargs: dict[str, Any]) -> Any:
    """Call a custom function with a time limit; :class:`PlaceholderError` on any failure."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(ticket, **kwargs)
        except BaseException as exc:  # reported as the placeholder's error
            outcome["error"] = exc

    # A daemon thread: a function that never returns cannot keep WI from stopping.
    worker = threading.Thread(target=run, name=f"custom-placeholder-{name}", daemon=True)
    worker.start()
    worker.join(CALL_TIMEOUT_SECONDS)
    if worker.is_alive():
        raise PlaceholderError(
            f"custom placeholder '{name}' did not return within {CALL_TIMEOUT_SECONDS:g}s"
        )
    if "error" in outcome:
        exc = outcome["error"]
        raise PlaceholderError(f"custom placeholder '{name}' failed: {type(exc).__name__}: {exc}")
    return outcome.get("value")

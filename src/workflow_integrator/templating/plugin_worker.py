"""The process that runs custom functions (``python -m ...templating.plugin_worker PATH``).

It loads ``custom_functions.py``, reports the public function names, then answers calls
one at a time over stdin/stdout in length-prefixed pickle frames. WI kills it when a
call runs too long and starts a new one for the next call, so a runaway function never
leaves a thread or a process behind.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import pickle
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

_HEADER = struct.Struct("!I")


def write_frame(stream: IO[bytes], message: object) -> None:
    """Send one pickled message."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """Receive one pickled message (None at end of input)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))  # noqa: S301 - frames come from WI itself


def _load(path: Path) -> tuple[dict[str, Any], str | None]:
    spec = importlib.util.spec_from_file_location("wi_custom_functions", path)
    if spec is None or spec.loader is None:
        return {}, f"{path} is not a Python module"
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    # A broken plugin (even one calling sys.exit) is reported, not fatal.
    except BaseException as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        line = f" (line {last[0].lineno})" if last else ""
        return {}, f"{path.name}{line}: {type(exc).__name__}: {exc}"
    functions = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj)
        and not name.startswith("_")
        and getattr(obj, "__module__", None) == module.__name__
    }
    return functions, None


def _exit_with_parent() -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)  # WI is gone: nobody will ever read an answer


def main() -> None:
    """Serve calls until stdin closes."""
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a print() in a plugin must not corrupt the frames
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    # Imported before the first call so that unpickling a ticket costs no call time.
    importlib.import_module("workflow_integrator.domain.ticket")
    functions, error = _load(Path(sys.argv[1]))
    write_frame(answers, ("loaded", sorted(functions), error))
    while (request := read_frame(requests)) is not None:
        _op, name, ticket, kwargs = request
        try:
            outcome: tuple[str, Any] = ("ok", functions[name](ticket, **kwargs))
            pickle.dumps(outcome)
        except BaseException as exc:  # reported as the placeholder's error
            outcome = ("error", f"{type(exc).__name__}: {exc}")
        write_frame(answers, outcome)


if __name__ == "__main__":
    main()

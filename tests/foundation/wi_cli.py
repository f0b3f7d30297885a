"""Running the real ``wi`` command in a subprocess, on a data folder of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WI = str(Path(sys.executable).parent / "wi")


def wi_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``wi`` run: no inherited WI_* setting, own data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WI_")}
    env.update({"WI_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"}, **extra)
    return env


def run_wi(
    data_dir: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``wi *args`` (cwd = the data folder's parent, so no stray .env is read)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # No terminal on stdin, as under CI: prompts cannot be answered there.
    feed: dict[str, object] = {"input": stdin} if stdin is not None else {
        "stdin": subprocess.DEVNULL
    }
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [WI, *args],
        cwd=data_dir.parent,
        env=wi_env(data_dir, **env),
        **feed,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_many(
    data_dir: Path, *commands: list[str], **env: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent ``wi`` commands side by side (each start costs about a second)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run_wi(data_dir, *args, **env), commands))

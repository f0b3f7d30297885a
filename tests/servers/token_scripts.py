"""Real token scripts written to a temporary folder, with the permissions a test needs."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def write_token_script(folder: Path, name: str, body: str, mode: int = 0o700) -> str:
    """Write an executable Python script (``body`` is its code) and return its full path."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys, time, os\n{body}\n")
    os.chmod(path, mode)
    return str(path)


def printing(folder: Path, token: str, name: str = "good.py") -> str:
    """A script that prints the token (with a trailing newline, as most scripts do)."""
    return write_token_script(folder, name, f"print({token!r})")


def counting(folder: Path, prefix: str, name: str = "counting.py") -> str:
    """A script that prints ``prefix-<n>`` where n counts its runs (kept in a file beside it)."""
    counter = folder / f"{name}.count"
    body = (
        f"p = {str(counter)!r}\n"
        "n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n"
        "open(p, 'w').write(str(n))\n"
        f"print({prefix!r} + '-' + str(n))"
    )
    return write_token_script(folder, name, body)


def runs(folder: Path, name: str = "counting.py") -> int:
    """How often a ``counting`` script ran."""
    counter = folder / f"{name}.count"
    return int(counter.read_text()) if counter.exists() else 0

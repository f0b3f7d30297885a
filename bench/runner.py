"""What ``python -m bench`` runs: a list of case runners, each adding its options and
returning its tables and figures. Add a case: one ``Runner`` in ``bench/__main__.py``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table


@dataclass
class Result:
    """A runner's output: tables to print and figures for the JSON file."""

    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runner:
    """One benchmark case: its name (``--only`` matches it), options and run."""

    name: str
    run: Callable[[argparse.Namespace, Path, Progress], Result]
    add_options: Callable[[argparse.ArgumentParser], None] = lambda _parser: None
    #: Whether ``--only TEXT`` selects it by something else than its name (micro cases).
    selects: Callable[[str], bool] | None = None

    def selected(self, only: str | None) -> bool:
        """Whether ``--only`` leaves this runner in."""
        if only is None or only in self.name:
            return True
        return self.selects(only) if self.selects is not None else False

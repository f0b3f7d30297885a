"""The micro cases (validation, encryption, the REST API, parsing) as one runner: medians
of repeated runs of each operation."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from bench.cases import CASES, BenchContext
from bench.integrations import CASES as INTEGRATION_CASES
from bench.runner import Result, Runner

ALL_CASES = [*CASES, *INTEGRATION_CASES]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")


def run_micro(args: argparse.Namespace, folder: Path, progress: Progress) -> Result:
    """Run the selected micro cases on SQLite (and PostgreSQL with ``--postgres``)."""
    scale = 0.2 if args.quick or args.smoke else 1.0
    table = Table(title="Workflow Integrator micro benchmarks")
    for column in ("case", "database", "operations", "median", "p95", "per second"):
        table.add_column(column, justify="right" if column != "case" else "left")
    databases = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    chosen = [case for case in ALL_CASES if not args.only or args.only in case.name
              or args.only in "micro"]
    task = progress.add_task("micro cases", total=len(chosen))
    figures: dict[str, dict[str, float]] = {}
    for case in chosen:
        for database in databases if case.uses_database else ["-"]:
            with BenchContext.open(folder, database) as context:
                samples, ops = _measure(case.prepare(context, scale))
            median = statistics.median(samples)
            p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
            table.add_row(case.name, database, str(ops), _fmt(median), _fmt(p95),
                          f"{1 / median:,.0f}" if median else "-")
            figures[f"{case.name} ({database})"] = {"median_s": median, "p95_s": p95}
        progress.advance(task)
    return Result([table] if table.row_count else [], figures)


def _measure(run: tuple[Callable[[], None], int]) -> tuple[list[float], int]:
    operation, repeat = run
    samples = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return samples, len(samples)


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


RUNNER = Runner("micro", run_micro, _options,
                selects=lambda only: any(only in case.name for case in ALL_CASES))

"""Run WI's benchmarks and print their tables: ``python -m bench [--quick] [--postgres]``.

Each benchmark measures a path users feel (validation and encryption on every save,
the REST API over real HTTP). Figures are medians of repeated runs on this machine;
compare them before and after a change, never against a fixed number.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.cases import CASES, BenchContext
from bench.delivery import run_delivery_bench
from bench.intake import run_intake_bench
from bench.integrations import CASES as INTEGRATION_CASES

#: Name ``--only`` selects the end-to-end delivery case by.
DELIVERY_CASE = "delivery end to end"


def main() -> None:
    """Parse options, run every case, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--postgres", action="store_true",
                        help="also run the API cases on a throwaway PostgreSQL")
    parser.add_argument("--only", help="run cases whose name contains this text")
    parser.add_argument("--events", type=int, default=200,
                        help="events of the end-to-end delivery case (default 200)")
    parser.add_argument("--rate", type=float, default=200,
                        help="events stored per second in its paced run (default 200)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent sends of the engine and the plain client (default 16)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    table = Table(title="Workflow Integrator benchmarks")
    for column in ("case", "database", "operations", "median", "p95", "per second"):
        table.add_column(column, justify="right" if column != "case" else "left")
    databases = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    with tempfile.TemporaryDirectory(prefix="wi-bench-") as tmp:
        for case in [*CASES, *INTEGRATION_CASES]:
            if args.only and args.only not in case.name:
                continue
            for database in databases if case.uses_database else ["-"]:
                with BenchContext.open(Path(tmp), database) as context:
                    samples, ops = _measure(case.prepare(context, scale))
                    median = statistics.median(samples)
                    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
                    table.add_row(case.name, database, str(ops), _fmt(median), _fmt(p95),
                                  f"{1 / median:,.0f}" if median else "-")
        console = Console(width=max(Console().width, 110))
        if table.row_count:
            console.print(table)
        if not args.only or args.only in "intake":
            console.print(run_intake_bench(Path(tmp) / "intake", int(2000 * scale)).table())
        if not args.only or args.only in DELIVERY_CASE:
            console.print(run_delivery_bench(Path(tmp) / "delivery", args.events, args.rate,
                                             args.concurrency))


def _measure(run: tuple[Callable[[], None], int]) -> tuple[list[float], int]:
    operation, repeat = run
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return samples, repeat


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


if __name__ == "__main__":
    main()

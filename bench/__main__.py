"""Run WI's benchmarks and print their tables: ``python -m bench [--only TEXT] [--postgres]
[--smoke] [--json PATH]``.

Each runner measures a path users feel; figures are from one run on this machine:
compare them with the plain-client figures of the same run, not with fixed numbers.
Add a case: append its ``Runner`` to ``RUNNERS``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import delivery, micro
from bench.intake import run_intake_bench
from bench.machine import machine
from bench.runner import Result, Runner


def _intake(args: argparse.Namespace, folder: Path, progress: Progress) -> Result:
    task = progress.add_task("intake", total=1)
    report = run_intake_bench(folder, 40 if args.smoke else int(2000 * (0.2 if args.quick
                                                                         else 1.0)))
    progress.advance(task)
    return Result([report.table()], report.as_dict())


RUNNERS: list[Runner] = [
    micro.RUNNER,
    Runner("intake", _intake),
    delivery.RUNNER,
]


def main() -> None:
    """Parse options, run the selected runners, print their tables, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run the runners (or micro cases) whose name "
                        "contains this text")
    parser.add_argument("--postgres", action="store_true",
                        help="also run on a throwaway PostgreSQL")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes that run in seconds (the suite runs this)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    for runner in RUNNERS:
        runner.add_options(parser)
    args = parser.parse_args()
    console = Console(width=max(Console().width, 160))
    report: dict[str, Any] = {"machine": machine(), "python": platform.python_version(),
                              "smoke": args.smoke, "runners": {}}
    with tempfile.TemporaryDirectory(prefix="wi-bench-") as tmp:
        progress = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                            console=console, transient=True)
        results = {}
        with progress:
            for runner in RUNNERS:
                if runner.selected(args.only):
                    folder = Path(tmp) / runner.name
                    folder.mkdir()
                    results[runner.name] = runner.run(args, folder, progress)
    for name, result in results.items():
        for table in result.tables:
            console.print(table)
        report["runners"][name] = result.figures
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()

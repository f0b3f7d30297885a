"""The intake benchmark at smoke size, so that it keeps running (its speed is not asserted)."""

from __future__ import annotations

from pathlib import Path

from bench.intake import CONCURRENCIES, run_intake_bench


def test_intake_bench_stores_every_event_it_sends_and_reports_each_run(tmp_path: Path) -> None:
    report = run_intake_bench(tmp_path, events=20)

    assert [(r.endpoint, r.concurrency) for r in report.runs] == [
        (endpoint, c) for c in CONCURRENCIES for endpoint in ("healthz", "intake")]
    assert all(r.failed == 0 and len(r.latencies) == 20 for r in report.runs)
    # 20 per measured run plus the warm-up's, each a new event.
    assert report.stored == 20 * len(CONCURRENCIES) + max(CONCURRENCIES)
    figures = report.as_dict()
    assert set(figures["ratios"]) == {str(c) for c in CONCURRENCIES}
    assert all(ratio > 0 for ratio in figures["ratios"].values())
    assert report.table().row_count == 2 * len(CONCURRENCIES)

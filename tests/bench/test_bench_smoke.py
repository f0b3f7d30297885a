"""``python -m bench`` at its smoke size, so the benchmark cannot rot: every delivery run
produces its row in the table and the JSON file (speed is not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DELIVERY_ROWS = [
    ("plain httpx2.AsyncClient loop", "-"),
    ("engine alone, events stored first", "sqlite"),
    ("intake→delivered, saturation", "sqlite"),
    ("intake→delivered, intake at 50/s", "sqlite"),
    ("engine alone, events stored first", "postgresql"),
    ("intake→delivered, saturation", "postgresql"),
    ("drain 100 seeded pending", "sqlite"),
    ("database statements per delivery", "sqlite"),
]


@pytest.mark.postgres
def test_the_delivery_benchmark_reports_every_run(tmp_path: Path, pg_cluster: str) -> None:
    figures = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "delivery", "--smoke", "--postgres",
         "--postgres-cluster", pg_cluster, "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(figures.read_text())
    assert report["smoke"] is True
    assert report["machine"]["cpus"] >= 1
    delivery = report["runners"]["delivery"]
    rows = delivery["rows"]
    found = [(row["run"].rstrip(" ¹²³⁴"), row["database"]) for row in rows]
    for expected in DELIVERY_ROWS:
        assert expected in found, found
    postgres = [row["workers"] for row in rows
                if row["database"] == "postgresql" and row["run"].startswith("intake")]
    assert postgres == ["1 wi worker", "2 wi workers"]
    for row in rows:
        assert row["requests"] > 0 and row["per_second"] > 0, row
    assert all(row["p99"] is not None for row in rows if row["run"].startswith("intake"))
    assert rows[0]["vs_plain"] == 1.0
    assert delivery["token_endpoint"]["token_calls"] >= 1
    assert delivery["postgresql_2_vs_1_workers"] > 0
    pending = next(row for row in rows if row["run"].startswith("drain"))
    assert pending["peak_rss_mib"] > 0
    statements = next(row for row in rows if row["run"].startswith("database statements"))
    assert statements["statements_per_delivery"] > 0
    # The same runs in the printed table.
    for name, _database in DELIVERY_ROWS:
        assert name.split(",")[0].split(" ")[0] in run.stdout

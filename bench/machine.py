"""The machine a run measured (printed with the figures: they only hold there)."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, the disk of the temporary folder, load when started."""
    model = platform.processor() or "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        memory = f"{int(first[1]) // 1024} MiB"
    disk = shutil.disk_usage(os.environ.get("TMPDIR", "/tmp"))
    return {
        "cpus": os.cpu_count(), "cpu_model": model, "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "tmp_disk_total": f"{disk.total // 2**30} GiB",
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }

"""The systemd units in deploy/ pass ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED_WI = "/opt/wi/bin/wi"


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=120, check=False)


def _as_installed_here(unit: Path, folder: Path) -> Path:
    # verify checks that ExecStart exists: point it at this checkout's wi.
    here = folder / unit.name
    here.write_text(unit.read_text().replace(INSTALLED_WI, str(Path(sys.executable).parent
                                                               / "wi")))
    return here


def test_units_exist_and_run_as_a_plain_user() -> None:
    assert [u.name for u in UNITS] == ["wi-serve.service", "wi-worker.service"]
    for unit in UNITS:
        text = unit.read_text()
        assert "\nUser=wi\n" in text and "\nEnvironmentFile=/etc/wi/wi.env\n" in text
        assert "\nEnvironment=WI_DATA_DIR=/var/lib/wi\n" in text
        assert "\nKillSignal=SIGTERM\n" in text
    assert "ExecStart=/opt/wi/bin/wi serve\n" in UNITS[0].read_text()
    assert "ExecStart=/opt/wi/bin/wi worker\n" in UNITS[1].read_text()
    assert (DEPLOY / "wi.env").is_file()


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze is not installed (dev/setup --test installs systemd)")
    result = _verify(_as_installed_here(unit, tmp_path))
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings: any line on stderr is a finding.
    assert result.stderr.strip() == "", result.stderr


def test_verify_catches_a_mistake(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze is not installed (dev/setup --test installs systemd)")
    broken = _as_installed_here(UNITS[0], tmp_path)
    broken.write_text(broken.read_text().replace("UMask=", "UMaks="))
    assert "Unknown key" in _verify(broken).stderr

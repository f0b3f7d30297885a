"""The built wheel installs with pip into a fresh virtual environment and runs."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from workflow_integrator import __version__

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)


def test_wheel_installs_in_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                 "--disable-pip-version-check", "-w", dist, ROOT)
    assert built.returncode == 0, built.stderr
    wheels = list(dist.glob("workflow_integrator-*.whl"))
    assert [w.name.split("-")[1] for w in wheels] == [__version__]
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    installed = _run(env_dir / "bin" / "python", "-m", "pip", "install", "--quiet",
                     "--disable-pip-version-check", wheels[0])
    assert installed.returncode == 0, installed.stderr
    version = _run(env_dir / "bin" / "wi", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"wi {__version__}"
    # Migrations, templates and the trigger mediator are in the wheel, not only in the tree.
    data = tmp_path / "data"
    upgraded = subprocess.run([str(env_dir / "bin" / "wi"), "db", "upgrade"], cwd=tmp_path,
                              env={"WI_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=120, check=False)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at revision" in upgraded.stdout
    listed = _run(env_dir / "bin" / "python", "-c",
                  "import importlib.resources as r; "
                  "print((r.files('workflow_integrator') / 'web/templates/base.html').is_file())")
    assert listed.stdout.strip() == "True"
    trigger = _run(env_dir / "bin" / "wi-trigger", "--help")
    assert trigger.returncode == 0, trigger.stderr

"""Token scripts: one check on every path (saved, tried unsaved, right before each run),
the script folder setting, and the whole process tree ending with the run."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.outbound.configs import server
from tests.servers.live_wi import LiveWI, serve_wi
from tests.servers.receiver import Receiver
from tests.servers.token_scripts import printing, write_token_script
from workflow_integrator.outbound import OutboundError, check_token_script, fetch_token
from workflow_integrator.outbound.token_script import run_token_script
from workflow_integrator.settings import Settings

TOKEN = "script-token-0123456789abcdef"
BASE = "/api/v1/outbound-servers"


def _bearer(path: str) -> dict[str, object]:
    return {"name": "itsm", "host": "127.0.0.1", "protocol": "http",
            "auth": {"method": "bearer", "token_script": path}}


def _orphan(pid_file: Path) -> str:
    """Python code that writes its pid to ``pid_file`` and lives for an hour."""
    return (f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
            "time.sleep(3600)")


def _ended(pid: int) -> bool:
    """Whether the process is gone; SIGKILL takes effect a moment after it is sent."""
    for _ in range(500):
        if not _alive(pid):
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def leftovers() -> Iterator[list[Path]]:
    """Pid files of processes a test started; any still running at the end are killed."""
    files: list[Path] = []
    yield files
    for pid_file in files:
        if pid_file.exists() and pid_file.read_text() and _alive(pid := int(pid_file.read_text())):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; only its exit status is left


def test_unsaved_fetch_token_refuses_a_world_writable_script(
    live_wi: LiveWI, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    path = write_token_script(tmp_path, "open.py", f"open({str(ran)!r}, 'w'); print('t')",
                              mode=0o777)
    with live_wi.client() as client:
        unsaved = client.post(f"{BASE}/fetch-token", json=_bearer(path))
        saved = client.post(BASE, json=_bearer(path))
    assert unsaved.status_code == 422, unsaved.text
    assert "writable by group or others" in unsaved.text
    assert saved.status_code == 422
    assert not ran.exists()


async def test_a_script_made_writable_after_saving_is_not_run(
    tmp_path: Path, receiver: Receiver
) -> None:
    ran = tmp_path / "ran"
    path = write_token_script(tmp_path, "later.py", f"open({str(ran)!r}, 'w'); print('t')")
    check_token_script(path)  # what saving checks
    os.chmod(path, 0o777)
    with pytest.raises(OutboundError) as caught:
        await run_token_script(path)
    assert caught.value.stage == "script"
    assert "refused to run" in caught.value.message
    assert "writable by group or others" in caught.value.message
    diagnosis = await fetch_token(server(receiver.host, auth={"method": "bearer",
                                                              "token_script": path}))
    assert diagnosis.stage == "script" and "refused to run" in diagnosis.message
    assert not ran.exists()


@pytest.mark.parametrize("program", ["/bin/sh", "/usr/bin/id", "/usr/bin/env"])
def test_system_programs_are_not_token_scripts(program: str) -> None:
    with pytest.raises(ValueError, match="one of the system's programs"):
        check_token_script(program)


def test_owner_and_folder_rules(tmp_path: Path) -> None:
    foreign = printing(tmp_path, TOKEN, name="foreign.py")
    os.chown(foreign, 65534, 65534)  # nobody: could rewrite what WI runs
    with pytest.raises(ValueError, match="belongs to user id 65534"):
        check_token_script(foreign)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # anyone could swap the file, though the file itself is 0700
    inside = printing(shared, TOKEN)
    with pytest.raises(ValueError, match=f"the folder {shared} is writable by group"):
        check_token_script(inside)
    os.chmod(shared, 0o1777)  # sticky, like /tmp: only the owner may replace the file
    check_token_script(inside)
    other = tmp_path / "other"
    other.mkdir()
    os.chown(other, 65534, 65534)
    with pytest.raises(ValueError, match="belongs to user id 65534, who could"):
        check_token_script(printing(other, TOKEN))
    link = tmp_path / "link.py"
    link.symlink_to(inside)
    os.chmod(shared, 0o777)
    with pytest.raises(ValueError, match="writable by group"):
        check_token_script(str(link))  # the folder of the target counts too


def test_token_script_dir_setting(tmp_path: Path, wi_settings: Settings) -> None:
    allowed = tmp_path / "scripts"
    allowed.mkdir()
    inside = printing(allowed, TOKEN)
    outside = printing(tmp_path, TOKEN, name="outside.py")
    settings = wi_settings.model_copy(update={"token_script_dir": allowed})
    with serve_wi(settings) as live, live.client() as client:
        refused = client.post(BASE, json=_bearer(outside))
        tried = client.post(f"{BASE}/fetch-token", json=_bearer(outside))
        accepted = client.post(BASE, json=_bearer(inside))
    assert refused.status_code == 422 and "outside the token script folder" in refused.text
    assert "WI_TOKEN_SCRIPT_DIR" in refused.text
    assert tried.status_code == 422
    assert accepted.status_code == 201, accepted.text
    with pytest.raises(ValueError, match="outside the token script folder"):
        check_token_script(outside, allowed)


async def test_a_setsid_child_holding_stdout_ends_with_the_run(
    tmp_path: Path, leftovers: list[Path]
) -> None:
    pid_file = tmp_path / "orphan.pid"
    leftovers.append(pid_file)
    # The child starts its own session (out of the script's process group), keeps
    # the script's stdout open and would live for an hour.
    body = (
        "import subprocess\n"
        f"subprocess.Popen(['/usr/bin/setsid', {sys.executable!r}, '-c', {_orphan(pid_file)!r}])\n"
        f"while not os.path.exists({str(pid_file)!r}) or not open({str(pid_file)!r}).read():\n"
        "    time.sleep(0.01)\n"
        f"print({TOKEN!r})"
    )
    path = write_token_script(tmp_path, "orphan.py", body)
    # Answered when the script ended: not after the orphan's hour, nor at the timeout.
    token = await asyncio.wait_for(run_token_script(path, timeout_seconds=600), 60)
    assert token == TOKEN
    assert _ended(int(pid_file.read_text()))


async def test_a_group_child_that_closed_stdout_ends_with_the_run(
    tmp_path: Path, leftovers: list[Path]
) -> None:
    pid_file = tmp_path / "child.pid"
    leftovers.append(pid_file)
    body = (
        "import subprocess\n"
        f"child = subprocess.Popen([{sys.executable!r}, '-c', 'import time; time.sleep(3600)'],"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        f"print({TOKEN!r})"
    )
    path = write_token_script(tmp_path, "group.py", body)
    assert await run_token_script(path, timeout_seconds=60) == TOKEN
    assert _ended(int(pid_file.read_text()))


async def test_timeout_ends_the_setsid_child_too(tmp_path: Path, leftovers: list[Path]) -> None:
    pid_file = tmp_path / "orphan.pid"
    leftovers.append(pid_file)
    body = (
        "import subprocess\n"
        f"subprocess.Popen(['/usr/bin/setsid', {sys.executable!r}, '-c', {_orphan(pid_file)!r}])\n"
        "time.sleep(3600)"
    )
    path = write_token_script(tmp_path, "stuck.py", body)
    with pytest.raises(OutboundError, match="did not finish within 2 s"):
        await asyncio.wait_for(run_token_script(path, timeout_seconds=2), 60)
    assert _ended(int(pid_file.read_text()))

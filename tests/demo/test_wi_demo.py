"""``wi demo`` as a user runs it: a subprocess on free ports, read while it runs, then
stopped by Ctrl-C (SIGINT to its process group, as a terminal sends it) or SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx2
import pytest

from tests.foundation.wi_cli import WI, wi_env
from tests.servers.live_wi import free_port
from tests.web.conftest import browser_client, sign_in


class Output:
    """The demo's stdout, read line by line in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, marker: str, process: subprocess.Popen[str], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while marker not in self.text:
            assert process.poll() is None, f"wi demo exited {process.returncode}:\n{self.text}"
            assert time.monotonic() < deadline, f"no {marker!r} in:\n{self.text}"
            time.sleep(0.1)

    def value(self, label: str) -> str:
        """The first word after ``label`` in the "Where to look" part."""
        where = self.text.partition("Where to look")[2]
        found = re.search(rf"^\s*{label}\s+(\S+)", where, re.MULTILINE)
        assert found, f"no {label!r} line in:\n{self.text}"
        return found.group(1)

    def join(self) -> None:
        self._thread.join(timeout=10)


def in_group(group: int) -> list[int]:
    """Processes still in the process group ``group`` (the demo and what it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_demo_moves_tickets_writes_back_and_stops_everything(tmp_path: Path, stop: str) -> None:
    ports = {"--port": free_port(), "--sim-port": free_port(), "--itsm-port": free_port()}
    data = tmp_path / "demo-data"
    process = subprocess.Popen(
        [WI, "demo", "--data", str(data), *(str(x) for p in ports.items() for x in p)],
        cwd=tmp_path, env=wi_env(tmp_path / "unused"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True,  # its own process group, as a shell gives a job
    )
    output = Output(process)
    try:
        output.wait_for("ready:", process, 240)
        wi_url = output.value("web UI").removesuffix("/sign-in")
        assert wi_url == f"http://127.0.0.1:{ports['--port']}"
        token = Path(output.value("API token")).read_text().strip()
        itsm_url = output.value("ITSM")
        ca_file = re.search(r"CA certificate is (\S+)\)", output.text)
        assert itsm_url.startswith("https://") and ca_file

        # The ITSM, over HTTPS trusted by the CA the demo printed, got the incidents.
        trusted = ssl.create_default_context(cafile=ca_file.group(1))
        received = httpx2.get(itsm_url, verify=trusted, trust_env=False).json()
        calls = [(r["method"], r["path"]) for r in received["requests"]]
        assert calls.count(("POST", "/api/now/table/incident")) == 3
        numbers = {i["number"] for i in received["incidents"]}
        assert len(numbers) == 3
        resolved = [i for i in received["incidents"] if i["state"] == "Resolved"]
        assert len(resolved) == 1
        assert received["token_requests"] == 1

        # WI delivered each request and wrote every incident number back into its ticket.
        with httpx2.Client(base_url=wi_url, trust_env=False,
                           headers={"Authorization": f"Bearer {token}"}) as api:
            deliveries = api.get("/api/v1/deliveries").json()["items"]
            assert sorted(d["state"] for d in deliveries) == ["delivered"] * 4
            tickets = {d["ticket_id"] for d in deliveries}
            assert len(tickets) == 3
            sim_url = output.value("SecureChange")
            login = re.search(r"SecureChange\s+\S+\s+user (\S+)\s+password (\S+)", output.text)
            assert login
            written = set()
            for ticket_id in tickets:
                ticket = httpx2.get(f"{sim_url}/sim/api/tickets/{ticket_id}",
                                    auth=(login.group(1), login.group(2)),
                                    trust_env=False).text
                written |= {n for n in numbers if f'"{n}"' in ticket}
            assert written == numbers
            # The sign-in it printed opens the web UI.
            user = re.search(r"web UI\s+\S+\s+user (\S+)\s+password (\S+)", output.text)
            assert user
            with browser_client(wi_url) as browser:
                signed = sign_in(browser, user.group(1), user.group(2))
                assert signed.status_code == 303, signed.text
                page = browser.get(f"/tickets/{min(tickets)}")
                assert page.status_code == 200 and "open incident" in page.text
    finally:
        if stop == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output.join()
    assert code == 0, output.text
    assert "stopped" in output.text
    assert in_group(process.pid) == []
    assert [p for p in ports.values() if listening(p)] == []


def test_a_busy_port_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sim_port, itsm_port = free_port(), free_port()
        done = subprocess.run(
            [WI, "demo", "--port", str(port), "--sim-port", str(sim_port),
             "--itsm-port", str(itsm_port)],
            cwd=tmp_path, env=wi_env(tmp_path / "unused"), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120, check=False,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"WI: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port" in done.stderr
    assert not listening(sim_port) and not listening(itsm_port)


def test_a_data_folder_in_use_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "wi.db").write_bytes(b"")
    done = subprocess.run([WI, "demo", "--data", str(data)], cwd=tmp_path,
                          env=wi_env(tmp_path / "unused"), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert done.returncode == 2
    assert f"--data: {data} is not an empty folder" in done.stderr

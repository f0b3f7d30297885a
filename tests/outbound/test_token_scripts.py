"""Bearer token scripts, run for real from a temporary folder."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.outbound.configs import STATIC_TOKEN, leased, server
from tests.servers.receiver import Receiver
from tests.servers.token_scripts import counting, printing, runs, write_token_script
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.outbound import (
    MemoryTokenStore,
    OutboundError,
    TokenManager,
    TransportPool,
    check_token_script,
    fetch_token,
)
from workflow_integrator.outbound.token_script import run_token_script

SCRIPT_TOKEN = "script-token-0123456789abcdef"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def pool(clock: ManualClock) -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore(), clock))
    yield pool
    await pool.aclose()


def bearer_script(path: str, **extra: object) -> dict[str, object]:
    return {"method": "bearer", "token_script": path, **extra}


async def test_good_script_token_is_sent(
    pool: TransportPool, receiver: Receiver, tmp_path: Path
) -> None:
    path = printing(tmp_path, SCRIPT_TOKEN)
    check_token_script(path)
    await (await leased(pool, 1, 1, server(receiver.host, auth=bearer_script(path)))).send(
        "GET", "/"
    )
    assert receiver.last().headers["authorization"] == f"Bearer {SCRIPT_TOKEN}"


async def test_script_sees_a_clean_environment_and_no_stdin(tmp_path: Path) -> None:
    os.environ["WI_TEST_LEAK"] = "should-not-be-seen"
    try:
        path = write_token_script(
            tmp_path,
            "env.py",
            "data = sys.stdin.read()\n"
            "assert data == '', data\n"
            "assert 'WI_TEST_LEAK' not in os.environ, 'leaked'\n"
            "print('env-ok-' + ','.join(sorted(os.environ)))",
        )
        token = await run_token_script(path)
    finally:
        del os.environ["WI_TEST_LEAK"]
    assert token.startswith("env-ok-")
    assert "WI_TEST_LEAK" not in token


async def test_slow_script_times_out(tmp_path: Path) -> None:
    path = write_token_script(tmp_path, "slow.py", "time.sleep(30)\nprint('late')")
    with pytest.raises(OutboundError) as caught:
        await run_token_script(path, timeout_seconds=0.5)
    assert caught.value.stage == "script"
    assert "did not finish within 0.5 s" in caught.value.message


async def test_failing_script_quotes_stderr_with_secrets_masked(tmp_path: Path) -> None:
    secret = "s3cr3t-value-that-must-not-show-1234567890"
    path = write_token_script(
        tmp_path,
        "fail.py",
        f"print('login failed: password={secret}', file=sys.stderr)\n"
        f"print('raw {secret}', file=sys.stderr)\n"
        "sys.exit(3)",
    )
    with pytest.raises(OutboundError) as caught:
        await run_token_script(path)
    message = caught.value.message
    assert caught.value.stage == "script"
    assert "exited with status 3" in message
    assert "login failed" in message
    assert secret not in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("print('line-one-token')\nprint('line-two')", "printed 2 lines"),
        ("print('   ')", "printed nothing"),
        ("print('has a blank')", "blanks or control characters"),
        ("sys.stdout.write('x' * 20000)", "more than 16 KiB"),
    ],
)
async def test_strict_output_rules(tmp_path: Path, body: str, expected: str) -> None:
    path = write_token_script(tmp_path, "bad.py", body)
    with pytest.raises(OutboundError) as caught:
        await run_token_script(path)
    assert expected in caught.value.message
    assert "line-one-token" not in caught.value.message


def test_path_checks_on_save(tmp_path: Path) -> None:
    good = printing(tmp_path, SCRIPT_TOKEN)
    check_token_script(good)
    writable = printing(tmp_path, SCRIPT_TOKEN, name="group-writable.py")
    os.chmod(writable, 0o770)
    with pytest.raises(ValueError, match="writable by group or others"):
        check_token_script(writable)
    not_exec = printing(tmp_path, SCRIPT_TOKEN, name="plain.py")
    os.chmod(not_exec, 0o600)
    with pytest.raises(ValueError, match="not executable"):
        check_token_script(not_exec)
    with pytest.raises(ValueError, match="does not exist"):
        check_token_script(str(tmp_path / "missing.sh"))
    with pytest.raises(ValueError, match="full path"):
        check_token_script("token_script.sh")
    with pytest.raises(ValueError, match="not a regular file"):
        check_token_script(str(tmp_path))


async def test_token_wins_over_script(
    pool: TransportPool, receiver: Receiver, tmp_path: Path
) -> None:
    path = counting(tmp_path, "from-script")
    config = server(receiver.host, auth=bearer_script(path, token=STATIC_TOKEN))
    await (await leased(pool, 1, 1, config)).send("GET", "/")
    assert receiver.last().headers["authorization"] == f"Bearer {STATIC_TOKEN}"
    assert runs(tmp_path) == 0
    diagnosis = await fetch_token(config)
    assert diagnosis.ok and runs(tmp_path) == 0
    assert "token script is not used" in diagnosis.notes[0]


async def test_script_runs_once_then_again_on_401(
    pool: TransportPool, receiver: Receiver, tmp_path: Path
) -> None:
    path = counting(tmp_path, "scripted-token-value")
    transport = await leased(pool, 1, 1, server(receiver.host, auth=bearer_script(path)))
    await transport.send("GET", "/a")
    await transport.send("GET", "/b")
    assert runs(tmp_path) == 1
    receiver.authorize = lambda header: header == "Bearer scripted-token-value-2"
    assert (await transport.send("GET", "/c")).status_code == 200
    assert runs(tmp_path) == 2
    assert [r.headers["authorization"] for r in receiver.requests[-2:]] == [
        "Bearer scripted-token-value-1",
        "Bearer scripted-token-value-2",
    ]


async def test_script_runs_again_after_its_ttl(
    pool: TransportPool, receiver: Receiver, tmp_path: Path, clock: ManualClock
) -> None:
    path = counting(tmp_path, "ttl-token-value")
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=bearer_script(path, token_script_ttl_seconds=1))
    )
    await transport.send("GET", "/a")
    clock.advance(0.9)
    await transport.send("GET", "/b")
    assert runs(tmp_path) == 1
    clock.advance(0.2)
    await transport.send("GET", "/c")
    assert runs(tmp_path) == 2


async def test_failing_script_in_a_delivery_and_in_fetch_token(
    pool: TransportPool, receiver: Receiver, tmp_path: Path
) -> None:
    path = write_token_script(
        tmp_path, "broken.py", "print('no vault', file=sys.stderr); sys.exit(1)"
    )
    config = server(receiver.host, auth=bearer_script(path))
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, config)).send("GET", "/")
    assert caught.value.stage == "script"
    assert receiver.requests == []
    diagnosis = await fetch_token(config)
    assert diagnosis.stage == "script" and "no vault" in diagnosis.message

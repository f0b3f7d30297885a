"""Bearer token scripts: run without a shell, read the token, and nothing else, from stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat

from workflow_integrator.domain.redaction import redact_text
from workflow_integrator.outbound.errors import OutboundError

MAX_OUTPUT_BYTES = 16 * 1024
"""Largest standard output accepted from a token script."""

_STDERR_QUOTE_CHARS = 400
_CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"


class TokenScriptError(OutboundError):
    """A token script failed; the message quotes its stderr with secrets masked."""

    def __init__(self, message: str) -> None:
        super().__init__("script", message)


def check_token_script(path: str) -> None:
    """Check a token script path before it is saved; raise ``ValueError`` saying what to fix."""
    if not path or not os.path.isabs(path):
        raise ValueError(
            f"token_script: '{path}' is not a full path; give the absolute path, "
            "e.g. /var/tmp/token_script.sh"
        )
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ValueError(
            f"token_script: the token script {path} does not exist on the WI host"
        ) from None
    except OSError as exc:
        raise ValueError(
            f"token_script: the token script {path} cannot be read ({exc.strerror})"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"token_script: the token script {path} is not a regular file")
    if not os.access(path, os.X_OK):
        raise ValueError(
            f"token_script: the token script {path} is not executable; run chmod 700 on it"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ValueError(
            f"token_script: the token script {path} is writable by group or others, so anyone "
            "could change what WI runs; run chmod go-w on it"
        )


def _quote_stderr(stderr: bytes, known: list[str]) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    if not text:
        return "(no stderr)"
    masked = redact_text(text, known)
    if len(masked) > _STDERR_QUOTE_CHARS:
        masked = masked[:_STDERR_QUOTE_CHARS] + " …(cut)"
    return f"stderr: {masked!r}"


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> bytes:
    # Drain everything (so the script never blocks on a full pipe) but keep only cap+1 bytes.
    data = bytearray()
    if stream is None:
        return b""
    while chunk := await stream.read(65536):
        if len(data) <= cap:
            data += chunk[: cap + 1 - len(data)]
    return bytes(data)


def _clean_environment() -> dict[str, str]:
    env = {"PATH": _CLEAN_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for name in ("HOME", "TMPDIR", "TZ"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_token_script(path: str, timeout_seconds: float = 30) -> str:
    """Run the script and return the token it printed, or raise ``TokenScriptError``.

    No shell, no standard input, a small clean environment, its own process group
    (killed as a whole on timeout). The output must be one line of at most 16 KiB.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_clean_environment(),
            cwd="/",
            start_new_session=True,
        )
    except OSError as exc:
        raise TokenScriptError(
            f"the token script {path} could not be started ({exc.strerror}); "
            "check the path, the permissions and the #! line"
        ) from None
    reading = asyncio.gather(
        _read_capped(process.stdout, MAX_OUTPUT_BYTES),
        _read_capped(process.stderr, 64 * 1024),
        process.wait(),
    )
    try:
        stdout, stderr, code = await asyncio.wait_for(reading, timeout_seconds)
    except TimeoutError:
        _kill_group(process)
        await process.wait()
        raise TokenScriptError(
            f"the token script {path} did not finish within {timeout_seconds:g} s and was "
            "stopped; make it faster or raise token_script_timeout_seconds"
        ) from None
    except asyncio.CancelledError:
        _kill_group(process)
        raise
    candidate = stdout.decode("utf-8", errors="replace").strip()
    known = [line.strip() for line in candidate.splitlines() if line.strip()]
    if code != 0:
        raise TokenScriptError(
            f"the token script {path} exited with status {code}; {_quote_stderr(stderr, known)}"
        )
    if len(stdout) > MAX_OUTPUT_BYTES:
        raise TokenScriptError(
            f"the token script {path} printed more than {MAX_OUTPUT_BYTES // 1024} KiB; "
            "it must print the token only"
        )
    try:
        token = stdout.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TokenScriptError(
            f"the token script {path} printed bytes that are not UTF-8"
        ) from None
    if not token:
        raise TokenScriptError(
            f"the token script {path} printed nothing on standard output; it must print "
            f"the token; {_quote_stderr(stderr, known)}"
        )
    if "\n" in token or "\r" in token:
        raise TokenScriptError(
            f"the token script {path} printed {len(token.splitlines())} lines; it must print "
            "the token and only the token (send messages to stderr)"
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
        raise TokenScriptError(
            f"the token script {path} printed a value with blanks or control characters; "
            "a bearer token is a single word"
        )
    return token

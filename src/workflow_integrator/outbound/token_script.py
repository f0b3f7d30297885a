"""Bearer token scripts: run without a shell, read the token, and nothing else, from stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat

from workflow_integrator.domain.headers import token_flaw
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


#: Folders of the system's own programs: a token script is a file written for WI, so a
#: path here (``/bin/sh``, ``/usr/bin/id``) is refused however its permissions look.
SYSTEM_PROGRAM_DIRS: tuple[str, ...] = (
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr/bin", "/usr/sbin",
    "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/local/bin",
    "/usr/local/sbin", "/usr/share", "/proc", "/sys", "/dev", "/boot",
)


def check_token_script(path: str, script_dir: str | os.PathLike[str] | None = None) -> None:
    """The one check of a token script path: before it is saved, tried or run.

    Raises ``ValueError`` saying what to fix. The file must be a regular executable
    file owned by root or by the user WI runs as, writable by nobody else, in folders
    that only root or that user can change (a sticky folder such as /tmp counts as
    safe), outside the system's program folders, and inside ``script_dir`` when set.
    """
    if not path or not os.path.isabs(path):
        raise ValueError(
            f"token_script: '{path}' is not a full path; give the absolute path, "
            "e.g. /var/tmp/token_script.sh"
        )
    try:
        info = os.stat(path)
        real = os.path.realpath(path, strict=True)
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
    if script_dir is not None:
        folder = os.path.realpath(script_dir)
        if os.path.commonpath([folder, real]) != folder:
            raise ValueError(
                f"token_script: {path} is outside the token script folder {folder} "
                "(WI_TOKEN_SCRIPT_DIR); put the script there"
            )
    for system in SYSTEM_PROGRAM_DIRS:
        if os.path.commonpath([system, real]) == system:
            raise ValueError(
                f"token_script: {path} is one of the system's programs ({system}); "
                "a token script must be a file written for WI, e.g. in /etc/wi"
            )
    if not os.access(path, os.X_OK):
        raise ValueError(
            f"token_script: the token script {path} is not executable; run chmod 700 on it"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ValueError(
            f"token_script: the token script {path} is writable by group or others, so anyone "
            "could change what WI runs; run chmod go-w on it"
        )
    if info.st_uid not in _trusted_owners():
        raise ValueError(
            f"token_script: the token script {path} belongs to user id {info.st_uid}; it "
            "must belong to root or to the user WI runs as (chown it)"
        )
    for folder in _folders(os.path.dirname(path)) | _folders(os.path.dirname(real)):
        _check_folder(path, folder)


def _trusted_owners() -> set[int]:
    return {0, os.geteuid()}


def _folders(start: str) -> set[str]:
    folders = set()
    current = start
    while True:
        folders.add(current)
        parent = os.path.dirname(current)
        if parent == current:
            return folders
        current = parent


def _check_folder(path: str, folder: str) -> None:
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise ValueError(
            f"token_script: the folder {folder} of {path} cannot be read ({exc.strerror})"
        ) from None
    # A sticky folder (like /tmp) lets nobody else rename or replace files they do not own.
    open_to_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if open_to_others and not info.st_mode & stat.S_ISVTX:
        raise ValueError(
            f"token_script: the folder {folder} is writable by group or others, so anyone "
            f"could replace {path}; run chmod go-w on it or move the script"
        )
    if info.st_uid not in _trusted_owners():
        raise ValueError(
            f"token_script: the folder {folder} belongs to user id {info.st_uid}, who could "
            f"replace {path}; it must belong to root or to the user WI runs as"
        )


def _quote_stderr(stderr: bytes, known: list[str]) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    if not text:
        return "(no stderr)"
    masked = redact_text(text, known)
    if len(masked) > _STDERR_QUOTE_CHARS:
        masked = masked[:_STDERR_QUOTE_CHARS] + " …(cut)"
    return f"stderr: {masked!r}"


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> bytes:
    # Drain everything (so the script never blocks on a full pipe) but keep only cap+1 bytes.
    data = bytearray()
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


def _end_process_tree(group: int, pipes: frozenset[int]) -> None:
    """Kill the script's process group and every process still holding its output pipes.

    A child that left the group (``setsid``) escapes ``killpg`` but, as long as it
    holds the script's stdout or stderr, ``/proc`` shows it with those pipes open.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    for pid in _pipe_holders(pipes):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _pipe_holders(pipes: frozenset[int]) -> set[int]:
    wanted = {f"pipe:[{inode}]" for inode in pipes}
    me = os.getpid()
    holders: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return holders  # not Linux: the process group is all that can be ended
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}") in wanted for fd in fds):
                holders.add(int(entry))
        except OSError:
            continue  # gone meanwhile, or another user's process
    return holders


async def _pipe_reader(read_fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    # The transport owns the file from here on and closes it.
    pipe = open(read_fd, "rb", buffering=0)  # noqa: SIM115
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), pipe
    )
    return reader, transport


#: How long output is drained after the script ended and its leftovers were killed.
_DRAIN_SECONDS = 2.0


async def run_token_script(
    path: str, timeout_seconds: float = 30, *, script_dir: str | None = None
) -> str:
    """Run the script and return the token it printed, or raise ``TokenScriptError``.

    The path is checked again right before the run (:func:`check_token_script`). No
    shell, no standard input, a small clean environment, its own session; when it
    ends (or times out) every process it left behind in its group or holding its
    output is killed, so the whole process tree ends with the run. The output must
    be one line of at most 16 KiB.
    """
    try:
        check_token_script(path, script_dir)
    except ValueError as exc:
        raise TokenScriptError(
            f"refused to run: {str(exc).removeprefix('token_script: ')}"
        ) from None
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    pipes = frozenset({os.fstat(out_read).st_ino, os.fstat(err_read).st_ino})
    try:
        process = await asyncio.create_subprocess_exec(
            path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out_write,
            stderr=err_write,
            env=_clean_environment(),
            cwd="/",
            start_new_session=True,
        )
    except OSError as exc:
        os.close(out_read)
        os.close(err_read)
        raise TokenScriptError(
            f"the token script {path} could not be started ({exc.strerror}); "
            "check the path, the permissions and the #! line"
        ) from None
    finally:
        os.close(out_write)
        os.close(err_write)
    out_stream, out_transport = await _pipe_reader(out_read)
    err_stream, err_transport = await _pipe_reader(err_read)
    reading = [
        asyncio.ensure_future(_read_capped(out_stream, MAX_OUTPUT_BYTES)),
        asyncio.ensure_future(_read_capped(err_stream, 64 * 1024)),
    ]
    try:
        code = await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        code = None
    finally:
        # Whatever the script left behind ends with the run, whether it finished or not.
        await asyncio.shield(asyncio.to_thread(_end_process_tree, process.pid, pipes))
        await asyncio.wait(reading, timeout=_DRAIN_SECONDS)
        outputs = [t.result() if t.done() and not t.cancelled() else b"" for t in reading]
        for task in reading:
            task.cancel()
        out_transport.close()
        err_transport.close()
    if code is None:
        await process.wait()
        raise TokenScriptError(
            f"the token script {path} did not finish within {timeout_seconds:g} s and was "
            "stopped; make it faster or raise token_script_timeout_seconds"
        )
    stdout, stderr = outputs
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
    flaw = token_flaw(token)  # the one rule, shared with a static token
    if flaw is not None:
        raise TokenScriptError(
            f"the token script {path} printed a value that cannot be a bearer token ({flaw}); "
            "a bearer token is a single word"
        )
    return token

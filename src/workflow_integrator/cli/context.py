"""What every command needs: the services, output helpers and error handling."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from workflow_integrator.app import Services, build_services
from workflow_integrator.services.audit import cli_actor, set_actor
from workflow_integrator.services.errors import InUse, InvalidInput, ServiceError
from workflow_integrator.settings import Settings
from workflow_integrator.store.secretbox import SecretKeyError

console = Console()
errors = Console(stderr=True)

EXIT_BAD_INPUT = 2


T = TypeVar("T")


@cache
def services() -> Services:
    """The services on the configured database (migrations applied)."""
    set_actor(cli_actor())  # changes made by this command are the OS user's (audit log)
    return build_services(Settings())


def run_async(action: Callable[[Services], Awaitable[T]]) -> T:
    """Run an async service call in its own event loop, closing the network clients after."""
    found = services()

    async def main() -> T:
        try:
            return await action(found)
        finally:
            await found.aclose()

    return asyncio.run(main())


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print an error to stderr and exit."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def handled() -> Iterator[None]:
    """Turn service errors into clear messages and exit code 2."""
    try:
        yield
    except InvalidInput as exc:
        for entry in exc.errors:
            where = ".".join(str(p) for p in entry["loc"]) or "input"
            errors.print(
                f"[bold red]error:[/] {where}: {entry['msg']}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except InUse as exc:
        fail(exc.message)
    except ServiceError as exc:
        fail(str(exc))
    except SecretKeyError as exc:
        fail(str(exc), code=1)


def print_json(value: Any) -> None:
    """Machine output on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")

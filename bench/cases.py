"""The benchmark cases. Add a case: a name and a ``prepare`` returning (operation, repeat)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.live_wi import LiveWI, serve_wi
from tests.servers.postgres import create_database, postgres_cluster

from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.settings import Settings
from workflow_integrator.store.secretbox import SecretBox, new_key

Operation = tuple[Callable[[], None], int]


@dataclass
class BenchContext:
    """What a case may use: a live WI on the chosen database (started lazily)."""

    folder: Path
    database: str
    _live: LiveWI | None = None
    _stack: Any = None

    @classmethod
    @contextmanager
    def open(cls, root: Path, database: str) -> Iterator[BenchContext]:
        """A context for one case run; tears down what the case started."""
        context = cls(root / f"{database}-{next(_counter)}", database)
        try:
            yield context
        finally:
            if context._stack is not None:
                context._stack.close()

    def live(self) -> LiveWI:
        """WI served over HTTP on this context's database."""
        if self._live is None:
            from contextlib import ExitStack

            self._stack = ExitStack()
            url = None
            if self.database == "postgresql":
                url = create_database(self._stack.enter_context(postgres_cluster()))
            settings = Settings(
                _env_file=None,
                data_dir=self.folder,
                database_url=url,
            )
            self._live = self._stack.enter_context(serve_wi(settings))
        return self._live


_counter = itertools.count()


@dataclass
class Case:
    """One benchmark."""

    name: str
    prepare: Callable[[BenchContext, float], Operation]
    uses_database: bool = False


def _server_body(index: int) -> dict[str, Any]:
    return {
        "name": f"server-{index:05d}",
        "host": f"itsm{index}.example.com:8443/api",
        "headers": "Content-Type: application/json, Accept: text/html, application/json",
        "proxy": "http://proxyuser:proxypass@10.20.0.9:3128",
        "auth": {"method": "oauth2", "grant_type": "password",
                 "token_url": "https://itsm.example.com/oauth_token.do", "username": "wi",
                 "password": "pw", "client_id": "cid", "client_secret": "cs", "scope": "all"},
    }


def _validate(_: BenchContext, scale: float) -> Operation:
    body = _server_body(1)

    def validate() -> None:
        OutboundServer.model_validate(body)

    return validate, int(2000 * scale)


def _secretbox(_: BenchContext, scale: float) -> Operation:
    box = SecretBox([new_key(), new_key()])
    secret = "s" * 64

    def roundtrip() -> None:
        assert box.decrypt(box.encrypt(secret, "bench"), "bench") == secret

    return roundtrip, int(5000 * scale)


def _api_create(context: BenchContext, scale: float) -> Operation:
    live = context.live()
    client = live.client()
    counter = itertools.count()

    def create() -> None:
        response = client.post("/api/v1/outbound-servers", json=_server_body(next(counter)))
        assert response.status_code == 201, response.text

    return create, int(300 * scale)


def _api_list(context: BenchContext, scale: float) -> Operation:
    live = context.live()
    client = live.client()
    for index in range(100):
        client.post("/api/v1/outbound-servers", json=_server_body(index)).raise_for_status()

    def list_all() -> None:
        response = client.get("/api/v1/outbound-servers")
        assert len(response.json()) == 100

    return list_all, int(100 * scale)


def _api_read(context: BenchContext, scale: float) -> Operation:
    live = context.live()
    client = live.client()
    client.post("/api/v1/outbound-servers", json=_server_body(1)).raise_for_status()

    def read() -> None:
        client.get("/api/v1/outbound-servers/server-00001").raise_for_status()

    return read, int(500 * scale)


CASES = [
    Case("validate server config", _validate),
    Case("secret encrypt+decrypt", _secretbox),
    Case("API create server", _api_create, uses_database=True),
    Case("API read server", _api_read, uses_database=True),
    Case("API list 100 servers", _api_list, uses_database=True),
]

# SecureChange cases live beside their topic; imported last because they use Case.
from bench.securechange import SECURECHANGE_CASES  # noqa: E402

CASES.extend(SECURECHANGE_CASES)

"""Outbound servers: create, read, change, rename, delete, import and export.

The one place where the rules of the contract meet the store: secrets are encrypted
here, masked on the way out, and kept when a write sends the mask or leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from copy import deepcopy
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.headers import HeaderError, parse_headers
from workflow_integrator.domain.merge_patch import merge_patch
from workflow_integrator.domain.outbound_server import (
    SECRET_PATHS,
    OutboundServer,
    ProxySetting,
    combination_problems,
    normalise_newlines,
)
from workflow_integrator.domain.redaction import MASK, keep_masked_headers
from workflow_integrator.outbound.token_script import check_token_script
from workflow_integrator.services import audit
from workflow_integrator.services.errors import Conflict, InUse, InvalidInput, NotFound, Stale
from workflow_integrator.services.transactions import write_transaction
from workflow_integrator.store import servers as server_store
from workflow_integrator.store.secretbox import (
    SecretBox,
    WrongPassphrase,
    open_sealed,
    place,
    seal,
)
from workflow_integrator.store.servers import OutboundServerRow

UsageCheck = Callable[[Session, int], list[str]]
"""Returns the names of whatever uses server ``id`` (integrations, points...)."""
ChangeHook = Callable[[Session, int], None]
"""Called in the saving transaction when a server's auth, TLS or proxy settings change."""

SecretsMode = Literal["mask", "encrypt"]


class ServerView(BaseModel):
    """An outbound server as the API and UI show it: secrets masked."""

    name: str
    host: str
    protocol: str
    base_url: str
    headers: str
    secret_headers: list[str]
    verify_certificate: str
    certificate: str | None
    certificate_info: list[dict[str, str]]
    proxy: str | None
    timeout_seconds: float
    client_certificate: str | None
    client_key: str | None
    max_concurrency: int
    enabled: bool
    auth: dict[str, Any]
    state: str
    state_reason: str | None
    warnings: list[str]
    revision: int
    created_at: datetime
    updated_at: datetime


class ImportReport(BaseModel):
    """What an import did (or, with dry run, would do)."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    dry_run: bool


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


_MISSING = object()


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def document(
    server: OutboundServer, *, secrets: Literal["mask", "clear"] = "mask"
) -> dict[str, Any]:
    """The server in the API's input shape (what PUT accepts and export writes)."""
    doc = server.model_dump(mode="python", exclude={"proxy"})
    for path in SECRET_PATHS:
        if path[0] == "proxy":
            continue
        value = _get(doc, path)
        if value is _MISSING:
            continue
        if secrets == "mask":
            _set(doc, path, MASK if value is not None else None)
        else:
            _set(doc, path, _plain(value))
    if secrets == "mask":
        doc["headers"] = server.masked_headers
    if server.proxy is None:
        doc["proxy"] = None
    else:
        doc["proxy"] = server.proxy.display() if secrets == "mask" else server.proxy.full_url()
    return doc


class OutboundServerService:
    """Every operation on outbound servers, shared by the API, the UI and the CLI."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        secretbox: SecretBox,
        token_script_dir: Path | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = secretbox
        self._token_script_dir = token_script_dir
        self.usage_checks: list[UsageCheck] = []
        self.change_hooks: list[ChangeHook] = []

    # -- reading -------------------------------------------------------------------

    def list_all(self) -> list[ServerView]:
        """All servers, by name."""
        with self._sessions() as session:
            return [self._view(row) for row in server_store.list_rows(session)]

    def get(self, name: str) -> ServerView:
        """One server, secrets masked."""
        with self._sessions() as session:
            return self._view(self._row(session, name))

    def get_config(self, name: str) -> OutboundServer:
        """The full configuration with secrets decrypted: for transports only."""
        with self._sessions() as session:
            return self._load(self._row(session, name))

    def get_config_by_id(self, server_id: int) -> tuple[OutboundServerRow, OutboundServer]:
        """Row (id, state, revision) and decrypted configuration of server ``server_id``."""
        with self._sessions() as session:
            row = session.get(OutboundServerRow, server_id)
            if row is None:
                raise NotFound(f"no outbound server with id {server_id}")
            return row, self._load(row)

    def names(self) -> list[str]:
        """The names of all servers (for reference checks elsewhere)."""
        with self._sessions() as session:
            return [row.name for row in server_store.list_rows(session)]

    def id_of(self, name: str) -> int:
        """The id behind a server name; references use ids so renames keep them."""
        with self._sessions() as session:
            return self._row(session, name).id

    # -- writing -------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> ServerView:
        """Create a server from an API-shaped document."""
        server = self._validate(body, stored=None)
        with self._transaction() as session:
            if server_store.find_by_name(session, server.name):
                raise Conflict(f"an outbound server named '{server.name}' already exists")
            row = OutboundServerRow(name=server.name)
            self._store(session, row, server)
            session.add(row)
            session.flush()
            _audit(session, "create", server.name, None, server)
            return self._view(row)

    def replace(
        self, name: str, body: dict[str, Any], *, expected_revision: int | None = None
    ) -> ServerView:
        """PUT: replace the configuration; masked or omitted secrets are kept.

        With ``expected_revision`` the change is refused (:class:`Stale`) when the server
        has moved on since the caller read it.
        """
        with self._transaction() as session:
            row = self._locked_row(session, name, expected_revision)
            stored = self._load(row)
            body = dict(body)
            self._check_name_unchanged(body, name)
            body["name"] = name
            server = self._validate(body, stored=stored)
            self._apply(session, row, stored, server)
            return self._view(row)

    def update(
        self, name: str, patch: dict[str, Any], *, expected_revision: int | None = None
    ) -> ServerView:
        """PATCH (JSON merge patch, RFC 7396) over the current, masked configuration.

        Read and write happen in one transaction on a locked row, so concurrent patches
        apply one after the other; ``expected_revision`` works as in :meth:`replace`.
        """
        with self._transaction() as session:
            row = self._locked_row(session, name, expected_revision)
            stored = self._load(row)
            self._check_name_unchanged(patch, name)
            base = document(stored)
            auth_patch = patch.get("auth")
            if isinstance(auth_patch, dict) and _switches_auth(auth_patch, stored):
                # A new method or grant starts from its own fields; the old ones do not fit it.
                base["auth"] = {"method": stored.auth.method}
            merged = merge_patch(base, patch)
            server = self._validate(merged, stored=stored)
            self._apply(session, row, stored, server)
            return self._view(row)

    def rename(self, name: str, new_name: str) -> ServerView:
        """Rename a server; integrations refer to it by id and keep working."""
        with self._transaction() as session:
            row = self._locked_row(session, name, None)
            stored = self._load(row)
            renamed = self._validate({**document(stored), "name": new_name}, stored=stored)
            if new_name != name and server_store.find_by_name(session, new_name):
                raise Conflict(f"an outbound server named '{new_name}' already exists")
            row.name = renamed.name
            self._store(session, row, renamed)
            _audit(session, "rename", name, stored, renamed)
            return self._view(row)

    def credentials_work(self, name: str) -> None:
        """A fetch or request with the saved settings succeeded: leave needs_credentials."""
        with self._transaction() as session:
            row = self._row(session, name)
            if row.state == "needs_credentials":
                server_store.set_state(session, row.id, "ok", None)

    def delete(self, name: str) -> None:
        """Delete a server that no integration uses."""
        with self._transaction() as session:
            row = self._row(session, name)
            users = [user for check in self.usage_checks for user in check(session, row.id)]
            if users:
                raise InUse(
                    f"outbound server '{name}' is used by {', '.join(users)}; "
                    "point them at another server first",
                    users,
                )
            _audit(session, "delete", name, self._load(row), None)
            session.delete(row)

    def resolve_unsaved(self, body: dict[str, Any], base: str | None = None) -> OutboundServer:
        """Validate the dialog's unsaved contents; masked secrets come from ``base``."""
        stored = self.get_config(base) if base else None
        body = dict(body)
        body.setdefault("name", base or "unsaved")
        return self._validate(body, stored=stored)

    # -- import / export -----------------------------------------------------------

    def export(
        self,
        names: list[str] | None = None,
        *,
        secrets: SecretsMode = "mask",
        passphrase: str | None = None,
    ) -> list[dict[str, Any]]:
        """Server documents for another WI: secrets masked, or sealed with a passphrase."""
        if secrets == "encrypt" and not passphrase:
            raise InvalidInput.single(["passphrase"], "encrypting secrets needs a passphrase")
        with self._sessions() as session:
            rows = server_store.list_rows(session)
            known = {row.name for row in rows}
            missing = [n for n in names or [] if n not in known]
            if missing:
                raise NotFound(f"no outbound server named {', '.join(missing)}")
            docs = []
            for row in rows:
                if names and row.name not in names:
                    continue
                server = self._load(row)
                if secrets == "mask":
                    docs.append(document(server))
                    continue
                doc = document(server, secrets="clear")
                for path in SECRET_PATHS:
                    value = _get(doc, path)
                    if isinstance(value, str) and path[0] != "proxy":
                        _set(doc, path, seal(value, passphrase or ""))
                if server.has_secret_headers:
                    doc["headers"] = seal(server.headers, passphrase or "")
                if server.proxy and server.proxy.password:
                    doc["proxy"] = server.proxy.display()
                    doc["proxy_password"] = seal(
                        server.proxy.password.get_secret_value(), passphrase or ""
                    )
                docs.append(doc)
            return docs

    def import_(
        self, docs: list[Any], *, dry_run: bool = False, passphrase: str | None = None
    ) -> ImportReport:
        """Validate every document first; change nothing unless all are valid."""
        errors: list[dict[str, Any]] = []
        plans: list[tuple[OutboundServer, bool]] = []
        seen: set[str] = set()
        with self._sessions() as session:
            for index, raw in enumerate(docs):
                if not isinstance(raw, dict):
                    errors.append(
                        {
                            "loc": [index],
                            "msg": "each server must be an object",
                            "type": "type_error",
                        }
                    )
                    continue
                try:
                    doc = self._unseal(raw, passphrase)
                    name = doc.get("name")
                    row = (
                        server_store.find_by_name(session, name) if isinstance(name, str) else None
                    )
                    stored = self._load(row) if row else None
                    server = self._validate(doc, stored=stored)
                except InvalidInput as exc:
                    errors.extend({**e, "loc": [index, *e["loc"]]} for e in exc.errors)
                    continue
                if server.name in seen:
                    errors.append(
                        {
                            "loc": [index, "name"],
                            "type": "value_error",
                            "msg": f"'{server.name}' appears twice in the import",
                        }
                    )
                    continue
                seen.add(server.name)
                plans.append((server, row is not None and stored == server))
        if errors:
            raise InvalidInput(errors)
        report = ImportReport(created=[], updated=[], unchanged=[], dry_run=dry_run)
        with self._transaction() as session:
            for server, same in plans:
                row = server_store.find_by_name(session, server.name)
                if row is None:
                    report.created.append(server.name)
                    if not dry_run:
                        new_row = OutboundServerRow(name=server.name)
                        self._store(session, new_row, server)
                        session.add(new_row)
                        _audit(session, "import", server.name, None, server)
                elif same:
                    report.unchanged.append(server.name)
                else:
                    report.updated.append(server.name)
                    if not dry_run:
                        self._apply(session, row, self._load(row), server)
            if dry_run:
                session.rollback()
        return report

    # -- internals -----------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[Session]:
        return write_transaction(self._sessions)

    @staticmethod
    def _row(session: Session, name: str) -> OutboundServerRow:
        row = server_store.find_by_name(session, name)
        if row is None:
            raise NotFound(f"no outbound server named '{name}'")
        return row

    @staticmethod
    def _locked_row(
        session: Session, name: str, expected_revision: int | None
    ) -> OutboundServerRow:
        row = server_store.find_by_name(session, name, for_update=True)
        if row is None:
            raise NotFound(f"no outbound server named '{name}'")
        Stale.check(f"outbound server '{name}'", row.revision, expected_revision)
        return row

    @staticmethod
    def _check_name_unchanged(body: dict[str, Any], name: str) -> None:
        if "name" in body and body["name"] != name:
            raise InvalidInput.single(
                ["name"],
                "renaming is an explicit operation: POST /api/v1/outbound-servers/"
                f'{name}/rename with {{"name": "..."}} (CLI: wi servers edit {name} --rename NEW)',
            )

    def _unseal(self, raw: dict[str, Any], passphrase: str | None) -> dict[str, Any]:
        doc = deepcopy(raw)
        proxy_password = doc.pop("proxy_password", None)
        sealed_paths = [
            p
            for p in (*SECRET_PATHS, ("headers",))
            if isinstance(_get(doc, p), str) and str(_get(doc, p)).startswith("wi-sealed1:")
        ]
        if (sealed_paths or proxy_password) and not passphrase:
            raise InvalidInput.single(
                ["passphrase"], "this export holds encrypted secrets: give the passphrase"
            )
        if proxy_password is not None and not isinstance(proxy_password, str):
            raise InvalidInput.single(
                ["proxy_password"], "must be the sealed text that wi servers export wrote"
            )
        for path in sealed_paths:
            _set(doc, path, _open(str(_get(doc, path)), passphrase or "", list(path)))
        if proxy_password:
            if not isinstance(doc.get("proxy"), str):
                raise InvalidInput.single(
                    ["proxy"], "proxy_password needs the proxy URL it belongs to"
                )
            try:
                proxy = ProxySetting.parse(doc["proxy"])
            except ValueError as exc:
                raise InvalidInput.single(["proxy"], str(exc)) from None
            doc["proxy"] = ProxySetting(
                url=proxy.url,
                username=proxy.username,
                password=SecretStr(_open(proxy_password, passphrase or "", ["proxy_password"])),
            ).full_url()
        return doc

    def _validate(
        self, body: dict[str, Any], *, stored: OutboundServer | None
    ) -> OutboundServer:
        if not isinstance(body, dict):
            raise InvalidInput.single([], "the body must be a JSON object")
        merged = _keep_secrets(deepcopy(body), stored)
        try:
            # Expiry judges new certificates only: one that aged in storage must not
            # block other edits (disabling the server, say); the warning reports it.
            unchanged = stored is not None and all(
                normalise_newlines(str(merged.get(field) or "")).strip()
                == (getattr(stored, field) or "").strip()
                for field in ("certificate", "client_certificate")
            )
            server = OutboundServer.model_validate(merged, context={"stored": unchanged})
        except ValidationError as exc:
            invalid = InvalidInput.from_validation(exc, merged)
            # Rules joining fields are reported with the field errors, not after them.
            failed = {str(error["loc"][0]) for error in invalid.errors if error["loc"]}
            reported = {(tuple(error["loc"]), error["msg"]) for error in invalid.errors}
            for field, message in combination_problems(merged, failed):
                if ((field,), message) not in reported:
                    invalid.errors.append({"loc": [field], "msg": message, "type": "value_error"})
            raise InvalidInput(invalid.errors) from None
        # Saved, imported or only tried: every configured script passes the same check.
        if server.auth.method == "bearer" and server.auth.token_script:
            try:
                check_token_script(server.auth.token_script, self._token_script_dir)
            except ValueError as exc:
                message = str(exc).removeprefix("token_script: ")
                raise InvalidInput.single(["auth", "token_script"], message) from None
        return server

    def _apply(
        self,
        session: Session,
        row: OutboundServerRow,
        stored: OutboundServer,
        server: OutboundServer,
    ) -> None:
        if stored == server:
            return
        self._store(session, row, server)
        _audit(session, "update", server.name, stored, server)
        connection_changed = any(
            getattr(stored, f) != getattr(server, f)
            for f in (
                "auth",
                "host",
                "protocol",
                "verify_certificate",
                "certificate",
                "proxy",
                "client_certificate",
                "client_key",
            )
        )
        if connection_changed:
            if stored.auth != server.auth:
                # New credentials are the user's answer to needs_credentials.
                server_store.set_state(session, row.id, "ok", None)
            for hook in self.change_hooks:
                hook(session, row.id)

    def _store(self, session: Session, row: OutboundServerRow, server: OutboundServer) -> None:
        clear = document(server, secrets="clear")
        secrets: dict[str, str] = {}
        for path in SECRET_PATHS:
            value = _get(clear, path)
            if path[0] != "proxy" and isinstance(value, str):
                secrets[".".join(path)] = value
                _set(clear, path, None)
        if server.has_secret_headers:
            # The clear text lives only in the ciphertext; the row shows the masked text.
            secrets["headers"] = server.headers
            clear["headers"] = server.masked_headers
        if server.proxy is not None:
            clear["proxy"] = {"url": server.proxy.url, "username": server.proxy.username}
            if server.proxy.password:
                secrets["proxy.password"] = server.proxy.password.get_secret_value()
        row.config = clear
        row.revision = (row.revision or 0) + 1
        if secrets and row.id is None:
            session.add(row)
            session.flush()  # the ciphertext names its row, so the row needs its id first
        row.secrets = (
            self._box.encrypt(json.dumps(secrets), _secrets_place(row)) if secrets else None
        )

    def _load(self, row: OutboundServerRow) -> OutboundServer:
        doc = deepcopy(row.config)
        secrets: dict[str, str] = (
            json.loads(self._box.decrypt(row.secrets, _secrets_place(row))) if row.secrets else {}
        )
        proxy = doc.get("proxy")
        if isinstance(proxy, dict):
            doc["proxy"] = ProxySetting(
                url=proxy["url"],
                username=proxy.get("username"),
                password=SecretStr(secrets.pop("proxy.password"))
                if "proxy.password" in secrets
                else None,
            )
        for dotted, value in secrets.items():
            _set(doc, tuple(dotted.split(".")), value)
        doc["name"] = row.name
        # Stored configurations were valid when saved; an expired certificate must
        # not make the server unreadable, so load without re-judging time.
        return OutboundServer.model_validate(doc, context={"stored": True, "loading": True})

    def _view(self, row: OutboundServerRow) -> ServerView:
        server = self._load(row)
        doc = document(server)
        return ServerView(
            **{
                k: doc[k]
                for k in (
                    "name",
                    "host",
                    "protocol",
                    "headers",
                    "secret_headers",
                    "verify_certificate",
                    "certificate",
                    "proxy",
                    "timeout_seconds",
                    "client_certificate",
                    "client_key",
                    "max_concurrency",
                    "enabled",
                    "auth",
                )
            },
            base_url=server.base_url,
            certificate_info=[info.as_dict() for info in server.certificate_info(stored=True)],
            state=row.state,
            state_reason=row.state_reason,
            warnings=server.warnings(),
            revision=row.revision,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _open(sealed: str, passphrase: str, loc: list[str | int]) -> str:
    """A sealed export value in clear; a wrong passphrase or damaged text names the field."""
    try:
        return open_sealed(sealed, passphrase)
    except WrongPassphrase as exc:
        raise InvalidInput.single(["passphrase"], str(exc)) from None
    except ValueError as exc:
        raise InvalidInput.single(loc, str(exc)) from None


def _same_auth_kind(body: dict[str, Any], stored: OutboundServer) -> bool:
    auth = body.get("auth")
    if not isinstance(auth, dict):
        return False
    if auth.get("method") != stored.auth.method:
        return False
    return stored.auth.method != "oauth2" or auth.get("grant_type", "password") == getattr(
        stored.auth, "grant_type", None
    )


def _switches_auth(auth_patch: dict[str, Any], stored: OutboundServer) -> bool:
    method = auth_patch.get("method", stored.auth.method)
    if method != stored.auth.method:
        return True
    grant = auth_patch.get("grant_type")
    return method == "oauth2" and grant is not None and grant != getattr(
        stored.auth, "grant_type", None
    )


def _keep_secrets(body: dict[str, Any], stored: OutboundServer | None) -> dict[str, Any]:
    """Replace masked or omitted secrets by the stored ones where they still apply.

    One rule for every secret: the mask keeps the stored value as long as the setting it
    belongs to is still there (the same auth method, a client certificate, a proxy with a
    user), wherever it is sent now; typing a value replaces it, clearing it removes it.
    """
    for path in SECRET_PATHS:
        if path[0] == "proxy":
            continue
        value = _get(body, path)
        if value is not _MISSING and value != MASK:
            continue
        kept: Any = None
        if stored is not None:
            applies = (
                _same_auth_kind(body, stored)
                if path[0] == "auth"
                else bool(body.get("client_certificate"))
            )
            if applies:
                kept = _plain(_get(stored.model_dump(), path))
        # _MISSING: the stored method has no such field (a Basic server has no token).
        if kept is not None and kept is not _MISSING:
            _set(body, path, kept)
        elif value == MASK:
            _set(body, path, None)
    _keep_headers(body, stored)
    proxy = body.get("proxy")
    if isinstance(proxy, dict):
        # The object form {url, username, password} follows the same keep rule as the text.
        try:
            proxy = ProxySetting.model_validate(proxy).full_url()
        except ValidationError:
            return body  # the model reports it with its field name
        body["proxy"] = proxy
    if isinstance(proxy, str) and proxy.strip():
        try:
            parsed = ProxySetting.parse(proxy)
        except ValueError:
            return body  # the model reports it with its field name
        if parsed.password and parsed.password.get_secret_value() == MASK:
            # Kept across a new proxy address, as the token URL's secrets are.
            password = stored.proxy.password if stored and stored.proxy else None
            body["proxy"] = ProxySetting(
                url=parsed.url, username=parsed.username, password=password
            ).full_url()
    return body


def _keep_headers(body: dict[str, Any], stored: OutboundServer | None) -> None:
    """Secret header values sent as the mask become the saved ones (same name, same order)."""
    text = body.get("headers")
    if not isinstance(text, str):
        return
    try:
        parse_headers(text)
    except HeaderError:
        return  # the model reports it with its field name
    try:
        body["headers"] = keep_masked_headers(text, stored.headers if stored else "")
    except HeaderError as exc:
        raise InvalidInput.single(["headers"], str(exc)) from None


def _secrets_place(row: OutboundServerRow) -> str:
    return place("outbound_servers", row.id, "secrets")


def _audit(session: Session, action: str, name: str, old: OutboundServer | None,
           new: OutboundServer | None) -> None:
    """Record a change of server ``name``: masked documents, and which secrets changed."""
    clear_old = document(old, secrets="clear") if old else {}
    clear_new = document(new, secrets="clear") if new else {}
    def value(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
        found = _get(doc, path)
        return None if found is _MISSING else found

    changed = [".".join(path) for path in SECRET_PATHS if path[0] != "proxy"
               and value(clear_old, path) != value(clear_new, path)]
    if _proxy_password(old) != _proxy_password(new):
        changed.append("proxy.password")
    shown_old, shown_new = (document(old) if old else None), (document(new) if new else None)
    if (clear_old.get("headers") != clear_new.get("headers")
            and (shown_old or {}).get("headers") == (shown_new or {}).get("headers")):
        changed.append("headers")  # only a secret header's value changed
    audit.record(session, action, "server", name, shown_old, shown_new,
                 secrets_changed=changed)


def _proxy_password(server: OutboundServer | None) -> str | None:
    if server is None or server.proxy is None or server.proxy.password is None:
        return None
    return server.proxy.password.get_secret_value()

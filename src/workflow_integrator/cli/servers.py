"""``wi servers``: list, show, add, edit, delete, import and export outbound servers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, fail, handled, print_json, services
from workflow_integrator.cli.documents import (
    Format,
    print_import,
    read_many,
    read_one,
    write_export,
)
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.services.outbound_servers import ServerView

app = typer.Typer(help="Outbound servers: where WI sends requests.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _auth_label(view: ServerView) -> str:
    method = str(view.auth.get("method", "none"))
    grant = view.auth.get("grant_type")
    return f"{method} ({grant})" if grant else method


def _secret(value: str | None, label: str) -> str | None:
    """``-`` asks on the terminal, so secrets stay out of the shell history."""
    if value == "-":
        prompted: str = typer.prompt(label, hide_input=True)
        return prompted
    return value


@app.command("list")
def list_servers(as_json: JsonOpt = False) -> None:
    """List outbound servers."""
    with handled():
        views = services().servers.list_all()
    if as_json:
        print_json([v.model_dump(mode="json") for v in views])
        return
    table = Table(title="Outbound servers")
    for column in ("Name", "Host", "Protocol", "Auth", "TLS", "State", "Enabled"):
        table.add_column(column)
    for view in views:
        tls = view.verify_certificate + (" [yellow]⚠[/]" if view.warnings else "")
        state = view.state if view.state == "ok" else f"[red]{view.state}[/]"
        table.add_row(
            view.name,
            view.host,
            view.protocol.upper(),
            _auth_label(view),
            tls,
            state,
            "yes" if view.enabled else "no",
        )
    console.print(table)


@app.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """Show one outbound server (secrets masked)."""
    with handled():
        view = services().servers.get(name)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    table = Table(show_header=False, title=f"Outbound server {view.name}")
    table.add_column("Field", style="bold")
    table.add_column("Value")
    doc = view.model_dump(mode="json")
    for key in (
        "name",
        "host",
        "protocol",
        "base_url",
        "headers",
        "secret_headers",
        "verify_certificate",
        "proxy",
        "timeout_seconds",
        "max_concurrency",
        "enabled",
        "state",
        "state_reason",
    ):
        table.add_row(key, str(doc[key]))
    for key, value in view.auth.items():
        table.add_row(f"auth.{key}", str(value))
    for info in view.certificate_info:
        table.add_row(
            "certificate",
            f"{info['subject']} (expires {info['not_after'][:10]}, "
            f"SHA-256 {info['sha256_fingerprint'][:23]}…)",
        )
    for warning in view.warnings:
        table.add_row("[yellow]warning[/]", warning)
    console.print(table)


def _body_from_options(
    *,
    name: str | None,
    host: str | None,
    protocol: str | None,
    headers: str | None,
    verify_certificate: str | None,
    certificate_file: Path | None,
    proxy: str | None,
    timeout: float | None,
    auth: str | None,
    grant_type: str | None,
    token_url: str | None,
    username: str | None,
    password: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
    refresh_token: str | None,
    token: str | None,
    token_script: str | None,
    enabled: bool | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("host", host),
        ("protocol", protocol),
        ("headers", headers),
        ("verify_certificate", verify_certificate),
        ("proxy", proxy),
        ("timeout_seconds", timeout),
        ("enabled", enabled),
    ):
        if value is not None:
            body[key] = value
    if certificate_file is not None:
        try:
            body["certificate"] = certificate_file.read_text()
        except OSError as exc:
            fail(f"cannot read the certificate file {certificate_file}: {exc.strerror}")
    auth_fields = {
        "grant_type": grant_type,
        "token_url": token_url,
        "username": username,
        "password": _secret(password, "Password"),
        "client_id": client_id,
        "client_secret": _secret(client_secret, "Client secret"),
        "scope": scope,
        "refresh_token": _secret(refresh_token, "Refresh token"),
        "token": _secret(token, "Token"),
        "token_script": token_script,
    }
    given = {k: v for k, v in auth_fields.items() if v is not None}
    if auth is not None or given:
        body["auth"] = {"method": auth, **given} if auth else given
    return body


NameOpt = Annotated[str | None, typer.Option(help="Outbound name.")]
HostOpt = Annotated[str | None, typer.Option(help="IP address or DNS name[:port][/base/path].")]
ProtocolOpt = Annotated[str | None, typer.Option(help="https (default) or http.")]
HeadersOpt = Annotated[str | None, typer.Option(help="Comma-separated 'Name: value' headers.")]
VerifyOpt = Annotated[str | None, typer.Option(help="disable | enable | certificate.")]
CertOpt = Annotated[
    Path | None, typer.Option(help="PEM file for mode certificate.")
]
ProxyOpt = Annotated[str | None, typer.Option(help="Proxy: host:port or http(s)/socks5 URL.")]
TimeoutOpt = Annotated[float | None, typer.Option(help="Request timeout in seconds.")]
AuthOpt = Annotated[str | None, typer.Option(help="basic | oauth2 | bearer | none.")]
GrantOpt = Annotated[str | None, typer.Option(help="OAuth 2.0: password | refresh_token.")]
TokenUrlOpt = Annotated[str | None, typer.Option(help="OAuth 2.0 Access Token URL.")]
UserOpt = Annotated[str | None, typer.Option(help="Login user name.")]
PasswordOpt = Annotated[str | None, typer.Option(help="Login password ('-' asks).")]
ClientIdOpt = Annotated[str | None, typer.Option(help="OAuth 2.0 client ID.")]
ClientSecretOpt = Annotated[str | None, typer.Option(help="OAuth 2.0 client secret ('-' asks).")]
ScopeOpt = Annotated[str | None, typer.Option(help="OAuth 2.0 scope (optional).")]
RefreshOpt = Annotated[str | None, typer.Option(help="OAuth 2.0 refresh token ('-' asks).")]
TokenOpt = Annotated[str | None, typer.Option(help="Bearer token ('-' asks).")]
ScriptOpt = Annotated[str | None, typer.Option(help="Bearer token script: full path.")]
EnabledOpt = Annotated[bool | None, typer.Option("--enabled/--disabled", help="Send requests?")]
FileOpt = Annotated[
    Path | None, typer.Option("--file", "-f", help="YAML or JSON server document ('-' = stdin).")
]


@app.command("add")
def add(
    file: FileOpt = None,
    name: NameOpt = None,
    host: HostOpt = None,
    protocol: ProtocolOpt = None,
    headers: HeadersOpt = None,
    verify_certificate: VerifyOpt = None,
    certificate_file: CertOpt = None,
    proxy: ProxyOpt = None,
    timeout: TimeoutOpt = None,
    auth: AuthOpt = None,
    grant_type: GrantOpt = None,
    token_url: TokenUrlOpt = None,
    username: UserOpt = None,
    password: PasswordOpt = None,
    client_id: ClientIdOpt = None,
    client_secret: ClientSecretOpt = None,
    scope: ScopeOpt = None,
    refresh_token: RefreshOpt = None,
    token: TokenOpt = None,
    token_script: ScriptOpt = None,
    enabled: EnabledOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an outbound server from options or a document (--file); options win."""
    body: dict[str, Any] = {}
    if file is not None:
        body = read_one(file, "server")
    options = _body_from_options(
        name=name,
        host=host,
        protocol=protocol,
        headers=headers,
        verify_certificate=verify_certificate,
        certificate_file=certificate_file,
        proxy=proxy,
        timeout=timeout,
        auth=auth,
        grant_type=grant_type,
        token_url=token_url,
        username=username,
        password=password,
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        refresh_token=refresh_token,
        token=token,
        token_script=token_script,
        enabled=enabled,
    )
    auth_opts = options.pop("auth", None)
    body.update(options)
    if auth_opts:
        file_auth = body.get("auth")
        from_file: dict[str, Any] = file_auth if isinstance(file_auth, dict) else {}
        if "method" in auth_opts and auth_opts["method"] != from_file.get("method"):
            from_file = {}  # --auth names another method: the file's fields do not fit it
        body["auth"] = {**from_file, **auth_opts}
    with handled():
        view = services().servers.create(body)
    _done(view, "created", as_json)


@app.command("edit")
def edit(
    server: Annotated[str, typer.Argument(help="Name of the server to change.")],
    file: FileOpt = None,
    rename: Annotated[str | None, typer.Option(help="Give the server a new name.")] = None,
    host: HostOpt = None,
    protocol: ProtocolOpt = None,
    headers: HeadersOpt = None,
    verify_certificate: VerifyOpt = None,
    certificate_file: CertOpt = None,
    proxy: ProxyOpt = None,
    timeout: TimeoutOpt = None,
    auth: AuthOpt = None,
    grant_type: GrantOpt = None,
    token_url: TokenUrlOpt = None,
    username: UserOpt = None,
    password: PasswordOpt = None,
    client_id: ClientIdOpt = None,
    client_secret: ClientSecretOpt = None,
    scope: ScopeOpt = None,
    refresh_token: RefreshOpt = None,
    token: TokenOpt = None,
    token_script: ScriptOpt = None,
    enabled: EnabledOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a server: --file replaces it, options patch single fields, --rename renames."""
    patch = _body_from_options(
        name=None,
        host=host,
        protocol=protocol,
        headers=headers,
        verify_certificate=verify_certificate,
        certificate_file=certificate_file,
        proxy=proxy,
        timeout=timeout,
        auth=auth,
        grant_type=grant_type,
        token_url=token_url,
        username=username,
        password=password,
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        refresh_token=refresh_token,
        token=token,
        token_script=token_script,
        enabled=enabled,
    )
    if file is None and not patch and rename is None:
        fail("nothing to change: give --file, --rename or field options (see --help)")
    with handled():
        view = services().servers.get(server)
        if file is not None:
            loaded = read_one(file, "server")
            loaded.setdefault("name", server)
            view = services().servers.replace(server, loaded)
        if patch:
            view = services().servers.update(server, patch)
        if rename is not None:
            view = services().servers.rename(server, rename)
    _done(view, "updated", as_json)


@app.command("delete")
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a server (refused while an integration uses it)."""
    if not yes and not typer.confirm(f"Delete outbound server '{name}'?"):
        raise typer.Exit(1)
    with handled():
        services().servers.delete(name)
    console.print(f"deleted outbound server [bold]{name}[/]")


@app.command("export")
def export(
    names: Annotated[
        list[str] | None, typer.Argument(help="Servers to export (default all).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="yaml or json.")] = Format.yaml,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
    encrypt_secrets: Annotated[
        bool,
        typer.Option(help="Include secrets, encrypted with a passphrase, for another WI."),
    ] = False,
    passphrase: Annotated[
        str | None, typer.Option(envvar="WI_EXPORT_PASSPHRASE", help="Passphrase ('-' asks).")
    ] = None,
) -> None:
    """Export servers. Secrets are masked unless --encrypt-secrets seals them."""
    if encrypt_secrets and not passphrase and not sys.stdin.isatty():
        # Nobody can answer a prompt here (a script or a pipe): say what to set instead.
        fail(
            "--encrypt-secrets needs a passphrase: set WI_EXPORT_PASSPHRASE "
            "(or give --passphrase - and pipe it in)"
        )
    if encrypt_secrets:
        passphrase = _secret(passphrase or "-", "Passphrase for the exported secrets")
    with handled():
        docs = services().servers.export(
            names or None, secrets="encrypt" if encrypt_secrets else "mask", passphrase=passphrase
        )
    write_export("outbound_servers", docs, fmt, output, "server(s)")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="YAML or JSON export ('-' = stdin).")],
    dry_run: Annotated[bool, typer.Option(help="Validate and report; change nothing.")] = False,
    passphrase: Annotated[
        str | None, typer.Option(envvar="WI_EXPORT_PASSPHRASE", help="Passphrase ('-' asks).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import servers: all are validated first; any error changes nothing."""
    docs = read_many(file, "outbound_servers", "name", "servers")
    with handled():
        report = services().servers.import_(
            docs, dry_run=dry_run, passphrase=_secret(passphrase, "Passphrase")
        )
    print_import(report, dry_run=dry_run, as_json=as_json)


def _done(view: ServerView, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    console.print(f"{verb} outbound server [bold]{view.name}[/] ({view.base_url})")
    for warning in view.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    secrets = [k for k, v in view.auth.items() if v == MASK]
    if secrets:
        console.print(f"secrets stored encrypted: {', '.join(secrets)}")

"""The outbound server: where WI sends requests, and how it authenticates there.

Field names follow the product contract (the "Server" and "Basic Authentication"
tabs of the Outbound Server Configuration dialog).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workflow_integrator.domain.certificates import (
    CertificateError,
    CertificateInfo,
    check_private_key,
    key_matches_certificate,
    parse_certificates,
)
from workflow_integrator.domain.headers import (
    DEFAULT_HEADERS,
    HeaderError,
    is_header_name,
    parse_headers,
    token_flaw,
)
from workflow_integrator.domain.hosts import (
    HostError,
    HostTarget,
    parse_host,
    protocol_from_pasted_url,
)
from workflow_integrator.domain.redaction import (
    is_secret_header,
    redact_header_text,
    redact_url,
)

WebProtocol = Literal["https", "http"]

#: Names the REST API uses as fixed paths under /api/v1/outbound-servers/.
RESERVED_SERVER_NAMES = frozenset({"fetch-token"})
VerifyMode = Literal["disable", "enable", "certificate"]
ClientAuthMethod = Literal["client_secret_basic", "client_secret_post"]
ServerState = Literal["ok", "needs_credentials"]

_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=True)


def _require(value: SecretStr | None, field: str, what: str) -> None:
    if value is None or not value.get_secret_value():
        raise ValueError(f"{field}: {what} is required")


def _check_url(value: str, what: str) -> str:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be a full http(s) URL, e.g. https://itsm.example.com/oauth_token.do")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry credentials; use the client ID and secret fields")
    return text


class BasicAuth(_Strict):
    """HTTP Basic: ``Authorization: Basic …`` on every request."""

    method: Literal["basic"] = "basic"
    username: str = Field(min_length=1, max_length=256, description="Login user name")
    password: SecretStr | None = Field(default=None, description="Login password (secret)")

    @model_validator(mode="after")
    def _password_set(self) -> BasicAuth:
        _require(self.password, "password", "the login password")
        if ":" in self.username:
            raise ValueError("username: a Basic user name cannot contain ':'")
        return self


class _OAuth2Common(_Strict):
    method: Literal["oauth2"] = "oauth2"
    token_url: str = Field(description="Access Token URL")
    client_id: str = Field(min_length=1, max_length=512, description="Client ID")
    client_secret: SecretStr | None = Field(default=None, description="Client Secret (secret)")
    scope: str | None = Field(default=None, max_length=1024, description="Scope (optional)")
    client_auth: ClientAuthMethod = Field(
        default="client_secret_basic",
        description="How the client authenticates at the token endpoint",
    )

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return _check_url(value, "the Access Token URL")

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class OAuth2PasswordAuth(_OAuth2Common):
    """OAuth 2.0 Resource Owner Password Credentials grant (RFC 6749 §4.3)."""

    grant_type: Literal["password"] = "password"
    username: str = Field(min_length=1, max_length=256, description="Login user name")
    password: SecretStr | None = Field(default=None, description="Login password (secret)")

    @model_validator(mode="after")
    def _secrets_set(self) -> OAuth2PasswordAuth:
        _require(self.password, "password", "the login password")
        _require(self.client_secret, "client_secret", "the client secret")
        return self


class OAuth2RefreshTokenAuth(_OAuth2Common):
    """OAuth 2.0 Refresh Token grant (RFC 6749 §6): the token replaces user and password."""

    grant_type: Literal["refresh_token"] = "refresh_token"
    refresh_token: SecretStr | None = Field(default=None, description="Refresh Token (secret)")

    @model_validator(mode="after")
    def _secrets_set(self) -> OAuth2RefreshTokenAuth:
        _require(self.refresh_token, "refresh_token", "the refresh token")
        _require(self.client_secret, "client_secret", "the client secret")
        return self


class BearerAuth(_Strict):
    """``Authorization: Bearer <token>``: a fixed token, or one printed by a token script."""

    method: Literal["bearer"] = "bearer"
    token: SecretStr | None = Field(
        default=None, description="Token (secret); wins over the token script"
    )
    token_script: str | None = Field(
        default=None,
        description="Full path of an executable on the WI host that prints the token",
    )
    token_script_timeout_seconds: float = Field(default=30, gt=0, le=600)
    token_script_ttl_seconds: int | None = Field(
        default=None,
        gt=0,
        le=31_536_000,
        description="Run the script again after this many seconds (at most a year)",
    )

    @field_validator("token")
    @classmethod
    def _token_word(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The same rule as a token script's output; the message never quotes the token.
        flaw = token_flaw(value.get_secret_value()) if value and value.get_secret_value() else None
        # One saved before this rule stays readable; sending it is refused (outbound.auth).
        if flaw is not None and not (info.context and info.context.get("loading")):
            raise ValueError(
                f"the token cannot be sent as 'Authorization: Bearer <token>': {flaw}; "
                "paste the token alone, as one word"
            )
        return value

    @field_validator("token_script")
    @classmethod
    def _script_path(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        path = value.strip()
        if not os.path.isabs(path):
            raise ValueError(
                "the token script must be a full path "
                f"(e.g. /var/tmp/token_script.sh), got '{path}'"
            )
        return path

    @model_validator(mode="after")
    def _one_source(self) -> BearerAuth:
        if (self.token is None or not self.token.get_secret_value()) and not self.token_script:
            raise ValueError("token: enter a token or a token script (or both: the token wins)")
        return self


class NoAuth(_Strict):
    """No Authorization header: for servers that authenticate by header or network."""

    method: Literal["none"] = "none"


def _auth_tag(value: Any) -> str | None:
    method = value.get("method") if isinstance(value, dict) else getattr(value, "method", None)
    if method == "oauth2":
        grant = value.get("grant_type") if isinstance(value, dict) else value.grant_type
        if grant is not None and not isinstance(grant, str):
            return "oauth2_unknown"  # a list or object: reported, not looked up (unhashable)
        # The dialog preselects Resource Owner Password Credentials; so does the API.
        return {"password": "oauth2_password", "refresh_token": "oauth2_refresh_token"}.get(
            grant or "password", "oauth2_unknown"
        )
    return method if method in ("basic", "bearer", "none") else None


Auth = Annotated[
    Annotated[BasicAuth, Tag("basic")]
    | Annotated[OAuth2PasswordAuth, Tag("oauth2_password")]
    | Annotated[OAuth2RefreshTokenAuth, Tag("oauth2_refresh_token")]
    | Annotated[BearerAuth, Tag("bearer")]
    | Annotated[NoAuth, Tag("none")],
    Discriminator(
        _auth_tag,
        custom_error_type="auth_method",
        custom_error_message=(
            "method must be one of basic, oauth2 (with grant_type password or "
            "refresh_token), bearer, none"
        ),
        custom_error_context={"discriminator": "method"},
    ),
]


def _split_proxy_url(text: str) -> tuple[str, str | None, str | None]:
    """``(scheme://host:port, user, password)`` of a proxy given as text."""
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_SCHEMES:
        raise ValueError(
            f"proxy scheme '{scheme}' is not supported; use http://, https:// or socks5://"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the proxy port must be a number between 1 and 65535") from None
    if not parts.hostname:
        raise ValueError("enter the proxy as host:port or a URL like http://10.20.0.9:3128")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a proxy URL has no path: write scheme://host:port")
    target = parse_host(parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]")
    if port is not None:
        target = HostTarget(target.hostname, port)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return f"{scheme}://{target.netloc()}", username, password


class ProxySetting(_Strict):
    """A proxy URL split from its credentials, so the password can be kept secret."""

    url: str = Field(description="scheme://host:port, no credentials")
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # The object form must obey the same rules as the text form, and keep
        # credentials out of the URL: the URL is stored and shown in clear.
        url, username, password = _split_proxy_url(value)
        if username or password:
            raise ValueError(
                "the proxy URL must not carry credentials here; "
                "give them as username and password"
            )
        return url

    @classmethod
    def parse(cls, text: str) -> ProxySetting:
        """Accept ``host:port`` (http assumed) or ``scheme://[user:pass@]host:port``."""
        url, username, password = _split_proxy_url(text)
        return cls(
            url=url,
            username=username,
            password=SecretStr(password) if password else None,
        )

    def display(self) -> str:
        """The URL as shown to users: the password masked."""
        return redact_url(self.full_url())

    def full_url(self) -> str:
        """The URL with credentials, for the transport only."""
        if not self.username:
            return self.url
        scheme, rest = self.url.split("://", 1)
        user = quote(self.username, safe="")
        secret = f":{quote(self.password.get_secret_value(), safe='')}" if self.password else ""
        return f"{scheme}://{user}{secret}@{rest}"


class OutboundServer(_Strict):
    """A validated outbound server configuration."""

    name: str = Field(min_length=1, max_length=100, description="Outbound name (unique id)")
    host: str = Field(
        description="Outbound Host: IP address or DNS name, optional :port and base path, "
        "or a pasted URL"
    )
    protocol: WebProtocol = Field(default="https", description="HTTP or HTTPS")
    headers: str = Field(
        default=DEFAULT_HEADERS,
        max_length=8192,
        description="HTTP headers (comma separated), e.g. 'Content-Type: application/json'. "
        "Values of secret headers (Authorization, Proxy-Authorization, Cookie, names holding "
        "key, token, secret or password, and those in secret_headers) are encrypted at rest "
        "and shown as ********; sending ******** back keeps the saved value.",
    )
    secret_headers: tuple[str, ...] = Field(
        default=(),
        max_length=64,
        description="Further header names whose values are secret (encrypted, masked).",
    )
    verify_certificate: VerifyMode = Field(
        default="disable",
        description="disable (the default), enable (system trust store) or certificate "
        "(trust only the uploaded certificate)",
    )
    certificate: str | None = Field(
        default=None, max_length=262_144, description="PEM certificate(s) for mode 'certificate'"
    )
    proxy: ProxySetting | None = Field(
        default=None,
        description="Proxy server: host:port or an http(s)/socks5 URL, may hold user:password",
    )
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    client_certificate: str | None = Field(
        default=None, max_length=262_144, description="PEM client certificate for mutual TLS"
    )
    client_key: SecretStr | None = Field(
        default=None, description="PEM private key of the client certificate (secret)"
    )
    max_concurrency: int = Field(default=8, ge=1, le=256)
    enabled: bool = True
    auth: Auth = Field(default_factory=NoAuth)

    @model_validator(mode="before")
    @classmethod
    def _split_pasted_url(cls, data: Any) -> Any:
        return protocol_from_pasted_url(data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str:
        loading = bool(info.context and info.context.get("loading"))
        if value in RESERVED_SERVER_NAMES and not loading:
            # The API has a fixed path there, so the server could not be read by name.
            raise ValueError(
                f"'{value}' is reserved (the REST API uses it as a path); choose another name"
            )
        if value != value.strip():
            raise ValueError("the name must not start or end with blanks")
        if "/" in value:
            raise ValueError("the name must not contain '/' (the name is the server's id in URLs)")
        if value in (".", ".."):
            # URL clients collapse /servers/. and /servers/.., so such a server is unreachable.
            raise ValueError("the name cannot be '.' or '..' (the name is the server's id in URLs)")
        if not value.isprintable():
            # isprintable() also catches C1 controls, line separators and zero-width marks.
            raise ValueError(
                "the name must hold printable characters only "
                "(no control characters, line breaks or invisible marks)"
            )
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            return parse_host(value).display()
        except HostError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: str) -> str:
        try:
            parse_headers(value)
        except HeaderError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("secret_headers")
    @classmethod
    def _secret_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names: list[str] = []
        for raw in value:
            name = raw.strip()
            if not is_header_name(name):
                raise ValueError(
                    f"'{name[:40]}' is not a header name (letters, digits and "
                    "!#$%&'*+-.^_`|~ only)"
                )
            if name.lower() not in {n.lower() for n in names}:
                names.append(name)
        return tuple(names)

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ProxySetting.parse(value) if value.strip() else None
        return value

    @field_validator("certificate", "client_certificate")
    @classmethod
    def _pem(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        stored = bool(info.context and info.context.get("stored"))
        try:
            parse_certificates(value, label=str(info.field_name), check_expiry=not stored)
        except CertificateError as exc:
            raise ValueError(str(exc)) from None
        # Browsers send pasted text with CRLF; PEM is stored with plain newlines.
        return normalise_newlines(value).strip() + "\n"

    @field_validator("client_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            check_private_key(value.get_secret_value())
        except CertificateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> OutboundServer:
        problems = combination_problems(
            {
                "verify_certificate": self.verify_certificate,
                "certificate": self.certificate,
                "client_certificate": self.client_certificate,
                "client_key": self.client_key.get_secret_value() if self.client_key else None,
                "auth": {"method": self.auth.method},
                "headers": self.headers,
            }
        )
        if problems:
            field, message = problems[0]
            raise ValueError(f"{field}: {message}")
        return self

    @property
    def target(self) -> HostTarget:
        """The parsed host: name or address, port and base path."""
        return parse_host(self.host)

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """The parsed headers in the order the user typed them."""
        return parse_headers(self.headers)

    @property
    def has_secret_headers(self) -> bool:
        """True when a configured header's value is a secret."""
        return any(is_secret_header(n, self.secret_headers) for n, _ in self.header_list)

    @property
    def masked_headers(self) -> str:
        """The headers text with secret values as ``********``: what every read shows."""
        return redact_header_text(self.headers, self.secret_headers)

    @property
    def base_url(self) -> str:
        """``protocol://host[:port][/base/path]``, the root every request path joins."""
        return f"{self.protocol}://{self.target.display()}"

    def certificate_info(self, *, stored: bool = True) -> list[CertificateInfo]:
        """Subject, issuer, fingerprint and expiry of the uploaded certificate(s)."""
        if not self.certificate:
            return []
        return parse_certificates(self.certificate, check_expiry=not stored)

    def warnings(self, now: datetime | None = None) -> list[str]:
        """Plain-language warnings shown next to the configuration."""
        notes: list[str] = []
        if self.protocol == "https" and self.verify_certificate == "disable":
            notes.append(
                "TLS certificate verification is disabled: WI cannot tell the real server "
                "from an impostor. Choose 'enable' or upload the server's certificate."
            )
        if self.protocol == "http":
            notes.append("protocol is HTTP: requests and credentials travel unencrypted.")
        moment = now or datetime.now(UTC)
        soon = moment + timedelta(days=30)
        for info in self.certificate_info():
            if info.not_after < moment:
                # It was valid when it was saved; TLS to this server now fails.
                notes.append(
                    f"The uploaded certificate {info.subject} expired on "
                    f"{info.not_after:%Y-%m-%d}: WI cannot verify the server, so every "
                    "request to it fails. Upload a current one."
                )
            elif info.not_after < soon:
                notes.append(
                    f"The uploaded certificate {info.subject} expires on "
                    f"{info.not_after:%Y-%m-%d}: after that every request to this server "
                    "fails. Upload the renewed one before then."
                )
        return notes


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR as LF: how a browser's textarea sends lines, as files store them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


SECRET_PATHS: tuple[tuple[str, ...], ...] = (
    ("auth", "password"),
    ("auth", "client_secret"),
    ("auth", "refresh_token"),
    ("auth", "token"),
    ("client_key",),
    ("proxy", "password"),
)
"""Where secrets live in a server configuration (for masking, encryption, exports)."""


def combination_problems(
    document: Mapping[str, Any], failed: Collection[str] = ()
) -> list[tuple[str, str]]:
    """The rules that join fields, as ``(field, message)`` pairs, on raw or validated input.

    The model checks them after its fields; the service also runs them on the raw
    document when fields fail, so a user sees every problem at once. A rule that
    involves a field in ``failed`` (its own value is wrong) is left to that field's error.
    """
    def text(name: str) -> str:
        value = document.get(name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return value.strip() if isinstance(value, str) else ""

    problems: list[tuple[str, str]] = []
    mode = document.get("verify_certificate", "enable")
    if "verify_certificate" in failed or "certificate" in failed:
        mode = None
    if mode == "certificate" and not text("certificate"):
        problems.append((
            "certificate",
            "upload the server's CA or self-signed certificate (PEM) "
            "when Verify certificate is 'certificate'",
        ))
    if isinstance(mode, str) and mode != "certificate" and text("certificate"):
        problems.append((
            "certificate",
            "a certificate is only used with Verify certificate = "
            "'certificate'; remove it or change the mode",
        ))
    client_certificate, client_key = text("client_certificate"), text("client_key")
    if "client_certificate" in failed or "client_key" in failed:
        pass  # the unreadable one's own error comes first
    elif bool(client_certificate) != bool(client_key):
        problems.append((
            "client_key",
            "client_certificate and client_key go together for mutual TLS; give both or neither",
        ))
    elif client_certificate and not key_matches_certificate(client_key, client_certificate):
        problems.append((
            "client_key",
            "the client key does not belong to the client certificate; "
            "upload the key that was issued with it",
        ))
    auth = document.get("auth")
    method = auth.get("method") if isinstance(auth, Mapping) else None
    headers = document.get("headers")
    # An unknown method is its own error; so are headers that cannot be read.
    if method in ("basic", "oauth2", "bearer") and isinstance(headers, str) and (
        "headers" not in failed
    ):
        try:
            named = [name.lower() for name, _ in parse_headers(headers)]
        except HeaderError:
            named = []  # the headers' own error says what is wrong with them
        if "authorization" in named:
            problems.append((
                "headers",
                f"'Authorization' is set by the {method} authentication; "
                "remove it from the headers or choose method 'none'",
            ))
    return problems

"""The one mask and the one redaction rule: what the API, the UI, the CLI, logs and
delivery records show in place of a secret (headers, URLs, free text such as a
script's stderr or a response body)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from workflow_integrator.domain.headers import (
    WI_OWN_HEADERS,
    HeaderError,
    format_headers,
    parse_headers,
)

MASK = "********"
"""What is shown for a secret; sending it back in a write keeps the stored value."""

SECRET_HEADER_NAMES: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
    }
)
"""Header names (lower case) whose values are always secret."""

# A header or parameter name holding one of these words is treated as secret too.
_SECRET_WORDS = ("authorization", "token", "secret", "password", "passwd", "key")
_SECRET_PARAMETER_WORDS = (*_SECRET_WORDS, "api_key", "signature", "sig")
_SHORTEST_SECRET = 4
"""Known secret values shorter than this are not searched for in text (they would mask
ordinary words); such secrets are refused where they are configured anyway."""

# Long runs of token-ish characters and key=value secrets in free text.
_TOKENISH = re.compile(r"[A-Za-z0-9._~+/=-]{20,}")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|secret|token|key|authorization|bearer)(\s*[=:]\s*|\s+)(\S+)"
)
_JSON_SECRET = re.compile(
    r'(?i)("[^"]*(?:password|passwd|secret|token|api[-_]?key|authorization)[^"]*"\s*:\s*)'
    r'"(?:[^"\\]|\\.)*"'
)


def is_secret_header(name: str, extra_secret_names: Iterable[str] = ()) -> bool:
    """True when a header's value must not be shown, stored in clear or logged.

    Authorization, Proxy-Authorization, cookies, names a user marked secret
    (``extra_secret_names``), and names holding key, token, secret or password, except
    the ids WI adds itself (``Idempotency-Key``, ``X-WI-Delivery-Id``).
    """
    lowered = name.strip().lower()
    if lowered in SECRET_HEADER_NAMES or lowered in {n.lower() for n in extra_secret_names}:
        return True
    if lowered in WI_OWN_HEADERS:
        return False
    return lowered.endswith("cookie") or any(word in lowered for word in _SECRET_WORDS)


def redact_headers(
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    *,
    extra_secret_names: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """The headers in order, secret values replaced by :data:`MASK`.

    The scheme of an ``Authorization`` value stays visible (``Bearer ********``) since it
    tells the reader which method was used without revealing the credential.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    extra = tuple(extra_secret_names)
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if not is_secret_header(name, extra):
            out.append((name, value))
            continue
        scheme, blank, _ = value.partition(" ")
        keep_scheme = name.lower() in ("authorization", "proxy-authorization") and blank
        out.append((name, f"{scheme} {MASK}" if keep_scheme else MASK))
    return out


SECRET_FIELD_NAMES: frozenset[str] = frozenset(
    {"password", "client_secret", "refresh_token", "token", "client_key", "secret",
     "api_key", "passphrase", "access_token"}
)
"""Names of document fields that hold a secret (server auth, SecureChange, SMTP, users)."""


def is_secret_field(name: str) -> bool:
    """True when a document field (``auth.password``, ``client_key``) holds a secret."""
    return name.rsplit(".", 1)[-1].lower() in SECRET_FIELD_NAMES


def is_masked(value: str) -> bool:
    """True for a header value as :func:`redact_headers` shows a secret: the mask,
    or a scheme and the mask (``Bearer ********``); sending it back keeps the stored value."""
    scheme, blank, rest = value.partition(" ")
    return value == MASK or (bool(blank) and rest == MASK and bool(scheme))


def redact_header_text(text: str, extra_secret_names: Iterable[str] = ()) -> str:
    """The "HTTP headers" text with secret values masked (as the API, UI and exports show it)."""
    try:
        pairs = parse_headers(text)
    except HeaderError:
        return MASK if text.strip() else text  # unreadable: show nothing of it
    if not any(is_secret_header(n, extra_secret_names) for n, _ in pairs):
        return text
    return format_headers(redact_headers(pairs, extra_secret_names=extra_secret_names))


def keep_masked_headers(text: str, stored: str) -> str:
    """``text`` with each masked value replaced by the stored value of the same header
    (by name and occurrence). HeaderError names a masked header nothing was stored for."""
    pairs = parse_headers(text)
    if not any(is_masked(value) for _, value in pairs):
        return text
    saved = parse_headers(stored) if stored else []
    seen: dict[str, int] = {}
    kept: list[tuple[str, str]] = []
    for name, value in pairs:
        key = name.lower()
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        if not is_masked(value):
            kept.append((name, value))
            continue
        same = [v for n, v in saved if n.lower() == key]
        if occurrence >= len(same):
            raise HeaderError(
                f"header '{name}' shows the mask {MASK} but no value is saved for it; "
                "type the value"
            )
        kept.append((name, same[occurrence]))
    return format_headers(kept)


def _secret_parameter(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_PARAMETER_WORDS)


def redact_url(url: str) -> str:
    """``user:password@`` becomes ``user:********@``; secret query parameters are masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_parameter(k) for k, _ in pairs):
            query = urlencode(
                [(k, MASK if _secret_parameter(k) else v) for k, v in pairs],
                quote_via=quote,
                safe="*",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Every occurrence of each known secret value replaced by :data:`MASK`.

    Values shorter than four characters are left alone: replacing them would mask
    ordinary words and make the text useless without hiding anything worth hiding.
    """
    # Longest first: a secret that contains another must not leave a tail visible.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= _SHORTEST_SECRET:
            text = text.replace(secret, MASK)
    return text


def redact_text(text: str, known: Iterable[str | None] = ()) -> str:
    """Free text (stderr, a response body) safe to show: known secrets, ``key=value`` and
    ``"key": "value"`` secrets and long token-like runs masked."""
    text = scrub(text, known)
    text = _JSON_SECRET.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _TOKENISH.sub(MASK, text)


def token_preview(token: str) -> str:
    """First 4 and last 4 characters; nothing of a token too short to hide the middle."""
    if len(token) < 16:
        return MASK
    return f"{token[:4]}…{token[-4:]}"

"""The one mask and redaction rule for anything WI shows or records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "********"
SECRET_HEADER_NAMES = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "auth")
_SHORTEST_SECRET = 4


def _secret_name(name: str, extra: frozenset[str]) -> bool:
    lowered = name.lower()
    return (
        lowered in SECRET_HEADER_NAMES
        or lowered in extra
        or any(word in lowered for word in _SECRET_WORDS)
    )


def redact_headers(
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    *,
    extra_secret_names: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Headers with the values of secret ones masked."""
    extra = frozenset(n.lower() for n in extra_secret_names)
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(n, MASK if _secret_name(n, extra) else v) for n, v in pairs]


def redact_url(url: str) -> str:
    """The URL with a password and secret query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if sep else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _secret_name(k, frozenset()) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each known secret replaced by the mask."""
    for secret in sorted({s for s in secrets if s and len(s) >= _SHORTEST_SECRET}, key=len,
                         reverse=True):
        text = text.replace(secret, MASK)
    return text

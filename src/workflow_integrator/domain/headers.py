"""The header rules: what a header name is, what no header line may hold, and parsing
the "HTTP headers (comma separated)" field into ordered (name, value) pairs."""

from __future__ import annotations

import re
from functools import lru_cache

# RFC 9110 token characters: a header name is one token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# A comma starts a new header only when what follows looks like ``Name:``.
_NEXT_HEADER = re.compile(r",\s*(?=[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*:)")

DEFAULT_HEADERS = "Content-Type: application/json"

IDEMPOTENCY_HEADER = "Idempotency-Key"
DELIVERY_ID_HEADER = "X-WI-Delivery-Id"
WI_OWN_HEADERS = frozenset({IDEMPOTENCY_HEADER.lower(), DELIVERY_ID_HEADER.lower()})
"""Headers WI itself adds to every delivery: ids, never secrets."""


class HeaderError(ValueError):
    """A header text that cannot be sent; the message names the position and the fix."""


_LINE_BREAKERS = (("\r", "CR"), ("\n", "line break"), ("\x00", "NUL"))


def is_header_name(name: str) -> bool:
    """True when ``name`` is one RFC 9110 token, as a header name must be."""
    return bool(_TOKEN.match(name))


def line_breaker(text: str) -> str | None:
    """The kind of the first CR, LF or NUL in ``text`` ("CR", "line break", "NUL"), or None.

    Any of them would end or split a header line (header injection), so no header
    name or value, and no text that ends up in one, may hold them.
    """
    for bad, label in _LINE_BREAKERS:
        if bad in text:
            return label
    return None


def parse_headers(text: str) -> list[tuple[str, str]]:
    """Split the comma-separated header text, keeping commas that belong to a value.

    ``Accept: text/html, application/json`` stays one header because
    `` application/json`` is not followed by a colon.
    """
    return list(_parse_headers(text))


# Pure and called on every read of a server: remember recent answers (as tuples, so
# that no caller can change a cached result).
@lru_cache(maxsize=4096)
def _parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    breaker = line_breaker(text)
    if breaker is not None:
        raise HeaderError(f"headers must not contain a {breaker} character")
    if not text.strip():
        return ()
    headers: list[tuple[str, str]] = []
    for position, chunk in enumerate(_NEXT_HEADER.split(text), start=1):
        item = chunk.strip()
        if not item:
            raise HeaderError(f"header {position} is empty (two commas in a row?)")
        if ":" not in item:
            # Not quoted: a pasted credential without its name would land in the message.
            raise HeaderError(f"header {position} has no ':'; write 'Name: value'")
        name, value = item.split(":", 1)
        name = name.strip()
        if not is_header_name(name):
            raise HeaderError(
                f"header {position}: '{name[:40]}' is not a valid header name "
                "(letters, digits and !#$%&'*+-.^_`|~ only)"
            )
        value = value.strip()
        if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in value):
            raise HeaderError(f"header {position} ('{name}') holds a control character")
        beyond_ascii = next((ch for ch in value if ord(ch) > 0x7E), None)
        if beyond_ascii is not None:
            # HTTP clients send header values as ASCII; anything else fails every request.
            raise HeaderError(
                f"header {position} ('{name}') holds '{beyond_ascii}', which an HTTP header "
                "cannot carry; use ASCII characters only (percent-encode if the server expects it)"
            )
        headers.append((name, value))
    return tuple(headers)


def token_flaw(token: str) -> str | None:
    """What makes ``token`` unfit for ``Authorization: Bearer <token>``, or None.

    A bearer token is one word: no blanks, tabs, line breaks, NUL or other control
    characters (they would split or end the header line). Never quotes the token.
    """
    if not token:
        return "it is empty"
    if "\n" in token or "\r" in token:
        return "it holds a line break"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
        return "it holds blanks or control characters such as TAB or NUL"
    if any(ord(ch) > 0x7E for ch in token):
        return "it holds characters beyond ASCII"
    return None


def format_headers(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """The canonical comma-separated text of parsed headers."""
    return ", ".join(f"{name}: {value}" for name, value in headers)

"""Parsing the "Outbound Host" field: address or DNS name, optional port and base path."""

from __future__ import annotations

import ipaddress
import re
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_SCHEMES = ("http", "https")


class HostError(ValueError):
    """The host text cannot be used; the message says why and how to fix it."""


@dataclass(frozen=True)
class HostTarget:
    """Where an outbound server lives: name or address, port and base path."""

    hostname: str
    port: int | None = None
    base_path: str = ""
    scheme: str | None = None  # only when the user pasted a URL

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 literal, which URLs need in brackets."""
        return ":" in self.hostname

    def netloc(self) -> str:
        """``host[:port]`` as it appears in a URL (IPv6 in brackets)."""
        host = f"[{self.hostname}]" if self.is_ipv6 else self.hostname
        return f"{host}:{self.port}" if self.port is not None else host

    def display(self) -> str:
        """The canonical text of the target, without scheme."""
        return self.netloc() + self.base_path


def _check_hostname(name: str) -> str:
    with suppress(ValueError):  # not an address: judged as a DNS name below
        return str(ipaddress.ip_address(name))
    if len(name) > 253:
        raise HostError("the host name is longer than 253 characters")
    labels = name.rstrip(".").split(".")
    if not name or not all(_LABEL.match(label) for label in labels):
        raise HostError(
            f"'{name}' is not an IP address or DNS name "
            "(letters, digits and hyphens in dot-separated labels)"
        )
    if labels[-1].isdigit():
        raise HostError(f"'{name}' looks like an IPv4 address but is not a valid one")
    return name.lower()


# Pure and called several times per read of a server: remember recent answers.
@lru_cache(maxsize=4096)
def parse_host(text: str) -> HostTarget:
    """Parse ``10.0.0.5``, ``[fd00::5]:8443``, ``itsm.example.com/api`` or a pasted URL."""
    raw = text.strip()
    if not raw:
        raise HostError("enter the outbound server's IP address or DNS name")
    if any(ch.isspace() for ch in raw):
        raise HostError("the host must not contain spaces")
    scheme: str | None = None
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", raw)
    if match:
        scheme = match.group(1).lower()
        if scheme not in _SCHEMES:
            raise HostError(f"scheme '{scheme}://' is not supported; use http:// or https://")
        rest = raw[match.end():]
    else:
        rest = raw
    if "?" in rest or "#" in rest:
        raise HostError("the host must not contain a query (?) or fragment (#)")
    if "@" in rest.split("/", 1)[0]:
        raise HostError("put credentials in the Authentication tab, not in the host")
    head, slash, tail = rest.partition("/")
    if head.count(":") > 1 and not head.startswith("["):
        try:  # a bare IPv6 literal without port is unambiguous
            head = f"[{ipaddress.IPv6Address(head)}]"
        except ValueError:
            raise HostError("write an IPv6 address in brackets, e.g. [fd00::5]:8443") from None
        rest = head + slash + tail
    port_text = head.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in head.rsplit("]", 1)[-1] else ""
    if port_text and (not port_text.isdigit() or not 1 <= int(port_text) <= 65535):
        raise HostError(f"port '{port_text}' is not a number between 1 and 65535")
    try:
        parts = urlsplit("//" + rest)
        hostname = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise HostError(f"invalid port or address: {exc}") from None
    if not hostname:
        raise HostError("enter the outbound server's IP address or DNS name")
    netloc = parts.netloc
    if port is None and netloc.endswith(":"):
        raise HostError("a ':' must be followed by a port number")
    if netloc.startswith("["):
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            raise HostError(f"'{hostname}' is not a valid IPv6 address") from None
    base_path = parts.path.rstrip("/")
    if base_path and "//" in base_path:
        raise HostError("the base path must not contain empty segments ('//')")
    return HostTarget(_check_hostname(hostname), port, base_path, scheme)


def protocol_from_pasted_url(data: Any) -> Any:
    """For a "before" model validator: a pasted URL's scheme sets ``protocol``.

    Given with an explicit, different protocol it is an error that names the host field.
    """
    if not isinstance(data, dict) or not isinstance(data.get("host"), str):
        return data
    try:
        scheme = parse_host(data["host"]).scheme
    except HostError:
        return data  # the host validator reports it
    if scheme is None:
        return data
    protocol = data.get("protocol")
    if protocol is None:
        return {**data, "protocol": scheme}
    if isinstance(protocol, str) and protocol.lower() != scheme:
        raise ValueError(
            f"host: the pasted URL says {scheme}:// but protocol is {protocol}; make them agree"
        )
    return data

"""IP networks as settings write them: comma-separated addresses or CIDR networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.5, 192.168.1.0/24, ::1`` as networks; ValueError naming a bad entry."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"'{part}' is not an IP address or network") from None
    return tuple(networks)


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    """Whether ``address`` (an IP written as text) lies in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)

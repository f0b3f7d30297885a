"""The outbound network policy: which addresses and names WI may connect to.

Pure: parsing the settings and deciding. The outbound transport applies the decision
to the address it actually connects to (after DNS), and to a proxied target as written.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from workflow_integrator.domain.networks import Network, parse_networks

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "WI_OUTBOUND_ALLOW"
DENY_SETTING = "WI_OUTBOUND_DENY"
DENY_LOOPBACK_SETTING = "WI_OUTBOUND_DENY_LOOPBACK"


@dataclass(frozen=True)
class DeniedNetwork:
    """A network WI does not connect to, and why (shown in every refusal)."""

    network: Network
    reason: str


def _denied(text: str, reason: str) -> DeniedNetwork:
    return DeniedNetwork(ipaddress.ip_network(text), reason)


BUILT_IN_DENIED: tuple[DeniedNetwork, ...] = (
    _denied("169.254.0.0/16", "link-local, cloud metadata"),
    _denied("fe80::/10", "IPv6 link-local"),
    _denied("fd00:ec2::254/128", "cloud metadata"),
    _denied("0.0.0.0/8", "unspecified address"),
    _denied("::/128", "unspecified address"),
)
"""Denied unless allowed: cloud metadata services and addresses that mean "this host"."""

LOOPBACK: tuple[DeniedNetwork, ...] = (
    _denied("127.0.0.0/8", f"loopback, denied by {DENY_LOOPBACK_SETTING}"),
    _denied("::1/128", f"loopback, denied by {DENY_LOOPBACK_SETTING}"),
)

DENIED_NAMES: dict[str, str] = {
    "metadata.google.internal": "cloud metadata",
    "metadata.goog": "cloud metadata",
}
"""Names refused as written, before any lookup (they resolve to metadata services)."""

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# What inet_aton accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
_LEGACY_IPV4 = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}$")


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``: what resolvers accept."""
    if not _LEGACY_IPV4.match(text):
        return None
    values = []
    for part in text.split("."):
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if any(ch in "89" for ch in part):
                return None
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for position, value in enumerate(head):
        number += value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> Address | None:
    """The address a host written as an IP literal means, in any spelling a resolver takes.

    ``[::ffff:127.0.0.1]`` is 127.0.0.1; ``0x7f000001`` and ``127.1`` are too. None for a name.
    """
    text = host.strip().strip("[]")
    try:
        return canonical(ipaddress.ip_address(text))
    except ValueError:
        pass
    return _legacy_ipv4(text)


def canonical(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return address


@dataclass(frozen=True)
class NetworkPolicy:
    """Denied and allowed networks; an allowed network wins over a denied one."""

    denied: tuple[DeniedNetwork, ...] = ()
    allowed: tuple[Network, ...] = ()
    deny_loopback: bool = False
    _rules: tuple[DeniedNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rules = (*self.denied, *BUILT_IN_DENIED, *(LOOPBACK if self.deny_loopback else ()))
        object.__setattr__(self, "_rules", rules)

    @classmethod
    def from_settings(cls, deny: str = "", allow: str = "", deny_loopback: bool = False) -> (
        NetworkPolicy
    ):
        """The policy the ``WI_OUTBOUND_*`` settings describe; ValueError names a bad entry."""
        extra = tuple(
            DeniedNetwork(network, f"denied by {DENY_SETTING}") for network in parse_networks(deny)
        )
        return cls(extra, parse_networks(allow), deny_loopback)

    def address_refusal(self, address: Address | str) -> str | None:
        """Why WI must not connect to ``address``, naming the rule; None when it may."""
        ip = canonical(ipaddress.ip_address(address) if isinstance(address, str) else address)
        if any(ip in network for network in self.allowed if network.version == ip.version):
            return None
        for rule in self._rules:
            if rule.network.version == ip.version and ip in rule.network:
                return (
                    f"{ip} is in the denied network {rule.network} ({rule.reason}); "
                    f"allow it with {ALLOW_SETTING}"
                )
        return None

    def host_refusal(self, host: str) -> str | None:
        """Why WI must not connect to ``host`` as written (an IP literal in any spelling,
        or a known name); None when it may, or when only its resolved address can tell."""
        address = literal_address(host)
        if address is not None:
            return self.address_refusal(address)
        name = host.strip().rstrip(".").lower()
        if name in DENIED_NAMES:
            return f"{name} is a denied name ({DENIED_NAMES[name]})"
        if self.deny_loopback and (name in _LOOPBACK_NAMES or name.endswith(".localhost")):
            refusal = self.address_refusal("127.0.0.1")
            return f"{name} is a loopback name: {refusal}" if refusal else None
        return None


DEFAULT_POLICY = NetworkPolicy()
"""The policy without settings: metadata and unspecified addresses denied, loopback allowed."""

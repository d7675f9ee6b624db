"""Which addresses a user-supplied URL may reach: everything public, nothing internal.

An address is blocked when it (or the IPv4 address embedded in it: IPv4-mapped,
-compatible, NAT64, 6to4) is in one of the networks below or is not globally routable by
`ipaddress`'s registry, unless an operator allowed its network (`[outbound] allow_networks`,
for development and tests).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255
        "::/128",  # unspecified
        "::1/128",  # loopback
        "100::/64",  # discard
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local (ULA)
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible ::a.b.c.d


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells, or None for a name.

    `ipaddress` reads the canonical forms; the C library's own parser (numeric hosts only,
    no lookup) reads the others the socket layer would accept, e.g. `2130706433`,
    `0x7f000001`, `127.1` or `0177.0.0.1`, so no spelling slips past as a "name".
    """
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(bare, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0])


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class AddressPolicy:
    """Blocked networks minus the operator's explicitly allowed ones."""

    def __init__(self, allow_networks: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(cidr) for cidr in allow_networks
        )

    def blocked(self, address: IPAddress) -> bool:
        """Whether a connection to `address` must not be made."""
        if self._allowed(address):
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return self.blocked(inner)
        if any(address in network for network in BLOCKED_NETWORKS):
            return True
        return not address.is_global

    def _allowed(self, address: IPAddress) -> bool:
        return any(
            address.version == network.version and address in network for network in self.allowed
        )

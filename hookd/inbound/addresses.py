"""Who is calling (pure): the client's address behind trusted proxies, and `allow_ips`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDR texts as networks (validated by `hookd validate`; a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def parse_address(text: str) -> Address | None:
    """An IP address, IPv4-mapped IPv6 read as the IPv4 it carries; None when `text` is not one."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: Address, nets: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then X-Forwarded-For's,
    read right to left (each proxy appends the address it was called from), skipping trusted hops, up
    to the first address that is not a trusted proxy. A hop that is not an address ends the walk there:
    whatever stands left of it was written by someone no trusted proxy vouches for."""
    current = parse_address(peer)
    if current is None or not trusted or not within(current, trusted):
        return str(current) if current is not None else peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return str(current)
        current = address
        if not within(current, trusted):
            return str(current)
    return str(current)

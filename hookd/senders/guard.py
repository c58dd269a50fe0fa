"""The destination guard: which addresses a templated URL or a redirect may connect to.

An event's data steers a templated URL, and a receiver steers its redirects: either could point a
request (and the credentials it carries) into our own network. So every such request is checked
on the address its socket is about to connect to, after DNS, in the socket factory of a connector
of its own: no second lookup that a rebinding DNS server could answer differently, and IP literals
(which skip the resolver) pass through the same factory. An address is allowed when it is global
(`ipaddress` is_global, and not multicast), judged on the IPv4 address an IPv6 form carries
(IPv4-mapped, IPv4-compatible, 6to4, NAT64), or when it lies within the hook's
`allow_destinations`.

A static URL written in the config is trusted as written and does not come through here.

Behind an outbound proxy the socket goes to the proxy (trusted: the config names it) and the proxy
resolves the destination, so hookd cannot see the address it reaches: there, only a destination
written as an IP address is checked (check_proxied), and the proxy's own egress rules must refuse
internal addresses for names. `hookd validate` warns about it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
# (family, type, proto, canonname, sockaddr) as getaddrinfo gives it and aiohttp passes it on.
AddrInfo = tuple[Any, Any, int, str, tuple[Any, ...]]

KEY = "allow_destinations"

# Cloud instance metadata services: credentials of the machine itself. AWS, GCP, Azure and others
# answer on 169.254.169.254 (link-local anyway), AWS on fd00:ec2::254 over IPv6 (unique-local).
# Azure also answers on 168.63.129.16 (WireServer: the host's agent channel), a public address
# otherwise; Oracle Cloud Classic on 192.0.0.192.
_METADATA = frozenset(
    {IPv4Address("169.254.169.254"), IPv6Address("fd00:ec2::254"), IPv4Address("168.63.129.16"),
     IPv4Address("192.0.0.192")}
)  # fmt: skip
# Special-purpose ranges that older `ipaddress` tables (Python before 3.11.10 and 3.12.4) count as
# global: judged here so the guard does not depend on the patch release it runs on.
_SPECIAL = (
    IPv4Network("192.0.0.0/24"),
    IPv6Network("fec0::/10"),  # site-local, deprecated
    IPv6Network("2001::/23"),  # IETF protocol assignments (Teredo, benchmarking, ORCHID)
    IPv6Network("5f00::/16"),  # SRv6 segment identifiers
    IPv6Network("3fff::/20"),  # documentation
    IPv6Network("100::/64"),  # discard-only
    IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated
)
_SHARED = IPv4Network("100.64.0.0/10")  # carrier-grade NAT: the provider's network, not the internet
_PRIVATE = (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"))
_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_THIS_NETWORK = IPv4Network("0.0.0.0/8")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")  # the well-known prefix: the IPv4 address is the last 32 bits
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # local-use translation: a network of one's own


def unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address reaches (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
    `::a.b.c.d`, 6to4 `2002:AABB:CCDD::/48`, NAT64 `64:ff9b::a.b.c.d`), or the address itself."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    # :: and ::1 are IPv6's own unspecified and loopback addresses, not IPv4-compatible ones.
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _kind(address: IPAddress) -> str | None:
    """What makes `address` not a public one, in words; None when it is public."""
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _SHARED:
        return "carrier-grade NAT"
    if address in _NAT64_LOCAL:
        return "local-use NAT64"
    if address in _UNIQUE_LOCAL or any(address in n for n in _PRIVATE):
        return "private"
    if not address.is_global or any(address in n for n in _SPECIAL):
        return "reserved for special use"
    return None


def why_not_public(address: IPAddress) -> str | None:
    """None when `address` is public; otherwise what it is ("loopback", "private", ...). An IPv6
    form that carries an IPv4 address is judged on that address alone, the way it reaches it."""
    inner = unwrapped(address)
    if inner is address:
        return _kind(address)
    kind = _kind(inner)
    return None if kind is None else f"{kind}: it carries {inner}"


def parse_destination(text: str) -> Network:
    """One `allow_destinations` entry: a network in CIDR form, or one address. Raises ValueError
    with a sentence saying what is wrong."""
    try:
        return ip_network(text.strip(), strict=True)
    except ValueError:
        pass
    try:
        loose = ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a network; write an address or a network in CIDR form, like 10.20.0.0/16 or fd00::/8"
        ) from None
    raise ValueError(f"{text!r} has bits set past its prefix length; write the network as {loose}")


@dataclass(frozen=True, slots=True)
class Destinations:
    """The non-public networks one hook may reach (its allow_destinations). Hashable: the sender keeps
    one guarded connector per distinct set."""

    networks: frozenset[Network] = frozenset()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> Destinations:
        return cls(frozenset(parse_destination(t) for t in texts))

    def refusal(self, address: IPAddress) -> str | None:
        """None when a guarded request may connect to `address`; otherwise why not."""
        kind = why_not_public(address)
        if kind is None:
            return None
        inner = unwrapped(address)
        if any(address in n or inner in n for n in self.networks):
            return None
        return kind


class Watch:
    """What the guard did while one request was connecting: each address it refused (with why), and
    how many it let through. A context manager: the connection attempts made within it, aiohttp's
    happy-eyeballs tasks included (they copy the context they start in), report to it."""

    __slots__ = ("_token", "allowed", "refused")

    def __init__(self) -> None:
        self.refused: list[tuple[IPAddress, str]] = []
        self.allowed = 0
        self._token: Token[Watch | None] | None = None

    def __enter__(self) -> Watch:
        self._token = _WATCH.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _WATCH.reset(self._token)
            self._token = None

    def clear(self) -> None:
        self.refused.clear()
        self.allowed = 0

    @property
    def only_refused(self) -> bool:
        """Every address the request could have reached was refused (not merely unreachable)."""
        return bool(self.refused) and not self.allowed


_WATCH: ContextVar[Watch | None] = ContextVar("hookd_destination_watch", default=None)


class DestinationRefused(OSError):
    """Raised by the socket factory instead of making a socket; aiohttp counts it as that address's
    connection failure (and tries the next address, if any)."""


class GuardedSockets:
    """A socket factory for aiohttp's TCPConnector(socket_factory=...): a socket only for an address
    the hook may reach."""

    __slots__ = ("destinations",)

    def __init__(self, destinations: Destinations) -> None:
        self.destinations = destinations

    def __call__(self, addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        watch = _WATCH.get()
        try:
            address: IPAddress = ip_address(sockaddr[0])
        except ValueError:
            reason: str | None = "not an IP address"
            address = IPv4Address(0)
        else:
            reason = self.destinations.refusal(address)
        if reason is not None:
            if watch is not None:
                watch.refused.append((address, reason))
            raise DestinationRefused(errno.EACCES, f"refused by the destination guard: {sockaddr[0]} is {reason}")
        if watch is not None:
            watch.allowed += 1
        return socket.socket(family=family, type=type_, proto=proto)


def written_address(host: str) -> IPAddress | None:
    """The address a URL's host stands for when it is written as one, in any form a resolver takes
    as an address: `10.0.0.5`, `[::1]`, and the older IPv4 forms `127.1`, `0x7f.0.0.1`, `0177.0.0.1`,
    `2130706433` (inet_aton's). None for a name."""
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def check_proxied(host: str, destinations: Destinations) -> None:
    """The guard for a request that goes through a proxy: a destination written as an IP address (in
    any form, see written_address) is checked, and refused as the socket factory refuses; a name is
    resolved by the proxy, out of hookd's sight. Raises DestinationRefused.

    Proxies read the older IPv4 forms differently (`0127.0.0.1` is octal to one, decimal to another;
    a trailing dot is dropped by some), so behind a proxy a host that ends in a number is taken only
    in the usual dotted form, as the proxy cannot read it otherwise."""
    host = host.rstrip(".") if not host.startswith("[") else host
    address = written_address(host)
    if address is None and _ends_in_a_number(host):
        reason: str | None = _ODD_FORM
        address = IPv4Address(0)
    elif address is None:
        return
    elif isinstance(address, IPv4Address) and str(address) != host:
        reason = _ODD_FORM
    else:
        reason = destinations.refusal(address)
    if reason is None:
        return
    watch = _WATCH.get()
    if watch is not None:
        watch.refused.append((address, reason))
    raise DestinationRefused(errno.EACCES, f"refused by the destination guard: {host} is {reason}")


_ODD_FORM = "an IPv4 address not in the usual dotted form, which proxies read differently"


def _ends_in_a_number(host: str) -> bool:
    """Whether a host's last label is a number (digits, or 0x and hex digits): an IPv4 address to URL
    parsers and resolvers, never a name."""
    last = host.rsplit(".", 1)[-1].lower()
    return last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:]))


def refusal_message(host: str, refused: Sequence[tuple[IPAddress, str]]) -> str:
    """The reason a guarded request failed for good: every address refused, and how to allow them."""
    if any(kind == _ODD_FORM for _, kind in refused):
        return (
            f"refused to connect to {host}: behind a proxy, {_ODD_FORM}; a templated URL or a redirect must write "
            "an IPv4 address as four decimal numbers (like 203.0.113.5)"
        )
    seen: dict[IPAddress, str] = {}
    for address, kind in refused:
        seen.setdefault(address, kind)
    addresses = ", ".join(f"{a} ({kind})" for a, kind in seen.items())
    where = addresses if len(seen) == 1 and str(next(iter(seen))) == host.strip("[]") else f"{host} at {addresses}"
    networks = ", ".join(dict.fromkeys(str(_only(unwrapped(a))) for a in seen))
    return (
        f"refused to connect to {where}: a templated URL or a redirect may only reach public addresses. "
        f"If this receiver is meant, add {networks} to the hook's {KEY}"
    )


def _only(address: IPAddress) -> Network:
    """The network of just this address (an IPv6 zone, such as %eth0, left out)."""
    if isinstance(address, IPv4Address):
        return IPv4Network((int(address), 32))
    return IPv6Network((int(address), 128))


__all__ = [
    "KEY",
    "DestinationRefused",
    "Destinations",
    "GuardedSockets",
    "Watch",
    "check_proxied",
    "parse_destination",
    "refusal_message",
    "unwrapped",
    "why_not_public",
]

"""The destination guard's address classifier (hookd.senders.guard): public addresses pass, every
non-public kind is refused, IPv6 forms that carry an IPv4 address are judged on it, and
allow_destinations lets exactly its networks through. Property tests (hypothesis, `ci` profile)."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.senders.guard import (
    DestinationRefused,
    Destinations,
    GuardedSockets,
    Watch,
    parse_destination,
    unwrapped,
    why_not_public,
)

# Each kind of address the guard must refuse, by the network it spans.
REFUSED_V4 = [
    "0.0.0.0/8",  # this network, 0.0.0.0 included
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, the metadata address 169.254.169.254 included
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, the broadcast address included
]
REFUSED_V6 = ["::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b:1::/48"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::200e"]


def mapped(a: IPv4Address) -> IPv6Address:
    return IPv6Address(0xFFFF << 32 | int(a))


def compatible(a: IPv4Address) -> IPv6Address:
    return IPv6Address(int(a))


def six_to_four(a: IPv4Address, host: int) -> IPv6Address:
    return IPv6Address(0x2002 << 112 | int(a) << 80 | host)


def nat64(a: IPv4Address) -> IPv6Address:
    return IPv6Address(0x64FF9B << 96 | int(a))


def in_network(cidrs: list[str]) -> st.SearchStrategy[IPv4Address | IPv6Address]:
    """Any address inside one of `cidrs`."""

    def pick(network: IPv4Network | IPv6Network) -> st.SearchStrategy[IPv4Address | IPv6Address]:
        first = int(network.network_address)
        return st.integers(first, first + network.num_addresses - 1).map(
            lambda n: IPv4Address(n) if network.version == 4 else IPv6Address(n)
        )

    return st.sampled_from([ip_network(c) for c in cidrs]).flatmap(pick)


ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)


@given(in_network(REFUSED_V4 + REFUSED_V6))
def test_every_non_public_kind_is_refused(address: IPv4Address | IPv6Address) -> None:
    """1. Any address within loopback, 0.0.0.0/8, ::, private, fc00::/7, link-local, CGNAT,
       multicast or reserved space.
    2. Refused when nothing is allowed, with a word for what it is."""
    assert Destinations().refusal(address) is not None


@given(ipv4, st.integers(0, 2**80 - 1))
def test_forms_that_carry_an_ipv4_address_are_judged_on_it(a: IPv4Address, host: int) -> None:
    """1. Any IPv4 address, and its IPv4-mapped, IPv4-compatible, 6to4 and NAT64 forms.
    2. Each form unwraps to it, and is refused exactly when the IPv4 address is (the reason saying
       which address it carries)."""
    forms = [mapped(a), six_to_four(a, host), nat64(a)]
    if int(a) > 1:  # :: and ::1 are IPv6's own unspecified and loopback addresses
        forms.append(compatible(a))
    verdict = why_not_public(a)
    for form in forms:
        assert unwrapped(form) == a
        refused = why_not_public(form)
        assert (refused is None) == (verdict is None), (form, refused, verdict)
        if refused is not None:
            assert refused == f"{verdict}: it carries {a}"


@given(in_network(REFUSED_V4))
def test_an_allowed_network_lets_its_addresses_through_in_every_form(a: IPv4Address) -> None:
    """1. A non-public IPv4 address and allow_destinations holding just its /32.
    2. It passes in every form that carries it; its neighbour, outside the /32, is still refused."""
    allow = Destinations.parse([f"{a}/32"])
    for form in (a, mapped(a), nat64(a), six_to_four(a, 1)):
        assert allow.refusal(form) is None
    neighbour = IPv4Address(int(a) ^ 1)
    assert allow.refusal(neighbour) is not None


@given(in_network(REFUSED_V6))
def test_an_allowed_ipv6_network_lets_its_addresses_through(a: IPv6Address) -> None:
    """1. A non-public IPv6 address and allow_destinations holding its network, or an IPv4 one.
    2. It passes with its own network only."""
    network = next(n for n in map(ip_network, REFUSED_V6) if a in n)
    assert Destinations.parse([str(network)]).refusal(a) is None
    assert Destinations.parse(["127.0.0.0/8", "10.0.0.0/8"]).refusal(a) is not None


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address: it carries 169.254.169.254"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("10.1.2.3", "private"),
        ("fd12::1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("fe80::1%eth0", "link-local"),
        ("192.0.2.1", "reserved for special use"),
        ("::ffff:127.0.0.1", "loopback: it carries 127.0.0.1"),
        ("2002:7f00:1::", "loopback: it carries 127.0.0.1"),
        ("64:ff9b::a00:1", "private: it carries 10.0.0.1"),
        # Metadata services on otherwise public addresses (Azure WireServer, Oracle Cloud Classic).
        ("168.63.129.16", "a cloud metadata address"),
        ("192.0.0.192", "a cloud metadata address"),
        # Special-purpose ranges older ipaddress tables count as global: refused on every Python.
        ("192.0.0.8", "reserved for special use"),
        ("fec0::1", "reserved for special use"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved for special use"),  # Teredo
        ("5f00::1", "reserved for special use"),  # SRv6
        ("3fff::1", "reserved for special use"),  # documentation
        ("100::1", "reserved for special use"),  # discard-only
        ("::ffff:0:a00:1", "reserved for special use"),  # IPv4-translated
    ],
)
def test_each_kind_is_named(address: str, kind: str) -> None:
    """The reason says what the address is, so a refusal is understood at a glance."""
    assert why_not_public(ip_address(address)) == kind


@pytest.mark.parametrize("address", [*PUBLIC, "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_pass(address: str) -> None:
    assert why_not_public(ip_address(address)) is None
    assert Destinations().refusal(ip_address(address)) is None


def test_allow_destinations_entries_are_parsed_or_explained() -> None:
    """A CIDR or one address is a network; host bits past the prefix, or text that is no network,
    is a sentence saying what to write instead."""
    assert parse_destination("10.20.0.0/16") == IPv4Network("10.20.0.0/16")
    assert parse_destination("::1") == IPv6Network("::1/128")
    with pytest.raises(ValueError, match=r"'10.20.0.1/16' has bits set past its prefix length; write .* 10.20.0.0/16"):
        parse_destination("10.20.0.1/16")
    with pytest.raises(ValueError, match=r"'intranet' is not a network; write an address or a network in CIDR form"):
        parse_destination("intranet")


def test_the_socket_factory_refuses_before_making_a_socket_and_reports_it() -> None:
    """1. The guard's socket factory is handed a loopback addrinfo, then a public one.
    2. The first raises DestinationRefused (an OSError, so aiohttp tries the next address) and is
       reported to the watch; the second gets a socket of the family asked for."""
    factory = GuardedSockets(Destinations())
    with Watch() as watch:
        with pytest.raises(DestinationRefused):
            factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
        sock = factory((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1111", 443, 0, 0)))
        sock.close()
    assert watch.refused == [(IPv4Address("127.0.0.1"), "loopback")]
    assert watch.allowed == 1 and not watch.only_refused
    assert sock.family == socket.AF_INET6

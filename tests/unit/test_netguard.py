"""The SSRF guard's address classifier, numeric-host parser and socket check."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsline.ingest.netguard import (
    AddressGuard,
    BlockedAddressError,
    ConnectTo,
    address_problem,
    parse_ipv4_number,
)

#: IPv4 ranges that are never public: loopback, private, link-local, "this network",
#: shared (CGNAT), multicast, reserved, documentation, benchmarking, broadcast.
NON_PUBLIC_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "0.0.0.0/8",
    "100.64.0.0/10",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "192.0.2.0/24",
    "198.18.0.0/15",
]


def _in(network: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.IPv4Network(network)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(
        ipaddress.IPv4Address
    )


non_public_v4 = st.sampled_from(NON_PUBLIC_V4).flatmap(_in)
any_v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
u16 = st.integers(0, 0xFFFF)


@st.composite
def v6_embedding(draw: st.DrawFn, v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    """An IPv6 address carrying ``v4`` in one of the forms that embed IPv4."""
    n = int(v4)
    form = draw(
        st.sampled_from(
            [
                "mapped",
                "translated",
                "compatible",
                "nat64",
                "6to4",
                "teredo-client",
                "teredo-server",
            ]
        )
    )
    if form == "mapped":
        value = 0xFFFF << 32 | n
    elif form == "translated":
        value = 0xFFFF << 48 | n
    elif form == "compatible":
        value = n
    elif form == "nat64":
        value = 0x0064FF9B << 96 | n
    elif form == "6to4":
        value = 0x2002 << 112 | n << 80 | draw(st.integers(0, 2**80 - 1))
    else:
        other = int(draw(any_v4))
        server, client = (other, n) if form == "teredo-client" else (n, other)
        flags, port = draw(u16), draw(u16)
        value = 0x20010000 << 96 | server << 64 | flags << 48 | port << 32 | (client ^ 0xFFFFFFFF)
    return ipaddress.IPv6Address(value)


@given(st.data())
def test_every_ipv6_form_embedding_a_non_public_ipv4_is_refused(data: st.DataObject) -> None:
    v4 = data.draw(non_public_v4)
    v6 = data.draw(v6_embedding(v4))
    problem = address_problem(v6)
    assert problem is not None, v6
    if int(v6) > 1:  # :: and ::1 are refused as themselves, not as IPv4-compatible
        # The reason names a non-public IPv4 the address carries: ours, or (Teredo carries
        # two) the other one when that is not public either.
        named = ipaddress.IPv4Address(problem.split(" embedding ")[1].split(",")[0])
        assert named == v4 or (problem.startswith("a Teredo") and address_problem(named)), (
            v6,
            problem,
        )
    guard = AddressGuard([], allow_private=False)
    with pytest.raises(BlockedAddressError, match=r"^refused: "):
        guard.socket_factory((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (str(v6), 80, 0, 0)))


@given(st.integers(0, 2**80 - 1))
def test_local_use_nat64_is_refused(low: int) -> None:
    v6 = ipaddress.IPv6Address(0x0064FF9B0001 << 80 | low)
    assert address_problem(v6) is not None


@given(non_public_v4)
def test_non_public_ipv4_is_refused(v4: ipaddress.IPv4Address) -> None:
    assert address_problem(v4) is not None


@pytest.mark.parametrize(
    "addr",
    [
        "8.8.8.8",
        "93.184.215.14",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(addr: str) -> None:
    assert address_problem(ipaddress.ip_address(addr)) is None


@pytest.mark.parametrize(
    ("addr", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fd00::1", "a private (unique local) address"),
        ("2001:db8::1", "a special-purpose address (not globally routable)"),
        ("2002:7f00:1::", "a 6to4 address embedding 127.0.0.1, a loopback address"),
        ("64:ff9b::a00:1", "a NAT64 address embedding 10.0.0.1, a private address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address embedding 192.0.2.45"),
        ("::808:808", "an IPv4-compatible address (not globally routable)"),
    ],
)
def test_problems_are_named(addr: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(addr))
    assert found is not None and found.startswith(problem), found


@st.composite
def ipv4_spelling(draw: st.DrawFn, v4: ipaddress.IPv4Address) -> str:
    """``v4`` in a random legacy notation: 1-4 parts, each decimal, octal or hex."""
    n = int(v4)
    count = draw(st.integers(1, 4))
    head = [(n >> (8 * (3 - i))) & 0xFF for i in range(count - 1)]
    last = n & (2 ** (8 * (5 - count)) - 1)
    parts = []
    for value in [*head, last]:
        base = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
        if base == "dec":
            parts.append(str(value))
        elif base == "oct":
            parts.append("0" + format(value, "o"))
        else:
            parts.append(("0x" if base == "hex" else "0X") + format(value, "x"))
    return ".".join(parts) + draw(st.sampled_from(["", "."]))


@given(st.data())
def test_numeric_hosts_parse_as_inet_aton_reads_them(data: st.DataObject) -> None:
    v4 = data.draw(any_v4)
    spelling = data.draw(ipv4_spelling(v4))
    assert parse_ipv4_number(spelling) == v4, spelling
    assert socket.inet_aton(spelling.rstrip(".")) == v4.packed


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "08.0.0.1", "0x", "1..2", "٣.1"])
def test_names_and_malformed_numbers_are_not_addresses(host: str) -> None:
    assert parse_ipv4_number(host) in (None, ipaddress.IPv4Address(0))
    if host != "0x":
        assert parse_ipv4_number(host) is None


def test_check_host_names_the_address_a_spelling_means() -> None:
    guard = AddressGuard([], allow_private=False)
    with pytest.raises(BlockedAddressError, match=r"refused: 0x7f\.1 is 127\.0\.0\.1 .*loopback"):
        guard.check_host("0x7f.1", 80)
    with pytest.raises(BlockedAddressError, match="not a canonical IPv4 address"):
        guard.check_host("134744072", 80)  # 8.8.8.8, public, but not spelled canonically
    guard.check_host("8.8.8.8", 80)
    guard.check_host("news.example", 80)  # names are judged by what they resolve to
    AddressGuard([], allow_private=True).check_host("127.0.0.1", 80)


def test_connect_to_targets_are_trusted_for_their_port_only() -> None:
    rules = [ConnectTo.parse("*:443:127.0.0.1:8443"), ConnectTo.parse("a.example::[::1]:")]
    guard = AddressGuard(rules, allow_private=False)
    assert guard.problem("127.0.0.1", 8443) is None
    assert guard.problem("127.0.0.1", 443) == "a loopback address"
    assert guard.problem("::1", 6379) is None  # a rule with no ports trusts every port

"""Where a URL may connect: the SSRF guard and curl-style ``connect_to`` mappings.

The guard decides on the address a socket is about to connect to, after every
normalisation of the URL's host (yarl folds ``127。0。0。1`` and ``①②⑦.0.0.1`` into
``127.0.0.1``) and on every redirect hop: :meth:`AddressGuard.socket_factory` is given to
aiohttp's connector and sees each ``(address, port)`` just before ``connect()``, so no
spelling of a host and no DNS rebinding between a check and the connection gets past it.
Two earlier checks only make the refusal precise: :meth:`AddressGuard.check_host` on the
host exactly as aiohttp will use it (legacy numeric IPv4 spellings included), and
:class:`GuardedResolver` on what a name resolves to.

IPv6 forms that carry an IPv4 address (IPv4-mapped, -compatible and -translated, 6to4,
NAT64, Teredo) are judged by the IPv4 address they carry as well.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Appended to every refusal, so the operator knows the switch.
_SWITCH = "(fetch.allow_private is off, so private or local addresses are refused)"


class BlockedAddressError(OSError):
    """The host is, spells or resolves to an address newsline refuses to connect to."""


@dataclass(frozen=True)
class ConnectTo:
    """One ``HOST:PORT:ADDR:PORT`` rule; an empty or ``*`` HOST / empty PORT matches any."""

    host: str
    port: int | None
    to_addr: str
    to_port: int | None

    @classmethod
    def parse(cls, rule: str) -> ConnectTo:
        """Parse ``HOST:PORT:ADDR:PORT`` (IPv6 addresses in brackets)."""
        parts = _split_rule(rule)
        if len(parts) != 4:
            raise ValueError(
                f"connect_to rule {rule!r} must look like HOST:PORT:ADDR:PORT (e.g. *:443:127.0.0.1:8443)"
            )
        host, port, addr, to_port = parts
        try:
            return cls(
                host="" if host in ("", "*") else host.lower(),
                port=int(port) if port else None,
                to_addr=addr.strip("[]"),
                to_port=int(to_port) if to_port else None,
            )
        except ValueError as exc:
            raise ValueError(f"connect_to rule {rule!r}: ports must be numbers") from exc

    def matches(self, host: str, port: int) -> bool:
        return (not self.host or self.host == host.lower()) and (self.port in (None, port))


def _split_rule(rule: str) -> list[str]:
    parts: list[str] = []
    buf = ""
    depth = 0
    for ch in rule.strip():
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == ":" and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    return parts


_V4_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_V4_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_V4_PRIVATE = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V6_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_V6_COMPATIBLE = ipaddress.IPv6Network("::/96")
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V6_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_V6_TEREDO = ipaddress.IPv6Network("2001::/32")
_V6_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def ipv4_problem(ip: ipaddress.IPv4Address) -> str | None:
    """Why an IPv4 address is not a public unicast one (``"a loopback address"``), or None."""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip in _V4_THIS_NETWORK:
        return "a 'this network' address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if any(ip in net for net in _V4_PRIVATE):
        return "a private address"
    if ip in _V4_SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a special-purpose address (not globally routable)"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of its form."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V6_MAPPED:
        return [("an IPv4-mapped", low32)]
    if ip in _V6_TRANSLATED:
        return [("an IPv4-translated", low32)]
    if ip in _V6_COMPATIBLE and int(ip) > 1:  # :: and ::1 are not IPv4-compatible
        return [("an IPv4-compatible", low32)]
    if ip in _V6_NAT64:
        return [("a NAT64", low32)]
    if ip.sixtofour is not None:
        return [("a 6to4", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("a Teredo", client), ("a Teredo", server)]
    return []


def ipv6_problem(ip: ipaddress.IPv6Address) -> str | None:
    """Why an IPv6 address is not a public unicast one, judging embedded IPv4 too, or None."""
    embedded = embedded_ipv4(ip)
    for form, v4 in embedded:
        problem = ipv4_problem(v4)
        if problem is not None:
            return f"{form} address embedding {v4}, {problem}"
    if embedded and embedded[0][0] in ("an IPv4-mapped", "a NAT64"):
        return None  # the connection goes to that public IPv4 address
    if ip in _V6_TEREDO:
        return "a Teredo address (a tunnel endpoint, not globally routable)"
    if (ip in _V6_COMPATIBLE and int(ip) > 1) or ip in _V6_TRANSLATED:
        return f"{embedded[0][0]} address (not globally routable)"
    if ip in _V6_NAT64_LOCAL:
        return "a local-use NAT64 address (not globally routable)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_site_local:
        return "a site-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip in _V6_UNIQUE_LOCAL:
        return "a private (unique local) address"
    if ip not in _V6_GLOBAL_UNICAST:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a special-purpose address (not globally routable)"
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why newsline would not connect to ``ip`` with ``fetch.allow_private`` off, or None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ipv4_problem(ip)
    return ipv6_problem(ip)


_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def parse_ipv4_number(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host means, in any legacy spelling, or None.

    ``inet_aton`` and the WHATWG URL standard accept decimal (``2130706433``), octal
    (``0177.0.0.1``), hex (``0x7f.0.0.1``), short (``127.1``) and trailing-dot forms.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    numbers = [_ipv4_part_value(p) for p in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_part_value(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part[0] == "0":
        return int(part, 8)
    return int(part)


def _ip(addr: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(addr)
    except ValueError:
        return None


def _normal(addr: str) -> str:
    ip = _ip(addr)
    return str(ip) if ip is not None else addr.lower()


class AddressGuard:
    """The SSRF policy: which ``(address, port)`` newsline may open a connection to.

    Public unicast addresses always; anything with ``allow_private``; otherwise also the
    exact targets of the operator's ``connect_to`` rules (address and port; a rule with
    neither port trusts every port of its address), since those are explicit choices.
    """

    def __init__(self, rules: list[ConnectTo], *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._trusted = {(_normal(r.to_addr), r.to_port or r.port) for r in rules}

    def problem(self, addr: str, port: int) -> str | None:
        """Why connecting to ``addr:port`` is refused (``"a loopback address"``), or None."""
        if self.allow_private:
            return None
        key = _normal(addr)
        if (key, port) in self._trusted or (key, None) in self._trusted:
            return None
        ip = _ip(addr)
        if ip is None:
            return "not a numeric address"
        return address_problem(ip)

    def check_host(self, host: str, port: int) -> None:
        """Refuse a URL host, as aiohttp will use it, that is or spells a refused address.

        Numeric hosts not in canonical dotted-decimal form are refused whatever the
        setting: they are how guards get fooled, and aiohttp rejects most of them anyway.
        """
        number = parse_ipv4_number(host)
        if number is not None and host != str(number):
            problem = self.problem(str(number), port)
            if problem is not None:
                raise BlockedAddressError(
                    f"refused: {host} is {number} (non-canonical notation), {problem} {_SWITCH}"
                )
            raise BlockedAddressError(
                f"refused: {host} is not a canonical IPv4 address (it means {number})"
            )
        if _ip(host) is not None:
            problem = self.problem(host, port)
            if problem is not None:
                raise BlockedAddressError(f"refused: {host} is {problem} {_SWITCH}")

    def check_resolved(self, host: str, results: list[ResolveResult]) -> list[ResolveResult]:
        """The resolved addresses that may be connected to; refuse when there are none."""
        allowed = [r for r in results if self.problem(r["host"], r["port"]) is None]
        if allowed or not results:
            return allowed
        refused: dict[str, str] = {}
        for r in sorted(results, key=lambda r: r["family"] != socket.AF_INET):
            refused.setdefault(r["host"], self.problem(r["host"], r["port"]) or "")
        listed = "; ".join(f"{addr}, {problem}" for addr, problem in refused.items())
        raise BlockedAddressError(f"refused: {host} resolves to {listed} {_SWITCH}")

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's ``socket_factory``: the last word, on the address ``connect()`` gets."""
        family, type_, proto, _canonname, sockaddr = addr_info
        addr, port = str(sockaddr[0]), int(sockaddr[1])
        problem = self.problem(addr, port)
        if problem is not None:
            raise BlockedAddressError(f"refused: {addr} is {problem} {_SWITCH}")
        return socket.socket(family=family, type=type_, proto=proto)


class GuardedResolver(AbstractResolver):
    """Resolve through ``connect_to`` rules first, then DNS, keeping only allowed addresses."""

    def __init__(self, rules: list[ConnectTo], guard: AddressGuard) -> None:
        self._rules = rules
        self._guard = guard
        self._dns = ThreadedResolver()

    def mapped(self, host: str, port: int) -> tuple[str, int] | None:
        """The (address, port) a ``connect_to`` rule sends this host:port to, if any."""
        for rule in self._rules:
            if rule.matches(host, port):
                return rule.to_addr, rule.to_port or port
        return None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = self.mapped(host, port)
        if target is not None:
            # An operator's explicit mapping is trusted, like curl's --connect-to.
            addr, to_port = target
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            return [
                ResolveResult(
                    hostname=host,
                    host=addr,
                    port=to_port,
                    family=fam,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            ]
        return self._guard.check_resolved(host, await self._dns.resolve(host, port, family))

    async def close(self) -> None:
        await self._dns.close()


def describe(obj: Any) -> str:
    """A short, readable description of an exception for logs and fetch state."""
    text = str(obj).strip() or obj.__class__.__name__
    return text if len(text) < 500 else text[:497] + "..."

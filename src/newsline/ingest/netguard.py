"""Where a URL may connect: the SSRF guard and curl-style ``connect_to`` mappings."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class BlockedAddressError(OSError):
    """The host resolves to an address newsline refuses to connect to."""


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


def is_public_address(addr: str) -> bool:
    """True for a globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


class GuardedResolver(AbstractResolver):
    """Resolve through ``connect_to`` rules first, then DNS, refusing private addresses."""

    def __init__(self, rules: list[ConnectTo], *, allow_private: bool) -> None:
        self._rules = rules
        self._allow_private = allow_private
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
        results = await self._dns.resolve(host, port, family)
        if not self._allow_private:
            public = [r for r in results if is_public_address(r["host"])]
            if not public:
                addrs = ", ".join(sorted({r["host"] for r in results}))
                raise BlockedAddressError(
                    f"{host} resolves to a private or local address ({addrs}); "
                    "set fetch.allow_private = true to allow it"
                )
            results = public
        return results

    async def close(self) -> None:
        await self._dns.close()


def check_ip_literal(host: str, *, allow_private: bool, rules: list[ConnectTo], port: int) -> None:
    """aiohttp skips the resolver for IP literals, so check those here."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if allow_private or any(r.matches(host, port) for r in rules):
        return
    if not is_public_address(host.strip("[]")):
        raise BlockedAddressError(
            f"{host} is a private or local address; set fetch.allow_private = true to allow it"
        )


def describe(obj: Any) -> str:
    """A short, readable description of an exception for logs and fetch state."""
    text = str(obj).strip() or obj.__class__.__name__
    return text if len(text) < 500 else text[:497] + "..."

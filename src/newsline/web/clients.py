"""Who is asking, and over what: the client's IP and scheme behind trusted proxies; cookies.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the connection comes
from one of ``web.trusted_proxies`` (nginx on loopback by default); from anyone else they
are ignored, so a client cannot pick its own IP (and budget) or claim TLS it does not have.
Every cookie the site sets is ``HttpOnly`` and ``SameSite=Lax``, and ``Secure`` whenever
the request came over TLS.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache

from fastapi import Request
from starlette.responses import Response

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _trusted(host: str, trusted: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(trusted))


def _trusted_of(request: Request) -> tuple[str, ...]:
    return tuple(request.app.state.site.settings.web.trusted_proxies)


def _peer(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def client_ip(request: Request) -> str:
    """The client's IP: the connection's peer, or behind trusted proxies the last address in
    ``X-Forwarded-For`` that is not itself a trusted proxy."""
    trusted = _trusted_of(request)
    host = _peer(request)
    if not _trusted(host, trusted):
        return host
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return host  # garbage from a proxy: the proxy is the best we know
        host = hop
    return host


def client_key(request: Request) -> str:
    """A short stable pseudonym of the client's IP, for rows that must not store the IP."""
    return hashlib.blake2b(client_ip(request).encode(), digest_size=12).hexdigest()


def is_tls(request: Request) -> bool:
    """Whether the request reached us over TLS (``X-Forwarded-Proto`` from trusted proxies)."""
    if _trusted(_peer(request), _trusted_of(request)):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto:
            return proto in ("https", "wss")
    return request.url.scheme in ("https", "wss")


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None
) -> None:
    """Set a cookie the site's way: HttpOnly, SameSite=Lax, Secure over TLS, path ``/``."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=is_tls(request),
        samesite="lax",
    )

"""The SSRF guard against a loopback canary that must never be reached.

Every case runs the real :class:`Fetcher` (feeds and pages, so the robots.txt step is
covered too) and asserts two things: the fetch is refused with a reason naming the
address and why (never "robots.txt disallows"), and the canary saw no request at all.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from newsline.config import FetchSettings
from newsline.ingest.fetch import BlockedURLError, Fetcher
from newsline.ingest.netguard import GuardedResolver

#: A name the tests' own DNS (a patched getaddrinfo) answers with loopback.
PRIVATE_NAME = "intranet.ssrf.test"
#: A name whose first answer is public and every later answer loopback.
REBINDING_NAME = "rebind.ssrf.test"


class Canary:
    """A loopback HTTP server recording every request it receives."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.host}{request.path_qs}")
        return web.Response(text="the secret")


class Redirector:
    """The loopback server behind the public-looking ``news.example``: it answers redirects."""

    def __init__(self) -> None:
        self.port = 0

    async def robots(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def go(self, request: web.Request) -> web.Response:
        # The raw target, Unicode and all, as a hostile publisher would send it.
        return web.Response(status=302, headers={"Location": request.query["to"]})


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    c = Canary()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", c.handle)
    runner, c.port = await _serve(app)
    yield c
    await runner.cleanup()


@pytest.fixture
async def redirector() -> AsyncIterator[Redirector]:
    r = Redirector()
    app = web.Application()
    app.router.add_get("/robots.txt", r.robots)
    app.router.add_get("/go", r.go)
    runner, r.port = await _serve(app)
    yield r
    await runner.cleanup()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Answer the ``*.ssrf.test`` names locally; count the lookups of each."""
    real: Callable[..., Any] = socket.getaddrinfo
    lookups: dict[str, int] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.rstrip(".").endswith(".ssrf.test"):
            return real(host, port, *args, **kwargs)
        name = name.rstrip(".")
        lookups[name] = lookups.get(name, 0) + 1
        addr = "127.0.0.1"
        if name == REBINDING_NAME and lookups[name] == 1:
            addr = "93.184.215.14"  # public on the first look, loopback from then on
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def settings(**kw: object) -> FetchSettings:
    base: dict[str, object] = {"min_host_delay": 0.0, "retries": 0, "connect_timeout": 2.0}
    base.update(kw)
    return FetchSettings.model_validate(base)


#: (host as written in the URL, what the refusal must name). The port is the canary's.
ENCODINGS = [
    ("127\u30020\u30020\u30021", "127.0.0.1 is a loopback address"),  # ideographic full stop
    ("127\uff0e0\uff0e0\uff0e1", "127.0.0.1 is a loopback address"),  # full-width full stop
    ("127\uff610\uff610\uff611", "127.0.0.1 is a loopback address"),  # halfwidth ideographic
    ("\u2460\u2461\u2466.0.0.1", "loopback"),  # enclosed digits, NFKC -> 127.0.0.1
    ("2130706433", "2130706433 is 127.0.0.1"),  # decimal
    ("0177.0.0.1", "0177.0.0.1 is 127.0.0.1"),  # octal
    ("0x7f.0.0.1", "0x7f.0.0.1 is 127.0.0.1"),  # hex
    ("0x7f000001", "0x7f000001 is 127.0.0.1"),  # hex, one number
    ("127.1", "127.1 is 127.0.0.1"),  # short form
    ("127.000.000.001", "is 127.0.0.1"),  # zero-padded
    ("127.0.0.1.", "is 127.0.0.1"),  # trailing dot
    ("127\u30020\u30020\u30021\u3002", "is 127.0.0.1"),  # Unicode dots, trailing dot
    ("0", "0 is 0.0.0.0"),  # 0.0.0.0 reaches loopback on Linux
    ("0.0.0.0", "0.0.0.0 is an unspecified address"),
    ("127.0.0.1", "127.0.0.1 is a loopback address"),
    ("[::1]", "::1 is a loopback address"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped address embedding 127.0.0.1, a loopback address"),
    ("[0:0:0:0:0:ffff:7f00:1]", "IPv4-mapped address embedding 127.0.0.1"),
    ("[::127.0.0.1]", "IPv4-compatible address embedding 127.0.0.1, a loopback"),
    ("[::ffff:0:127.0.0.1]", "IPv4-translated address embedding 127.0.0.1, a loopback"),
    ("[2002:7f00:1::]", "6to4 address embedding 127.0.0.1, a loopback address"),
    ("[2002:a00:1:1::1]", "6to4 address embedding 10.0.0.1, a private address"),
    ("[64:ff9b::7f00:1]", "NAT64 address embedding 127.0.0.1, a loopback address"),
    ("[64:ff9b::10.0.0.1]", "NAT64 address embedding 10.0.0.1, a private address"),
    # Teredo: public server 65.54.227.120, client 127.0.0.1 stored XOR 0xffffffff.
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "Teredo address embedding 127.0.0.1"),
    ("[2001:0:7f00:1:8000:63bf:f7f7:f7f7]", "Teredo address embedding 127.0.0.1"),
    ("localhost", "localhost resolves to 127.0.0.1, a loopback address"),
    (PRIVATE_NAME, f"{PRIVATE_NAME} resolves to 127.0.0.1, a loopback address"),
    (PRIVATE_NAME + ".", "resolves to 127.0.0.1, a loopback address"),
]


def _assert_refused(exc: BlockedURLError, expected: str) -> None:
    text = str(exc)
    assert text.startswith("refused: "), text
    assert expected in text, text
    assert "robots" not in text, text


@pytest.mark.usefixtures("fake_dns")
@pytest.mark.parametrize("kind", ["feed", "page"])
@pytest.mark.parametrize(("host", "expected"), ENCODINGS, ids=[h for h, _ in ENCODINGS])
async def test_every_encoding_is_refused_and_never_reaches_the_canary(
    canary: Canary, host: str, expected: str, kind: str
) -> None:
    async with Fetcher(settings()) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(f"http://{host}:{canary.port}/secret", kind=kind)  # type: ignore[arg-type]
    _assert_refused(info.value, expected)
    assert canary.requests == []


@pytest.mark.usefixtures("fake_dns")
@pytest.mark.parametrize("kind", ["feed", "page"])
@pytest.mark.parametrize(("host", "expected"), ENCODINGS, ids=[h for h, _ in ENCODINGS])
async def test_every_encoding_is_refused_after_a_redirect(
    canary: Canary, redirector: Redirector, host: str, expected: str, kind: str
) -> None:
    # news.example stands for a public site: the operator's connect_to rule sends it to
    # the redirector (trusted, like curl --connect-to); the redirect target is not trusted.
    rules = [f"news.example:80:127.0.0.1:{redirector.port}"]
    target = f"http://{host}:{canary.port}/secret"
    async with Fetcher(settings(connect_to=rules)) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(f"http://news.example/go?to={quote(target)}", kind=kind)  # type: ignore[arg-type]
    _assert_refused(info.value, expected)
    assert info.value.url.endswith("/secret"), info.value.url  # the hop that was refused
    assert canary.requests == []


async def test_rebinding_between_a_check_and_the_connection_is_refused(
    canary: Canary, fake_dns: dict[str, int]
) -> None:
    # Someone checks the name first (as a form or `sources add` might) and sees a public
    # address; by the time the fetcher connects, the name answers loopback.
    first = socket.getaddrinfo(REBINDING_NAME, canary.port)
    assert first[0][4][0] == "93.184.215.14"
    async with Fetcher(settings()) as f:
        for kind in ("feed", "page"):
            with pytest.raises(BlockedURLError) as info:
                await f.get(f"http://{REBINDING_NAME}:{canary.port}/secret", kind=kind)  # type: ignore[arg-type]
            _assert_refused(info.value, f"{REBINDING_NAME} resolves to 127.0.0.1, a loopback")
    assert fake_dns[REBINDING_NAME] >= 2
    assert canary.requests == []


async def test_the_socket_check_holds_when_the_resolver_lets_a_private_address_through(
    canary: Canary, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the name stage concluded, the address handed to connect() is checked again:
    # a resolver answering loopback unchecked (a rebinding between check and use) is refused.
    async def unchecked(self: GuardedResolver, host: str, port: int = 0, family: Any = 0) -> Any:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    monkeypatch.setattr(GuardedResolver, "resolve", unchecked)
    async with Fetcher(settings()) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(f"http://public.example:{canary.port}/secret")
    _assert_refused(info.value, "127.0.0.1 is a loopback address")
    assert canary.requests == []


async def test_a_refused_page_is_not_reported_as_a_robots_refusal(canary: Canary) -> None:
    async with Fetcher(settings()) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(f"http://127\u30020\u30020\u30021:{canary.port}/article", kind="page")
    assert "robots" not in str(info.value)
    assert info.value.url.endswith("/article")
    assert canary.requests == []


async def test_allow_private_still_reaches_loopback_in_every_spelling(canary: Canary) -> None:
    async with Fetcher(settings(allow_private=True)) as f:
        for host in ("127.0.0.1", "127\u30020\u30020\u30021", "localhost"):
            result = await f.get(f"http://{host}:{canary.port}/secret")
            assert result.body == b"the secret"
    assert len(canary.requests) == 3


async def test_connect_to_targets_are_trusted_but_only_for_their_port(
    canary: Canary, redirector: Redirector
) -> None:
    # A wildcard rule (as the replay test bed uses) trusts its own target address and port,
    # not every port of that address, and not private literals that merely match its pattern.
    rules = [f"*:80:127.0.0.1:{canary.port}"]
    async with Fetcher(settings(connect_to=rules)) as f:
        result = await f.get("http://any.example/mapped")
        assert result.body == b"the secret"
        with pytest.raises(BlockedURLError, match="loopback"):
            await f.get(f"http://127.0.0.1:{redirector.port}/robots.txt")
        with pytest.raises(BlockedURLError, match=r"10\.0\.0\.1 is a private address"):
            await f.get("http://10.0.0.1/")
    assert canary.requests == ["GET any.example/mapped"]

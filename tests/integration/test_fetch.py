"""The polite fetcher against a real HTTP(S) server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import brotli
import pytest
import trustme
from aiohttp import web

from newsline.config import FetchSettings
from newsline.ingest.fetch import (
    BlockedURLError,
    ConnectionFailedError,
    Fetcher,
    FetchTimeoutError,
    HTTPStatusError,
    RobotsDisallowedError,
    TooLargeError,
    TooManyRedirectsError,
)

ARTICLE = b"<html><body><p>" + b"hello world " * 200 + b"</p></body></html>"


class Server:
    """A loopback server whose handlers record what they saw."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.user_agents: list[str] = []
        self.active = 0
        self.max_active = 0
        self.flaky_left = 2
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/robots.txt", self.robots)
        r.add_get("/plain", self.plain)
        r.add_get("/gzip", self.gzip)
        r.add_get("/br", self.br)
        r.add_get("/deflate", self.deflate)
        r.add_get("/raw-deflate", self.raw_deflate)
        r.add_get("/etag", self.etag)
        r.add_get("/bomb", self.bomb)
        r.add_get("/huge", self.huge)
        r.add_get("/declared-huge", self.declared_huge)
        r.add_get("/loop", self.loop)
        r.add_get("/hop/{n}", self.hop)
        r.add_get("/slow", self.slow)
        r.add_get("/flaky", self.flaky)
        r.add_get("/always-503", self.always_503)
        r.add_get("/private/page", self.plain)
        r.add_get("/busy/{i}", self.busy)
        r.add_get("/reset", self.reset)
        r.add_get("/corrupt-gzip", self.corrupt_gzip)
        return app

    def _seen(self, request: web.Request) -> None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        self.user_agents.append(request.headers.get("User-Agent", ""))

    async def robots(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    async def plain(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(body=ARTICLE, content_type="text/html")

    async def gzip(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(
            body=gzip.compress(ARTICLE),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/html"},
        )

    async def br(self, request: web.Request) -> web.Response:
        return web.Response(
            body=brotli.compress(ARTICLE),
            headers={"Content-Encoding": "br", "Content-Type": "text/html"},
        )

    async def deflate(self, request: web.Request) -> web.Response:
        return web.Response(
            body=zlib.compress(ARTICLE),
            headers={"Content-Encoding": "deflate", "Content-Type": "text/html"},
        )

    async def raw_deflate(self, request: web.Request) -> web.Response:
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = packer.compress(ARTICLE) + packer.flush()
        return web.Response(
            body=body, headers={"Content-Encoding": "deflate", "Content-Type": "text/html"}
        )

    async def etag(self, request: web.Request) -> web.Response:
        self._seen(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(
            body=ARTICLE, headers={"ETag": '"v1"', "Last-Modified": "Tue, 01 Jul 2025 10:00:00 GMT"}
        )

    async def bomb(self, request: web.Request) -> web.StreamResponse:
        # 1 GiB of zeros, gzip-compressed on the fly (about 1 MB on the wire).
        resp = web.StreamResponse(headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})
        await resp.prepare(request)
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"\0" * (1 << 20)
        try:
            for _ in range(1024):
                await resp.write(comp.compress(block))
            await resp.write(comp.flush())
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    async def huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        try:
            for _ in range(200):
                await resp.write(b"x" * (1 << 20))
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    async def declared_huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/html", "Content-Length": str(1 << 30)}
        )
        await resp.prepare(request)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write(b"x" * 1024)
        return resp

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def hop(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(body=ARTICLE, content_type="text/html")
        raise web.HTTPFound(f"/hop/{n - 1}")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def flaky(self, request: web.Request) -> web.Response:
        self._seen(request)
        if self.flaky_left > 0:
            self.flaky_left -= 1
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(body=ARTICLE, content_type="text/html")

    async def always_503(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(status=503, headers={"Retry-After": "3600"})

    async def busy(self, request: web.Request) -> web.Response:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await asyncio.sleep(0.05)
        self.active -= 1
        return web.Response(text="ok")

    async def reset(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "100000"})
        await resp.prepare(request)
        await resp.write(b"x" * 1000)
        assert request.transport is not None
        request.transport.close()
        return resp

    async def corrupt_gzip(self, request: web.Request) -> web.Response:
        return web.Response(
            body=b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"}
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    runner = web.AppRunner(srv.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.port = runner.addresses[0][1]
    yield srv
    await runner.cleanup()


def settings_for(server: Server, **kw: object) -> FetchSettings:
    """Every host name maps to the loopback server, as the replay test bed does."""
    base: dict[str, object] = {
        "connect_to": [f"*:80:127.0.0.1:{server.port}"],
        "min_host_delay": 0.0,
        "retries": 2,
        "backoff_base": 0.05,
        "max_body_bytes": 2 * 1024 * 1024,
    }
    base.update(kw)
    return FetchSettings.model_validate(base)


async def test_get_sends_honest_user_agent_and_decodes_every_encoding(server: Server) -> None:
    async with Fetcher(settings_for(server, contact_url="https://example.org/bot")) as f:
        for path in ("/plain", "/gzip", "/br", "/deflate", "/raw-deflate"):
            result = await f.get(f"http://news.example{path}")
            assert result.body == ARTICLE, path
    assert all(
        ua.startswith("newsline/") and "https://example.org/bot" in ua for ua in server.user_agents
    )


async def test_conditional_get_gets_304(server: Server) -> None:
    async with Fetcher(settings_for(server)) as f:
        first = await f.get("http://news.example/etag")
        assert first.etag == '"v1"' and first.last_modified
        second = await f.get(
            "http://news.example/etag", etag=first.etag, last_modified=first.last_modified
        )
    assert second.not_modified and second.body == b""


async def test_gzip_bomb_is_cut_at_the_decompressed_limit(server: Server) -> None:
    async with Fetcher(settings_for(server)) as f:
        with pytest.raises(TooLargeError, match="decompressed"):
            await f.get("http://news.example/bomb")


async def test_oversize_body_is_refused_while_streaming(server: Server) -> None:
    async with Fetcher(settings_for(server)) as f:
        with pytest.raises(TooLargeError):
            await f.get("http://news.example/huge")
        with pytest.raises(TooLargeError, match="1,073,741,824"):
            await f.get("http://news.example/declared-huge")


async def test_redirects_are_capped_and_loops_detected(server: Server) -> None:
    async with Fetcher(settings_for(server)) as f:
        ok = await f.get("http://news.example/hop/5")
        assert ok.final_url.endswith("/hop/0")
        with pytest.raises(TooManyRedirectsError):
            await f.get("http://news.example/hop/6")
        with pytest.raises(TooManyRedirectsError, match="loop"):
            await f.get("http://news.example/loop")


async def test_read_timeout(server: Server) -> None:
    async with Fetcher(settings_for(server, read_timeout=0.3, retries=0)) as f:
        with pytest.raises(FetchTimeoutError):
            await f.get("http://news.example/slow")


async def test_retry_after_is_honoured_then_succeeds(server: Server) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    async with Fetcher(settings_for(server), sleep=record) as f:
        result = await f.get("http://news.example/flaky")
    assert result.status == 200
    assert server.hits["/flaky"] == 3
    assert len(delays) == 2 and all(d >= 1.0 for d in delays)


async def test_long_retry_after_is_not_waited_for(server: Server) -> None:
    async with Fetcher(settings_for(server, max_retry_after=60)) as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.get("http://news.example/always-503")
    assert info.value.status == 503 and info.value.retry_after == 3600
    assert server.hits["/always-503"] == 1


async def test_broken_transfers_are_reported(server: Server) -> None:
    async with Fetcher(settings_for(server, retries=0)) as f:
        with pytest.raises(ConnectionFailedError):
            await f.get("http://news.example/reset")
        with pytest.raises(Exception, match="corrupt gzip"):
            await f.get("http://news.example/corrupt-gzip")


async def test_robots_txt_is_honoured_for_pages_and_cached(server: Server) -> None:
    async with Fetcher(settings_for(server)) as f:
        with pytest.raises(RobotsDisallowedError):
            await f.get("http://news.example/private/page", kind="page")
        await f.get("http://news.example/plain", kind="page")
        # Feeds are explicit subscriptions: robots.txt is not consulted for them.
        await f.get("http://news.example/private/page", kind="feed")
    assert server.hits["/robots.txt"] == 1
    assert server.hits["/private/page"] == 1


async def test_per_host_concurrency_is_bounded(server: Server) -> None:
    async with Fetcher(settings_for(server, per_host_concurrency=2)) as f:
        await asyncio.gather(*(f.get(f"http://one.example/busy/{i}") for i in range(10)))
    assert server.max_active == 2


async def test_min_delay_spaces_requests_to_one_host(server: Server) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    async with Fetcher(settings_for(server, min_host_delay=2.0), sleep=record) as f:
        await asyncio.gather(*(f.get(f"http://one.example/busy/{i}") for i in range(3)))
    # First request goes at once; the next two wait their turn (2 s and 4 s after it).
    assert sorted(round(s) for s in slept) == [2, 4]


async def test_ssrf_guard_refuses_private_addresses(server: Server) -> None:
    settings = FetchSettings(min_host_delay=0.0, retries=0)
    async with Fetcher(settings) as f:
        with pytest.raises(BlockedURLError, match="private or local"):
            await f.get(f"http://127.0.0.1:{server.port}/plain")
        with pytest.raises(BlockedURLError, match="private or local"):
            await f.get(f"http://localhost:{server.port}/plain")
        with pytest.raises(BlockedURLError, match="private or local"):
            await f.get("http://[::1]/plain")
        with pytest.raises(BlockedURLError, match="http and https"):
            await f.get("file:///etc/passwd")
    allowed = FetchSettings(min_host_delay=0.0, allow_private=True)
    async with Fetcher(allowed) as f:
        assert (await f.get(f"http://127.0.0.1:{server.port}/plain")).status == 200


async def test_https_with_extra_ca_bundle_via_connect_to(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("secure.example")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="secure hello")

    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        rules = [f"secure.example:443:127.0.0.1:{port}"]
        async with Fetcher(
            FetchSettings(connect_to=rules, ca_bundle=ca_file, min_host_delay=0)
        ) as f:
            result = await f.get("https://secure.example/")
        assert result.body == b"secure hello"
        async with Fetcher(FetchSettings(connect_to=rules, min_host_delay=0, retries=0)) as f:
            with pytest.raises(ConnectionFailedError, match="certificate"):
                await f.get("https://secure.example/")
    finally:
        await runner.cleanup()

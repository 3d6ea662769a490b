"""The replay server on real loopback sockets: routing, TLS, conditional GET, every fault."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from newsline.testing.corpus import FAULTS, CorpusError
from newsline.testing.replay import (
    ARRIVAL_RESOLUTION,
    FAULT_FEED,
    ReplayServer,
    replay_in_thread,
)
from tests.support.net import LoopbackResolver

LAST_MODIFIED = "Tue, 04 Jun 2024 10:00:00 GMT"
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Alpha Daily</title><link>https://alpha.example/</link>
<item><title>Alpha opens a new bridge</title><link>https://alpha.example/news/bridge</link></item>
</channel></rss>
"""
PAGE = b"<!DOCTYPE html><html><head><title>Bridge</title></head><body><p>Open.</p></body></html>"


def write_corpus(root: Path, entries: list[dict[str, Any]], bodies: dict[str, bytes]) -> Path:
    for name, data in bodies.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with (root / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for entry in entries:
            fh.write(json.dumps(entry) + "\n")
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    entries: list[dict[str, Any]] = [
        {
            "url": "https://alpha.example/feed.xml",
            "headers": {
                "Content-Type": "application/rss+xml",
                "ETag": '"alpha-1"',
                "Last-Modified": LAST_MODIFIED,
            },
            "body": "b/alpha-feed.xml",
        },
        {
            "url": "https://alpha.example/news/bridge",
            "headers": {"Content-Type": "text/html"},
            "body": "b/page.html",
        },
        {"url": "http://beta.example/news?id=7&x=%7Ea", "body": "b/beta.txt"},
        {"url": "https://gamma.example/caf%C3%A9", "body": "b/gamma.txt"},
        {
            "url": "https://gamma.example/old",
            "status": 301,
            "headers": {"Location": "https://gamma.example/new"},
        },
        {
            "url": "https://faults.example/with-body/truncated",
            "fault": "truncated",
            "body": "b/alpha-feed.xml",
        },
    ]
    entries += [
        {"url": f"https://faults.example/{fault}", "fault": fault} for fault in sorted(FAULTS)
    ]
    entries += [
        {
            "url": "https://faults.example/page/bad-charset",
            "fault": "bad-charset",
            "headers": {"Content-Type": "text/html; charset=utf-8"},
            "body": "b/page.html",  # ASCII: the server substitutes an accented page
        },
        {
            "url": "https://faults.example/own/bad-charset",
            "fault": "bad-charset",
            "body": "b/accented.xml",
        },
    ]
    bodies = {
        "b/alpha-feed.xml": FEED,
        "b/page.html": PAGE,
        "b/beta.txt": b"beta seven\n",
        "b/gamma.txt": b"gamma cafe\n",
        "b/accented.xml": '<?xml version="1.0" encoding="utf-8"?><rss><t>Crème brûlée</t></rss>'.encode(),
    }
    return write_corpus(tmp_path / "corpus", entries, bodies)


@pytest.fixture
async def server(corpus: Path) -> AsyncIterator[ReplayServer]:
    async with ReplayServer(corpus, bomb_size=64 << 20, oversize=60 << 20) as srv:
        yield srv


@pytest.fixture
async def client(server: ReplayServer) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(
        resolver=LoopbackResolver(server), ssl=server.client_ssl_context(), limit=0
    )
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


# -- basics -------------------------------------------------------------------------------


async def test_serves_bodies_by_host_over_http_and_https(
    server: ReplayServer, client: aiohttp.ClientSession
) -> None:
    async with client.get("https://alpha.example/feed.xml") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/rss+xml"
        assert resp.headers["ETag"] == '"alpha-1"'
        assert await resp.read() == FEED
    async with client.get("https://alpha.example/news/bridge#comments") as resp:
        assert await resp.read() == PAGE
    # Escapes are normalized: `~` and `%7E` name the same URL.
    async with client.get("http://beta.example/news?id=7&x=~a") as resp:
        assert resp.status == 200
        assert await resp.read() == b"beta seven\n"
    async with client.get("https://gamma.example/café") as resp:
        assert await resp.read() == b"gamma cafe\n"
    assert server.hits["https://alpha.example/feed.xml"] == 1


async def test_scheme_and_host_must_match(client: aiohttp.ClientSession) -> None:
    async with client.get("http://alpha.example/feed.xml") as resp:  # only https is captured
        assert resp.status == 404
    async with client.get("https://beta.example/news?id=7&x=~a") as resp:
        assert resp.status == 404
    async with client.get("https://unknown.example/") as resp:
        assert resp.status == 404
    async with client.get("https://alpha.example/feed.xml?page=2") as resp:
        assert resp.status == 404


async def test_https_certificate_names_each_host(server: ReplayServer) -> None:
    for host in ("alpha.example", "gamma.example"):
        _, writer = await asyncio.open_connection(
            "127.0.0.1",
            server.https_port,
            ssl=server.client_ssl_context(),
            server_hostname=host,
        )
        cert = writer.get_extra_info("peercert")
        assert ("DNS", host) in cert["subjectAltName"]
        writer.close()
        await writer.wait_closed()


async def test_https_refused_without_the_ca(server: ReplayServer) -> None:
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver(server))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get("https://alpha.example/feed.xml")


async def test_redirect_entry_is_served_as_captured(client: aiohttp.ClientSession) -> None:
    async with client.get("https://gamma.example/old", allow_redirects=False) as resp:
        assert resp.status == 301
        assert resp.headers["Location"] == "https://gamma.example/new"


async def test_conditional_get(client: aiohttp.ClientSession) -> None:
    url = "https://alpha.example/feed.xml"
    async with client.get(url, headers={"If-None-Match": '"alpha-1"'}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""
        assert resp.headers["ETag"] == '"alpha-1"'
    async with client.get(url, headers={"If-None-Match": 'W/"other", W/"alpha-1"'}) as resp:
        assert resp.status == 304
    async with client.get(url, headers={"If-None-Match": '"alpha-0"'}) as resp:
        assert resp.status == 200
    async with client.get(url, headers={"If-Modified-Since": LAST_MODIFIED}) as resp:
        assert resp.status == 304
    later = "Wed, 05 Jun 2024 10:00:00 GMT"
    async with client.get(url, headers={"If-Modified-Since": later}) as resp:
        assert resp.status == 304
    earlier = "Mon, 03 Jun 2024 10:00:00 GMT"
    async with client.get(url, headers={"If-Modified-Since": earlier}) as resp:
        assert resp.status == 200
        assert await resp.read() == FEED
    # If-None-Match decides when both are sent.
    headers = {"If-None-Match": '"alpha-0"', "If-Modified-Since": LAST_MODIFIED}
    async with client.get(url, headers=headers) as resp:
        assert resp.status == 200


async def test_keep_alive_serves_many_requests_on_one_connection(server: ReplayServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    request = b"GET /news?id=7&x=~a HTTP/1.1\r\nHost: beta.example\r\n\r\n"
    writer.write(request * 3)
    await writer.drain()
    for _ in range(3):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Content-Length: 11" in head
        assert await reader.readexactly(11) == b"beta seven\n"
    writer.close()
    await writer.wait_closed()


async def test_arrivals_are_stamped_when_they_reached_the_host_not_when_read(
    server: ReplayServer,
) -> None:
    """Per-host spacing is judged by when requests arrived: a busy loop reading two of them
    together must not make them look close (the distributed test failed on such stamps)."""
    request = b"GET /news?id=7&x=~a HTTP/1.1\r\nHost: beta.example\r\n\r\n"
    # Blocking calls from the server's own loop: it reads nothing until this test awaits.
    first = socket.create_connection(("127.0.0.1", server.http_port))
    second = socket.create_connection(("127.0.0.1", server.http_port))
    first.sendall(request)
    time.sleep(0.3)  # noqa: ASYNC251 -- blocking the loop is the point
    second.sendall(request)
    loop = asyncio.get_running_loop()
    for sock in (first, second):
        sock.setblocking(False)
        assert (await loop.sock_recv(sock, 4096)).startswith(b"HTTP/1.1 200")
        sock.close()
    load = server.host_load["beta.example"]
    assert load.requests == 2
    assert load.min_gap is not None and load.min_gap >= 0.3 - ARRIVAL_RESOLUTION, load


async def test_host_header_with_our_own_port(server: ReplayServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            server.url_for("http://beta.example/news?id=7&x=~a"),
            headers={"Host": f"beta.example:{server.http_port}"},
        ) as resp,
    ):
        assert resp.status == 200


async def test_settings_point_at_the_ports(server: ReplayServer) -> None:
    env = server.settings_env()
    assert env["NEWSLINE_FETCH__CONNECT_TO"] == (
        f"*:80:127.0.0.1:{server.http_port},*:443:127.0.0.1:{server.https_port}"
    )
    ca_text = await asyncio.to_thread(Path(env["NEWSLINE_FETCH__CA_BUNDLE"]).read_text)
    assert ca_text.startswith("-----BEGIN CERTIFICATE-----")
    assert server.fetch_settings()["connect_to"] == env["NEWSLINE_FETCH__CONNECT_TO"].split(",")


async def test_ca_file_removed_at_stop_unless_chosen(corpus: Path, tmp_path: Path) -> None:
    async with ReplayServer(corpus) as srv:
        temp_ca = srv.ca_file
        assert temp_ca.is_file()
    assert not temp_ca.exists()
    chosen = tmp_path / "keep" / "ca.pem"
    async with ReplayServer(corpus, ca_file=chosen):
        pass
    assert chosen.is_file()


async def test_bad_manifest_is_a_corpus_error(tmp_path: Path) -> None:
    write_corpus(tmp_path, [{"url": "https://x.example/", "fault": "meltdown"}], {})
    with pytest.raises(CorpusError, match="unknown fault"):
        await ReplayServer(tmp_path).start()
    write_corpus(tmp_path, [{"url": "https://x.example/", "body": "missing.xml"}], {})
    with pytest.raises(CorpusError, match="missing"):
        await ReplayServer(tmp_path).start()
    with pytest.raises(CorpusError, match="no manifest"):
        await ReplayServer(tmp_path / "nowhere").start()


def test_runs_in_a_thread_for_sync_code(corpus: Path) -> None:
    import urllib.request

    with replay_in_thread(corpus) as srv:
        request = urllib.request.Request(
            srv.url_for("https://alpha.example/feed.xml"), headers={"Host": "alpha.example"}
        )
        context = srv.client_ssl_context()
        context.check_hostname = False  # urllib sends SNI "127.0.0.1" here
        with urllib.request.urlopen(request, context=context) as resp:
            assert resp.read() == FEED
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.http_port), timeout=2)


async def test_holds_500_concurrent_connections(server: ReplayServer) -> None:
    count = 500
    conns = []
    for _ in range(count):
        conns.append(await asyncio.open_connection("127.0.0.1", server.http_port))
    async with asyncio.timeout(60):
        # Poll the server's own counter: every connection accepted and held open.
        while server.active_connections < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    for _, writer in conns:
        writer.write(b"GET /news?id=7&x=~a HTTP/1.1\r\nHost: beta.example\r\n\r\n")

    async def answer(reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        return await reader.readexactly(11)

    bodies = await asyncio.wait_for(asyncio.gather(*(answer(r) for r, _ in conns)), 60)
    assert bodies == [b"beta seven\n"] * count
    assert server.peak_connections >= count
    for _, writer in conns:
        writer.close()


# -- faults -------------------------------------------------------------------------------

FAULT_URL = "https://faults.example/{}"


async def test_fault_timeout(client: aiohttp.ClientSession) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await client.get(FAULT_URL.format("timeout"), timeout=aiohttp.ClientTimeout(total=0.5))


async def test_fault_reset(client: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.ClientError):
        async with client.get(FAULT_URL.format("reset")) as resp:
            assert resp.status == 200
            await resp.read()


async def test_fault_reset_is_a_tcp_rst(server: ReplayServer) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        server.https_port,
        ssl=server.client_ssl_context(),
        server_hostname="faults.example",
    )
    writer.write(b"GET /reset HTTP/1.1\r\nHost: faults.example\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)) as info:
        await reader.readexactly(length)
    if isinstance(info.value, asyncio.IncompleteReadError):
        assert len(info.value.partial) == length // 2
    writer.close()


async def test_fault_slow(client: aiohttp.ClientSession) -> None:
    async with client.get(FAULT_URL.format("slow")) as resp:
        assert resp.status == 200
        length = int(resp.headers["Content-Length"])
        assert length == len(FAULT_FEED.encode())
        got = b""
        for _ in range(3):
            got += await resp.content.readany()
        assert 0 < len(got) < length  # dribbled out: three reads do not get it all
        assert not resp.content.at_eof()
        assert FAULT_FEED.encode().startswith(got)


async def test_fault_redirect_loop(client: aiohttp.ClientSession) -> None:
    url = FAULT_URL.format("redirect-loop")
    async with client.get(url, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == url
    with pytest.raises(aiohttp.TooManyRedirects):
        await client.get(url, max_redirects=4)


async def test_fault_gzip_bomb_is_small_on_the_wire(client: aiohttp.ClientSession) -> None:
    async with client.get(FAULT_URL.format("gzip-bomb"), auto_decompress=False) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip"
        raw = await resp.read()
    assert len(raw) < 100_000  # 64 MiB inflated in this server's setting
    inflater = zlib.decompressobj(wbits=31)
    produced = 0
    for i in range(0, len(raw), 4096):
        produced += len(inflater.decompress(raw[i : i + 4096]))
    assert produced == 64 << 20
    assert inflater.eof  # a well-formed gzip stream, CRC and length checked by zlib


async def test_fault_gzip_bomb_default_inflates_to_gigabytes(corpus: Path) -> None:
    async with ReplayServer(corpus) as srv:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            srv.https_port,
            ssl=srv.client_ssl_context(),
            server_hostname="faults.example",
        )
        writer.write(
            b"GET /gzip-bomb HTTP/1.1\r\nHost: faults.example\r\nConnection: close\r\n\r\n"
        )
        wire = await asyncio.wait_for(reader.read(-1), 60)
        writer.close()
    head, _, body = wire.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert len(body) < 3_000_000
    # The gzip trailer's ISIZE field: the inflated length modulo 2**32.
    trailer = body.rstrip(b"\r\n0").rsplit(b"\r\n", 1)[-1][-4:]
    assert int.from_bytes(trailer, "little") == 2 << 30


async def test_fault_oversize_streams_past_50_mb(client: aiohttp.ClientSession) -> None:
    cap = 50 * 1024 * 1024
    received = 0
    async with client.get(FAULT_URL.format("oversize")) as resp:
        assert resp.status == 200
        assert "Content-Length" not in resp.headers
        async for chunk in resp.content.iter_chunked(1 << 16):
            received += len(chunk)
            if received > cap:
                break
    assert received > cap


async def test_fault_bad_charset(client: aiohttp.ClientSession) -> None:
    async with client.get(FAULT_URL.format("bad-charset")) as resp:
        assert resp.status == 200
        assert resp.charset == "utf-8"
        body = await resp.read()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "Café" in body.decode("latin-1")


async def test_fault_bad_charset_keeps_the_entry_kind(client: aiohttp.ClientSession) -> None:
    async with client.get("https://faults.example/page/bad-charset") as resp:
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        page = await resp.read()
    assert page.startswith(b"<!DOCTYPE html>")
    assert "Café" in page.decode("latin-1")
    async with client.get("https://faults.example/own/bad-charset") as resp:
        own = await resp.read()
    assert own == '<?xml version="1.0" encoding="UTF-8"?><rss><t>Crème brûlée</t></rss>'.encode(
        "latin-1"
    )


@pytest.mark.parametrize(
    ("fault", "status"), [("http-500", 500), ("http-503-retry-after", 503), ("http-429", 429)]
)
async def test_fault_http_status(client: aiohttp.ClientSession, fault: str, status: int) -> None:
    async with client.get(FAULT_URL.format(fault)) as resp:
        assert resp.status == status
        if status == 503:
            assert resp.headers["Retry-After"] == "2"


async def test_fault_not_a_feed(client: aiohttp.ClientSession) -> None:
    async with client.get(FAULT_URL.format("not-a-feed")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert (await resp.read()).startswith(b"<!DOCTYPE html>")


async def test_fault_truncated(client: aiohttp.ClientSession) -> None:
    async with client.get("https://faults.example/with-body/truncated") as resp:
        assert resp.status == 200
        body = await resp.read()  # a clean response: Content-Length matches what is sent
    assert body == FEED[: len(FEED) // 2]


async def test_faults_leave_the_server_healthy(
    server: ReplayServer, client: aiohttp.ClientSession
) -> None:
    tasks = [
        client.get(FAULT_URL.format(f), timeout=aiohttp.ClientTimeout(total=1))
        for f in ("timeout", "reset", "redirect-loop")
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, aiohttp.ClientResponse):
            result.release()
    async with client.get("https://alpha.example/feed.xml") as resp:
        assert await resp.read() == FEED
    statuses = {record.status for record in server.log}
    assert {"timeout", "reset", "redirect-loop", 200} <= statuses


def test_fault_feed_has_latin1_visible_text() -> None:
    # bad-charset relies on it; guard against someone "simplifying" the sample to ASCII.
    assert not FAULT_FEED.isascii()
    FAULT_FEED.encode("latin-1")

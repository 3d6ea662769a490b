"""Replay server throughput: requests/s for the demo corpus over HTTP and HTTPS.

Reference, measured in the same run: aiohttp.web serving the same bodies from memory on
one port (a plain framework server, no Host routing, no TLS). Prints a table with the
ratio replay / reference.

    .venv/bin/python bench/replay.py [--requests 4000] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from newsline.testing.corpus import read_manifest
from newsline.testing.democorpus import write_demo_corpus
from newsline.testing.replay import ReplayServer


class PortMap(AbstractResolver):
    """Every name → 127.0.0.1, with ports 80/443 mapped."""

    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.ports.get(port, port),
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


async def hammer(
    urls: list[str], total: int, concurrency: int, connector: aiohttp.TCPConnector
) -> float:
    """Requests per second for ``total`` GETs spread over ``urls``."""
    queue = list(range(total))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while queue:
                i = queue.pop()
                async with session.get(urls[i % len(urls)]) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - start)


async def main(total: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_demo_corpus(Path(tmp) / "demo")
        # The same corpus at http:// URLs too, to compare plain HTTP with plain HTTP.
        manifest = corpus / "manifest.jsonl"
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text + text.replace('"url": "https://', '"url": "http://'))
        entries = [e for e in read_manifest(corpus) if e.status == 200 and not e.fault]
        https_urls = [e.url for e in entries if e.url.startswith("https://")]
        http_urls = [e.url for e in entries if e.url.startswith("http://")]
        bodies = {e.url.split("/", 3)[3]: e.read_body() for e in entries}

        async def handle(request: web.Request) -> web.Response:
            return web.Response(body=bodies[request.path_qs.lstrip("/")])

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ref_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ref_urls = [f"http://127.0.0.1:{ref_port}/{u.split('/', 3)[3]}" for u in http_urls]
        async with ReplayServer(corpus) as server:
            ports = {80: server.http_port, 443: server.https_port}
            ref = await hammer(ref_urls, total, concurrency, aiohttp.TCPConnector(limit=0))
            http = await hammer(
                http_urls, total, concurrency, aiohttp.TCPConnector(resolver=PortMap(ports))
            )
            tls = await hammer(
                https_urls,
                total,
                concurrency,
                aiohttp.TCPConnector(resolver=PortMap(ports), ssl=server.client_ssl_context()),
            )
        await runner.cleanup()
    rows = [
        ("aiohttp.web, same bodies, HTTP (reference)", ref),
        ("replay server, HTTP (Host routing)", http),
        ("replay server, HTTPS (Host + SNI routing)", tls),
    ]
    print(
        f"{total} requests per row, {concurrency} concurrent clients, keep-alive, "
        f"demo corpus ({len(https_urls)} URLs)"
    )
    print(f"{'server':44} {'req/s':>8} {'ratio':>7}")
    for name, rate in rows:
        print(f"{name:44} {rate:8.0f} {rate / ref:7.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))

"""Ingest throughput, each figure against a reference measured in the same run.

1. Pages: end-to-end items/s (fetch from a loopback replay server + extract + store, the
   real ``run_pass`` without enrichment) against extraction alone (``extract()`` in a loop) on the same pages.
2. Feeds: refreshes/s for N feeds that all answer 304 (parse skipped, state written to the
   database) against a bare aiohttp conditional-GET loop for the same URLs on the same
   server; once with every feed on its own host, once with the feeds on 50 hosts.

The replay server runs in its own process, as a real site would. Usage:

    .venv/bin/python bench/ingest.py [--feeds 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import aiohttp.abc
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("NEWS_CORPORA", ROOT.parent / "shared" / "corpora"))


class ReplayProcess:
    """``newsline replay serve`` in a child process; yields its two settings."""

    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus
        self.proc: subprocess.Popen[str] | None = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> ReplayProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newsline.cli", "replay", "serve", str(self.corpus)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        for _ in range(2):
            name, _, value = self.proc.stdout.readline().strip().partition("=")
            self.env[name] = value
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)

    @property
    def http_port(self) -> int:
        rule = next(
            r for r in self.env["NEWSLINE_FETCH__CONNECT_TO"].split(",") if r.startswith("*:80:")
        )
        return int(rule.rsplit(":", 1)[1])


class LoopbackResolver(aiohttp.abc.AbstractResolver):
    """The bare loop's only extra: every host name resolves to the replay server."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(
        self, host: str, port: int = 0, family: int = 0
    ) -> list[aiohttp.abc.ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self.port,
                "family": 2,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


def settings_for(db: str, replay: ReplayProcess) -> object:
    from newsline.config import load_settings

    return load_settings(
        None,
        database_url=db,
        fetch={
            "connect_to": replay.env["NEWSLINE_FETCH__CONNECT_TO"],
            "ca_bundle": replay.env["NEWSLINE_FETCH__CA_BUNDLE"],
            "min_host_delay": 0.0,
            "retries": 0,
        },
    )


def bench_pages(tmp: Path) -> tuple[float, float, int, int]:
    from newsline.db.engine import session_scope
    from newsline.db.migrate import upgrade
    from newsline.ingest.extract import extract
    from newsline.ingest.publications import add_publication
    from newsline.testing.build import build_corpus
    from newsline.testing.corpus import read_manifest
    from newsline.workers.pipeline import run_pass

    source = tmp / "source"
    source.mkdir()
    (source / "articles").symlink_to(CORPORA / "articles")
    corpus = tmp / "corpus"
    build_corpus(source, corpus)
    entries = read_manifest(corpus)
    feeds = [e.url for e in entries if e.extra.get("generated")]
    pages = [e for e in entries if e.body is not None and not e.extra.get("generated")]

    # Reference: extraction alone, in one process, over the same pages (after a warm-up).
    bodies = [(e.read_body(), e.url) for e in pages]
    extract(*bodies[0])
    t0 = time.perf_counter()
    for body, url in bodies:
        extract(body, url)
    extract_s = time.perf_counter() - t0

    db = f"sqlite:///{tmp / 'pages.db'}"
    upgrade(db)
    with ReplayProcess(corpus) as replay:
        settings = settings_for(db, replay)
        with session_scope(db) as s:
            for url in feeds:
                add_publication(s, settings, url)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        report = run_pass(settings, force=True, enrich=False, publish=False)  # type: ignore[arg-type]
        e2e_s = time.perf_counter() - t0
    stored = report.items_ready + report.items_duplicate
    return len(bodies) / extract_s, stored / e2e_s, stored, report.pages_fetched


def bench_feeds(tmp: Path, count: int, concurrency: int, hosts: int) -> tuple[float, float]:
    """(bare loop, newsline) refreshes/s for ``count`` feeds spread over ``hosts`` host names.

    The bare loop requests the same URLs through the same kind of connections (aiohttp with
    one connection pool per host name), so the ratio is newsline's own overhead: politeness
    bookkeeping, the fetch log and the feed state written to the database.
    """
    from newsline.db.engine import session_scope
    from newsline.db.migrate import upgrade
    from newsline.db.models import Feed, Publication
    from newsline.testing.corpus import CorpusWriter
    from newsline.workers.pipeline import run_pass

    body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
    # A directory per call: with --feeds 50 both calls spread the feeds on 50 hosts.
    run = Path(tempfile.mkdtemp(dir=tmp, prefix=f"feeds-{hosts}-"))
    w = CorpusWriter(run / "corpus")
    urls = [f"http://host{i % hosts}.example/feed/{i}" for i in range(count)]
    for i in range(count):
        w.add(
            urls[i],
            body,
            content_type="application/rss+xml",
            headers={"ETag": '"v1"'},
        )
    corpus = w.finish()
    db = f"sqlite:///{run / 'feeds.db'}"
    upgrade(db)
    with session_scope(db) as s:
        s.execute(
            insert(Publication),
            [
                {
                    "id": i + 1,
                    "tag": f"f{i}",
                    "name": f"f{i}",
                    "republish": "teaser",
                    "is_channel_own": False,
                }
                for i in range(count)
            ],
        )
        s.execute(
            insert(Feed),
            [
                {
                    "publication_id": i + 1,
                    "url": urls[i],
                    "etag": '"v1"',
                    "status": "ok",
                    "consecutive_failures": 0,
                    "interval_seconds": 3600,
                    "entries_seen": 0,
                }
                for i in range(count)
            ],
        )
    with ReplayProcess(corpus) as replay:
        port = replay.http_port

        async def bare() -> int:
            sem = asyncio.Semaphore(concurrency)
            ok = 0
            # Same URLs and connection pattern as newsline (one connection per host name).
            connector = aiohttp.TCPConnector(limit=concurrency, resolver=LoopbackResolver(port))
            async with aiohttp.ClientSession(connector=connector) as session:

                async def one(i: int) -> None:
                    nonlocal ok
                    url = urls[i]
                    async with sem, session.get(url, headers={"If-None-Match": '"v1"'}) as resp:
                        await resp.read()
                        ok += resp.status == 304

                await asyncio.gather(*(one(i) for i in range(count)))
            return ok

        t0 = time.perf_counter()
        ok = asyncio.run(bare())
        bare_s = time.perf_counter() - t0
        assert ok == count, f"bare loop saw {ok} 304s of {count}"

        settings = settings_for(db, replay)
        t0 = time.perf_counter()
        report = run_pass(settings, force=True, enrich=False, publish=False)  # type: ignore[arg-type]
        ours_s = time.perf_counter() - t0
        assert report.feeds_not_modified == count, report.summary()
    with session_scope(db) as s:
        stale = s.scalar(select(Feed.id).where(Feed.last_status_code != 304).limit(1))
        assert stale is None, "every feed's state must be written"
    return count / bare_s, count / ours_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-pages", action="store_true", help="Only the feed figures.")
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    import logging

    logging.disable(logging.WARNING)
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_pages:
            extract_rate, e2e_rate, n, from_page = bench_pages(tmp)
            name = f"items end-to-end/s ({n} items, {from_page} from their page)"
            rows.append((name, e2e_rate, extract_rate, "0.70"))
        for hosts in (args.feeds, 50):
            bare, ours = bench_feeds(tmp, args.feeds, args.concurrency, hosts=hosts)
            rows.append(
                (f"304 refreshes/s, {args.feeds} feeds on {hosts} hosts", ours, bare, "0.25")
            )
    print(f"{'figure':<58}{'newsline':>10}{'reference':>11}{'ratio':>7}{'target':>8}")
    for name, ours, ref, target in rows:
        print(f"{name:<58}{ours:>10.1f}{ref:>11.1f}{ours / ref:>7.2f}{'>=' + target:>8}")


if __name__ == "__main__":
    main()

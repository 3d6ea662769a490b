"""The corpus builder: on small synthetic inputs, on the shared corpora, served for real."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import feedparser
import pytest
from typer.testing import CliRunner

from newsline.cli import app
from newsline.testing.build import BuildError, BuildReport, build_corpus, sniff_feed
from newsline.testing.corpus import read_ground_truth, read_manifest, url_key
from newsline.testing.replay import ReplayServer
from tests.support.corpora import CORPORA, needs_corpora, read_corpus_bytes
from tests.support.net import LoopbackResolver

GOOD_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Good News</title><link>https://good.example/</link>
<atom:link rel="self" href="https://good.example/rss.xml" type="application/rss+xml"/>
<item><title>One</title><link>https://good.example/news/one</link></item>
<item><title>Gone</title><link>https://good.example/news/gone</link>
<description>Kept from the feed.</description></item>
</channel></rss>
"""
NO_SELF_RSS = b"""<rss version="2.0"><channel><title>No self</title>
<link>https://noself.example/</link><item><title>x</title></item></channel></rss>"""
NO_LINK_ATOM = b"""<?xml version="1.0"?><!-- a comment first -->
<feed xmlns="http://www.w3.org/2005/Atom"><title>Nowhere</title></feed>"""
JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "feed_url": "https://json.example/feed.json",
        "items": [],
    }
).encode()
PAGE_ONE = b"<html><head><title>One | Good</title></head><body><p>One text.</p></body></html>"
PAGE_X = b"<html><head><title>Other X</title></head><body><p>X text.</p></body></html>"
SAVED = (
    b'<html><head><link rel="canonical" href="https://saved.example/story">'
    b"<title>Saved story</title></head><body><p>Saved.</p></body></html>"
)


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    truth_rows = [
        json.dumps(
            {
                "url": "https://good.example/news/one",
                "fixture": "fixtures/good.html.gz",
                "title": "One",
                "content_start": "One text.",
            }
        ),
        "{broken json",
        json.dumps({"url": None, "fixture": "fixtures/dummy.html.gz"}),
        json.dumps({"url": "https://good.example/broken", "fixture": "fixtures/broken.html.gz"}),
    ]
    goose_x = {
        "url": "https://other.example/x",
        "expected": {"title": "Other X", "cleaned_text": "X text."},
    }
    return _write(
        tmp_path / "src",
        {
            "feeds/a/good.xml": GOOD_RSS,
            "feeds/a/noself.rss": NO_SELF_RSS,
            "feeds/b/good.xml": GOOD_RSS,  # same self link: moved aside
            "feeds/b/nolinks.atom": NO_LINK_ATOM,
            "feeds/b/feed.json": JSON_FEED,
            "feeds/b/expected.json": b'{"feed": {"title": "not a feed"}}',
            "feeds/b/home.html": b"<!DOCTYPE html><html><body>home</body></html>",
            "feeds/b/empty.xml": b"\n",
            "articles/postlight/ground_truth.jsonl": "\n".join(truth_rows).encode(),
            "articles/postlight/fixtures/good.html.gz": gzip.compress(PAGE_ONE),
            "articles/postlight/fixtures/broken.html.gz": b"this is not gzip",
            "articles/postlight/fixtures/orphan.html.gz": gzip.compress(b"<html></html>"),
            "articles/goose3/content/x.html.gz": gzip.compress(PAGE_X),
            "articles/goose3/content/x.json": json.dumps(goose_x).encode(),
            "articles/goose3/content/y.html.gz": gzip.compress(PAGE_X),
            "articles/goose3/content/y.json": json.dumps(goose_x).encode(),  # same URL
            "pages/saved.html": SAVED,
            "pages/nocanon.html": b"<html><head><title>?</title></head></html>",
        },
    )


def _urls(corpus: Path) -> dict[str, dict[str, object]]:
    lines = (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["url"]: json.loads(line) for line in lines}


def test_builds_synthetic_input_and_counts_every_skip(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    report = build_corpus(source, out)
    assert (report.feeds, report.generated_feeds, report.pages) == (5, 2, 3)
    assert report.renamed_feeds == 1
    assert report.skipped == Counter(
        {
            "not-a-feed": 2,
            "empty": 1,
            "bad-ground-truth": 1,
            "no-url": 3,
            "unreadable": 1,
            "duplicate-url": 1,
        }
    )
    urls = _urls(out)
    assert set(urls) == {
        "https://good.example/rss.xml",
        "https://good.example/feeds/b-good.xml",
        "https://noself.example/feeds/noself.rss",
        "https://unlinked-feeds.example/b/nolinks.atom",
        "https://json.example/feed.json",
        "https://other.example/newsline-replay-feed.xml",
        "https://saved.example/newsline-replay-feed.xml",
        "https://good.example/news/one",
        "https://other.example/x",
        "https://saved.example/story",
    }
    assert urls["https://good.example/rss.xml"]["headers"]["Content-Type"] == (  # type: ignore[index]
        "application/rss+xml"
    )
    assert urls["https://other.example/newsline-replay-feed.xml"]["generated"] is True
    assert "generated" not in urls["https://good.example/rss.xml"]
    truth = {row["url"]: row for row in read_ground_truth(out)}
    assert truth["https://good.example/news/one"]["feeds"] == [
        "https://good.example/rss.xml",
        "https://good.example/feeds/b-good.xml",
    ]
    assert truth["https://good.example/news/one"]["generated_feed"] is False
    assert truth["https://other.example/x"]["generated_feed"] is True
    assert truth["https://other.example/x"]["text_start"] == "X text."
    saved = json.loads((out / "build-report.json").read_text())
    assert saved["skipped"] == dict(sorted(report.skipped.items()))
    assert {"path": "articles/postlight/fixtures/broken.html.gz", "reason": "unreadable"} in (
        saved["skipped_files"]
    )


def test_refuses_bad_destinations(source: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="inside its source"):
        build_corpus(source, source / "corpus")
    with pytest.raises(BuildError, match="no feeds/"):
        build_corpus(tmp_path / "nothing", tmp_path / "out")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(BuildError, match="not empty"):
        build_corpus(source, busy)
    build_corpus(source, busy, force=True)
    assert not (busy / "keep.txt").exists()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xef\xbb\xbf<?xml version='1.0'?><rss version='2.0'/>", "rss"),
        (b"\n\n<?xml version='1.0'?>\n<!-- c --><feed xmlns='x'/>", "atom"),
        (b"<rdf:RDF xmlns:rdf='x'><channel/></rdf:RDF>", "rdf"),
        (b'{"version": "https:\\/\\/jsonfeed.org\\/version\\/1"}', "json"),
        (b'{"version": "2.0", "rss": {}}', None),
        (b"<!DOCTYPE html><html></html>", None),
        (b"<entry xmlns='http://www.w3.org/2005/Atom'/>", None),
    ],
)
def test_sniff_feed(data: bytes, kind: str | None) -> None:
    assert sniff_feed(data) == kind


async def test_built_corpus_serves_pages_feeds_and_404s(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build_corpus(source, out)
    async with ReplayServer(out) as server:
        connector = aiohttp.TCPConnector(
            resolver=LoopbackResolver(server), ssl=server.client_ssl_context()
        )
        async with aiohttp.ClientSession(connector=connector) as client:
            async with client.get("https://good.example/rss.xml") as resp:
                assert await resp.read() == GOOD_RSS
            async with client.get("https://good.example/news/one") as resp:
                assert await resp.read() == PAGE_ONE
            async with client.get("https://good.example/news/gone") as resp:
                assert resp.status == 404
            async with client.get("https://other.example/newsline-replay-feed.xml") as resp:
                feed = feedparser.parse(await resp.read())
    assert not feed.bozo
    assert [(e.title, e.link) for e in feed.entries] == [("Other X", "https://other.example/x")]


def test_cli_build(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-corpus"
    result = CliRunner().invoke(app, ["replay", "build", "--from", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(read_manifest(out)) == 10
    again = CliRunner().invoke(app, ["replay", "build", "--from", str(source), "--out", str(out)])
    assert again.exit_code == 1
    assert "not empty" in " ".join(again.output.split())


def test_cli_serve_prints_settings_and_stops_on_ctrl_c(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build_corpus(source, out)
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsline.cli", "replay", "serve", str(out), "--ca-file", str(ca)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        settings = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
        assert settings["NEWSLINE_FETCH__CA_BUNDLE"] == str(ca)
        rules = settings["NEWSLINE_FETCH__CONNECT_TO"].split(",")
        https_port = int(rules[1].rsplit(":", 1)[1])
        assert rules[1] == f"*:443:127.0.0.1:{https_port}"
        fetched = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                str(ca),
                "--connect-to",
                f"::127.0.0.1:{https_port}",
                "https://saved.example/story",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if fetched.returncode == 127:
            pytest.skip("curl not installed")
        assert fetched.stdout == SAVED
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_cli_serve_reports_a_bad_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", "serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "no manifest.jsonl" in " ".join(result.output.split())


# -- the shared corpora ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, BuildReport]]:
    out = tmp_path_factory.mktemp("shared") / "corpus"
    yield out, build_corpus(CORPORA, out)


def _page_inputs() -> set[str]:
    """Every page file of the shared articles corpora, found independently of the builder."""
    articles = CORPORA / "articles"
    found = {p.relative_to(CORPORA).as_posix() for p in articles.rglob("*.html.gz")}
    # readability's expected.html.gz files are references, not pages.
    return {p for p in found if not p.endswith("/expected.html.gz")}


@needs_corpora
def test_shared_corpora_every_input_accounted_for(shared_corpus: tuple[Path, BuildReport]) -> None:
    out, report = shared_corpus
    feed_files = [p for p in (CORPORA / "feeds").rglob("*") if p.is_file()]
    feed_skips = [p for p, _ in report.skipped_files if p.startswith("feeds/")]
    assert report.feeds + len(feed_skips) == len(feed_files)
    assert report.feeds >= 150  # RSS, Atom, RDF and JSON Feed from six repositories
    page_skips = {p for p, _ in report.skipped_files if p.endswith(".html.gz")}
    assert report.pages + len(page_skips) == len(_page_inputs())
    assert report.pages >= 450
    truth = list(read_ground_truth(out))
    assert len(truth) == report.pages
    assert Counter(r["origin"] for r in truth).keys() == {
        "postlight",
        "trafilatura",
        "goose3",
        "readability",
    }
    # Every page is reachable from some feed; generated feeds are one per host that needs one.
    assert all(r["feeds"] for r in truth)
    generated_hosts = {r["host"] for r in truth if r["generated_feed"]}
    assert report.generated_feeds == len(generated_hosts)


@needs_corpora
def test_shared_corpora_manifest_matches_sources(shared_corpus: tuple[Path, BuildReport]) -> None:
    out, report = shared_corpus
    entries = read_manifest(out)
    keys = [url_key(e.url) for e in entries]
    assert len(keys) == len(set(keys))
    kinds = Counter(e.extra.get("kind") for e in entries)
    assert kinds == {"feed": report.feeds + report.generated_feeds, "page": report.pages}
    by_key = dict(zip(keys, entries, strict=True))
    for entry in entries:
        assert entry.body is not None and entry.body.is_relative_to(out.resolve())
        source = entry.extra.get("source")
        if source:  # byte for byte what was captured
            assert entry.read_body() == read_corpus_bytes(CORPORA / str(source)), entry.url
    for row in read_ground_truth(out):
        assert url_key(row["url"]) in by_key
        for feed in row["feeds"]:
            assert url_key(feed) in by_key
    generated = [e for e in entries if e.extra.get("generated")]
    for entry in generated[:25]:
        parsed = feedparser.parse(entry.read_body())
        assert not parsed.bozo, entry.url
        assert parsed.entries
        assert all(url_key(item.link) in by_key for item in parsed.entries)


@needs_corpora
async def test_shared_corpora_served(shared_corpus: tuple[Path, BuildReport]) -> None:
    out, _ = shared_corpus
    truth = list(read_ground_truth(out))
    sample = {row["origin"]: row for row in truth}  # one page per origin
    entries = {url_key(e.url): e for e in read_manifest(out)}
    async with ReplayServer(out) as server:
        connector = aiohttp.TCPConnector(
            resolver=LoopbackResolver(server), ssl=server.client_ssl_context()
        )
        async with aiohttp.ClientSession(connector=connector) as client:
            for row in sample.values():
                async with client.get(row["url"]) as resp:
                    assert resp.status == 200, row["url"]
                    body = await resp.read()
                assert body == entries[url_key(row["url"])].read_body()
                async with client.get(row["feeds"][0]) as resp:
                    assert resp.status == 200
                    assert row["url"].encode() in await resp.read() or "&" in row["url"]

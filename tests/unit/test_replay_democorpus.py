"""The demo corpus: deterministic, self-consistent, and with the traps it promises."""

from __future__ import annotations

import filecmp
import io
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import pytest
from PIL import Image
from protego import Protego
from rapidfuzz import fuzz
from selectolax.lexbor import LexborHTMLParser

from newsline.testing.corpus import FAULTS, Entry, read_ground_truth, read_manifest, url_key
from newsline.testing.demo_content import PUBLICATIONS
from newsline.testing.democorpus import demo_sources, write_demo_corpus
from newsline.testing.faultcorpus import PAGES_HOST, feed_host, write_fault_corpus

NOW = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_corpus(tmp_path_factory.mktemp("demo"), now=NOW)


@pytest.fixture(scope="module")
def entries(demo: Path) -> dict[str, Entry]:
    return {url_key(e.url): e for e in read_manifest(demo)}


@pytest.fixture(scope="module")
def truth(demo: Path) -> list[dict[str, object]]:
    return list(read_ground_truth(demo))


def test_same_now_same_bytes(demo: Path, tmp_path: Path) -> None:
    again = write_demo_corpus(tmp_path / "again", now=NOW)
    files = sorted(p.relative_to(demo) for p in demo.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(demo, again, [str(f) for f in files], shallow=False)
    assert (mismatch, errors) == ([], [])


def test_dates_follow_now(tmp_path: Path) -> None:
    later = NOW + timedelta(days=40)
    corpus = write_demo_corpus(tmp_path / "later", now=later)
    published = [datetime.fromisoformat(str(r["published"])) for r in read_ground_truth(corpus)]
    assert max(published) <= later
    assert max(published) >= later - timedelta(hours=1)  # something just in
    assert min(published) >= later - timedelta(days=3)  # nothing stale


def test_feeds_parse_and_link_to_served_pages(
    entries: dict[str, Entry], truth: list[dict[str, object]]
) -> None:
    served = {str(r["url"]): r["served"] for r in truth}
    for source in demo_sources():
        feed = feedparser.parse(entries[url_key(source.feed_url)].read_body())
        assert not feed.bozo, (source.tag, feed.get("bozo_exception"))
        pub = next(p for p in PUBLICATIONS if p.tag == source.tag)
        assert len(feed.entries) == len(pub.articles)
        for item in feed.entries:
            assert item.title and item.get("published_parsed")
            assert served[item.link] == (url_key(item.link) in entries)
        # Newest first, as real feeds are.
        stamps = [item.published_parsed for item in feed.entries]
        assert stamps == sorted(stamps, reverse=True)


def test_home_pages_advertise_their_feeds(entries: dict[str, Entry]) -> None:
    for source in demo_sources():
        html = entries[url_key(source.home_url)].read_body().decode()
        link = LexborHTMLParser(html).css_first('link[rel="alternate"]')
        assert link is not None
        assert urljoin(source.home_url, link.attributes["href"] or "") == source.feed_url


def test_pages_carry_metadata_and_boilerplate(
    entries: dict[str, Entry], truth: list[dict[str, object]]
) -> None:
    pages = [r for r in truth if r["served"]]
    assert 24 <= len(pages) <= 40
    for row in pages:
        html = entries[url_key(str(row["url"]))].read_body().decode("utf-8")
        tree = LexborHTMLParser(html)
        assert tree.css_first("h1").text() == row["title"]
        canonical = tree.css_first('link[rel="canonical"]')
        assert canonical is not None and canonical.attributes["href"] == row["url"]
        text = " ".join(tree.body.text(separator=" ").split()) if tree.body else ""
        assert str(row["text_start"]) in text
        for snippet in row["text_with"]:  # type: ignore[union-attr]
            assert snippet in text
        for snippet in row["text_without"]:  # type: ignore[union-attr]
            assert snippet in text  # present as boilerplate, to be removed by extraction


def test_lead_images_are_served(entries: dict[str, Entry], truth: list[dict[str, object]]) -> None:
    kinds = set()
    for row in truth:
        if row["lead_image_url"] and row["served"]:
            entry = entries[url_key(str(row["lead_image_url"]))]
            body = entry.read_body()
            kinds.add(entry.header("Content-Type"))
            if body.startswith(b"\x89PNG"):
                # The IDAT chunk must inflate: a broken image would fail quietly elsewhere.
                idat = body.index(b"IDAT")
                length = int.from_bytes(body[idat - 4 : idat], "big")
                assert zlib.decompress(body[idat + 4 : idat + 4 + length])
            else:  # raster, so the image proxy can serve it (it refuses SVG)
                assert body.startswith(b"\xff\xd8\xff")
                assert Image.open(io.BytesIO(body)).size == (1200, 630)
    assert kinds == {"image/png", "image/jpeg"}


def test_one_lazy_image_with_a_relative_url(
    entries: dict[str, Entry], truth: list[dict[str, object]]
) -> None:
    lazy = []
    for row in truth:
        if not row["served"]:
            continue
        tree = LexborHTMLParser(entries[url_key(str(row["url"]))].read_body().decode())
        for img in tree.css("img[data-src]"):
            lazy.append((row, img.attributes["data-src"] or "", tree))
    assert len(lazy) == 1
    row, ref, tree = lazy[0]
    assert not ref.startswith(("http:", "https:", "/"))
    assert tree.css_first('meta[property="og:image"]') is None
    resolved = urljoin(str(row["url"]), ref)
    assert resolved == row["lead_image_url"]
    assert url_key(resolved) in entries


def test_robots_disallows_a_path_its_feed_links_to(
    entries: dict[str, Entry], truth: list[dict[str, object]]
) -> None:
    robots_entries = [e for e in entries.values() if e.url.endswith("/robots.txt")]
    assert len(robots_entries) == 1
    robots = Protego.parse(robots_entries[0].read_body().decode())
    blocked = [r for r in truth if r["robots_disallowed"]]
    assert len(blocked) == 1
    assert not robots.can_fetch(str(blocked[0]["url"]), "newsline")
    for row in truth:
        if row["host"] == blocked[0]["host"] and not row["robots_disallowed"]:
            assert robots.can_fetch(str(row["url"]), "newsline")


def test_a_feed_entry_whose_page_is_missing(
    entries: dict[str, Entry], truth: list[dict[str, object]]
) -> None:
    missing = [r for r in truth if not r["served"]]
    assert len(missing) == 1
    assert url_key(str(missing[0]["url"])) not in entries
    feed_url = missing[0]["feeds"][0]  # type: ignore[index]
    feed = feedparser.parse(entries[url_key(feed_url)].read_body())
    item = next(i for i in feed.entries if i.link == missing[0]["url"])
    # The feed carries the full text, which the pipeline must keep.
    content = LexborHTMLParser(item.content[0].value).text(separator=" ")
    assert str(missing[0]["text_start"]) in " ".join(content.split())


def test_stories_span_publishers_and_one_syndicated_copy(
    entries: dict[str, Entry], truth: list[dict[str, object]]
) -> None:
    by_story: dict[str, set[str]] = defaultdict(set)
    for row in truth:
        if row["story"]:
            by_story[str(row["story"])].add(str(row["publication"]))
    multi = [s for s, pubs in by_story.items() if len(pubs) >= 2]
    assert len(multi) >= 4
    assert any(len(pubs) >= 3 for pubs in by_story.values())
    copies = [r for r in truth if r["syndicated_from"]]
    assert len(copies) == 1
    copy, original = copies[0], next(r for r in truth if r["url"] == copies[0]["syndicated_from"])
    assert copy["host"] != original["host"]

    def text(row: dict[str, object]) -> str:
        html = entries[url_key(str(row["url"]))].read_body().decode()
        node = LexborHTMLParser(html).css_first(".content, .story-text, .article-body")
        assert node is not None
        return node.text(separator=" ")

    similarity = fuzz.ratio(text(copy), text(original))
    assert 85 <= similarity < 100  # a near-copy, not a byte copy


def test_topics_cover_the_newsroom(truth: list[dict[str, object]]) -> None:
    topics = {r["topic"] for r in truth}
    assert {"politics", "economy", "sports", "war", "technology", "health", "crime"} <= topics


def test_demo_sources_match_the_corpus(entries: dict[str, Entry]) -> None:
    sources = demo_sources()
    assert len(sources) == len(PUBLICATIONS) == 4
    assert len({s.tag for s in sources}) == 4
    assert {s.republish for s in sources} == {"full", "teaser"}
    for source in sources:
        assert source.feed_url.startswith(f"https://{source.home_url.split('/')[2]}/")
        assert source.home_url.split("/")[2].endswith(".example")
        assert url_key(source.feed_url) in entries


def test_fault_corpus_has_every_fault_as_feed_and_page(tmp_path: Path) -> None:
    corpus = write_fault_corpus(tmp_path / "faults", now=NOW)
    entries = read_manifest(corpus)
    feed_faults = {e.fault for e in entries if e.fault and e.extra.get("kind") == "feed"}
    page_faults = {e.fault for e in entries if e.fault and e.extra.get("kind") == "page"}
    assert feed_faults == page_faults == set(FAULTS)
    by_key = {url_key(e.url): e for e in entries}
    # The healthy demo publishers are all there too.
    assert all(url_key(s.feed_url) in by_key for s in demo_sources())
    pages_feed = by_key[url_key(f"https://{PAGES_HOST}/feed.xml")]
    assert pages_feed.fault is None
    parsed = feedparser.parse(pages_feed.read_body())
    assert not parsed.bozo
    assert {by_key[url_key(i.link)].fault for i in parsed.entries} == set(FAULTS)
    rows = [r for r in read_ground_truth(corpus) if r["origin"] == "fault"]
    assert {r["fault"] for r in rows} - {None} == set(FAULTS)
    assert {r["feed_fault"] for r in rows} - {None} == set(FAULTS)
    for row in rows:  # every listed page is in the corpus, healthy or not
        assert url_key(str(row["url"])) in by_key
    for fault in FAULTS:  # a fault feed's body is itself a valid feed of one item
        entry = by_key[url_key(f"https://{feed_host(fault)}/feed.xml")]
        assert len(feedparser.parse(entry.read_body()).entries) == 1


# --- the history `newsline demo` ships (demo_history) ----------------------------------------


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_corpus(tmp_path_factory.mktemp("history"), now=NOW, history=True)


def test_history_has_a_dozen_publishers_over_several_days(history: Path) -> None:
    rows = list(read_ground_truth(history))
    publishers = {r["publication"] for r in rows}
    assert len(publishers) == len(demo_sources(history=True)) >= 12
    published = [datetime.fromisoformat(str(r["published"])) for r in rows]
    assert max(published) >= NOW - timedelta(hours=1)
    assert NOW - timedelta(days=4) <= min(published) <= NOW - timedelta(days=3)
    by_day = {p.date() for p in published}
    assert len(by_day) >= 4
    entries = {url_key(e.url) for e in read_manifest(history)}
    for source in demo_sources(history=True):
        assert url_key(source.feed_url) in entries and url_key(source.home_url) in entries


def test_history_stories_are_told_by_two_to_five_publishers_in_their_own_words(
    history: Path,
) -> None:
    rows = [r for r in read_ground_truth(history) if r["story"] and r["served"]]
    by_story: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        by_story[str(row["story"])].append(row)
    counts = [len({r["publication"] for r in group}) for group in by_story.values()]
    assert min(counts) >= 1 and max(counts) == 5
    assert sum(1 for c in counts if c >= 2) >= 15
    entries = {url_key(e.url): e for e in read_manifest(history)}

    def text(row: dict[str, object]) -> str:
        html = entries[url_key(str(row["url"]))].read_body().decode()
        node = LexborHTMLParser(html).css_first(".content, .story-text, .article-body")
        assert node is not None
        return node.text(separator=" ")

    for group in by_story.values():
        if any(r["syndicated_from"] for r in group):
            continue  # the one intended near-copy (tested above)
        titles = [str(r["title"]) for r in group]
        assert len(set(titles)) == len(titles)
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                assert fuzz.ratio(text(a), text(b)) < 70, (a["title"], b["title"])


def test_history_images_are_raster_and_differ(history: Path) -> None:
    images = [e for e in read_manifest(history) if e.extra.get("kind") == "image"]
    assert len(images) >= 40
    bodies = {e.read_body() for e in images}
    assert len(bodies) == len(images)
    for entry in images:
        assert entry.header("Content-Type") in ("image/jpeg", "image/png")

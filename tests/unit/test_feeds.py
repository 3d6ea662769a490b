"""Feed parsing, discovery and OPML: synthetic edge cases plus every real feed in the corpora."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsline.ingest.feeds import (
    FeedError,
    NotAFeedError,
    OpmlSource,
    discover_feeds,
    parse_feed,
    parse_opml,
    write_opml,
)
from tests.support.corpora import CORPORA, needs_corpora

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Gazette</title><link>https://gazette.example/</link>
<item><title>First &amp; best</title><link>/news/first?utm_source=rss</link>
<guid isPermaLink="false">g-1</guid><author>desk@gazette.example (Ann Reporter)</author>
<pubDate>Fri, 25 Jul 2025 15:30:00 -0500</pubDate><description>&lt;p&gt;Short &lt;b&gt;teaser&lt;/b&gt;&lt;/p&gt;</description>
<enclosure url="https://gazette.example/img/1.jpg" type="image/jpeg" length="1"/></item>
</channel></rss>"""


def test_rss_entry_fields_are_normalized() -> None:
    feed = parse_feed(RSS, "https://gazette.example/feed.xml")
    assert feed.title == "Gazette" and feed.version == "rss20"
    (entry,) = feed.entries
    assert entry.title == "First & best"
    assert entry.link == "https://gazette.example/news/first?utm_source=rss"
    assert entry.guid == "g-1"
    assert entry.author == "Ann Reporter"
    assert entry.published == datetime(2025, 7, 25, 20, 30, tzinfo=UTC)
    assert entry.image_url == "https://gazette.example/img/1.jpg"
    assert "teaser" in entry.summary_html


def test_whitespace_and_bom_before_xml_declaration_are_forgiven() -> None:
    feed = parse_feed(b"\xef\xbb\xbf\n\n  " + RSS, "https://gazette.example/feed.xml")
    assert len(feed.entries) == 1


def test_latin1_feed_without_declared_charset_decodes() -> None:
    body = RSS.replace(b'encoding="utf-8"', b'encoding="iso-8859-1"').replace(
        b"First", "Caf\xe9".encode("latin-1")
    )
    feed = parse_feed(body, "https://gazette.example/feed.xml")
    assert feed.entries[0].title.startswith("Café")


def test_atom_xml_base_resolves_relative_links() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/blog/">
    <title>B</title><id>urn:b</id><updated>2025-01-01T00:00:00Z</updated>
    <entry><title>E</title><id>urn:e</id><updated>2025-01-02T00:00:00Z</updated>
    <link rel="alternate" href="posts/e.html"/></entry></feed>"""
    feed = parse_feed(atom, "https://other.example/atom.xml")
    assert feed.entries[0].link == "https://base.example/blog/posts/e.html"
    assert feed.entries[0].published == datetime(2025, 1, 2, tzinfo=UTC)


def test_json_feed_11() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "home_page_url": "https://j.example/",
        "items": [
            {
                "id": "1",
                "url": "https://j.example/a",
                "title": "A",
                "content_text": "Plain <text>",
                "date_published": "2025-07-25T10:00:00-05:00",
                "authors": [{"name": "Jo"}],
                "image": "/a.png",
            }
        ],
    }
    feed = parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json")
    assert feed.version == "json11"
    (e,) = feed.entries
    assert e.author == "Jo" and e.published == datetime(2025, 7, 25, 15, tzinfo=UTC)
    assert e.content_html == "<p>Plain &lt;text&gt;</p>"
    assert e.image_url == "https://j.example/a.png"


def test_html_page_at_feed_url_names_the_feeds_it_announces() -> None:
    page = b"""<!DOCTYPE html><html><head>
    <link rel="alternate" type="application/atom+xml" href="/atom.xml">
    <link rel="alternate" type="application/rss+xml" href="https://h.example/rss">
    <link rel="stylesheet" href="/s.css"></head><body>hi</body></html>"""
    with pytest.raises(NotAFeedError) as info:
        parse_feed(page, "https://h.example/")
    assert info.value.discovered == ["https://h.example/rss", "https://h.example/atom.xml"]
    assert "https://h.example/rss" in str(info.value)
    assert discover_feeds(page, "https://h.example/") == info.value.discovered


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b'{"rss": {}}', "not a JSON Feed"),
        (b"%PDF-1.4 binary", "not a feed"),
        (b"<?xml version='1.0'?><note><to>x</to></note>", "not a feed"),
    ],
)
def test_non_feeds_raise_a_readable_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(body, "https://x.example/feed")


def test_opml_round_trip_keeps_tag_and_mode() -> None:
    sources = [
        OpmlSource("https://a.example/rss", "A & Co", "https://a.example/", "aco", "teaser", "US"),
        OpmlSource("https://b.example/atom", "B", None, "b", "full", "US"),
    ]
    again = parse_opml(write_opml(sources).encode())
    assert again == sources


def test_opml_refuses_entities_and_garbage() -> None:
    with pytest.raises(FeedError, match="entity"):
        parse_opml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><opml/>')
    with pytest.raises(FeedError, match="not well-formed"):
        parse_opml(b"<opml><body>")
    with pytest.raises(FeedError, match="not an OPML"):
        parse_opml(b"<rss/>")


def test_starter_opml_lists_real_publishers_in_teaser_mode() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = parse_opml((root / "examples" / "starter.opml").read_bytes())
    assert len(sources) >= 28
    assert all(s.republish == "teaser" and s.tag for s in sources)
    assert len({s.tag for s in sources}) == len(sources)
    assert all(s.xml_url.startswith(("https://", "http://")) for s in sources)


def _corpus_feeds() -> list[Path]:
    if not CORPORA.is_dir():
        return []
    skip = {".md", ".html", ".opml"}
    return sorted(
        p
        for p in (CORPORA / "feeds").rglob("*")
        if p.is_file()
        and p.suffix not in skip
        and "output" not in p.parts
        and not p.name.endswith(".serde.json")
    )


# Files that are not feeds at all, or are broken beyond recovery, by the corpus README.
NOT_FEEDS = {
    "rss-parser/input/unrecognized.rss",  # an HTML "Document Moved" page
    "netnewswire/allthis-partial.json",  # truncated JSON
    "netnewswire/ScriptingNews.json",  # RSS-shaped JSON, not a JSON Feed
    "feedparser-illformed/rss_empty_document.xml",
    "feed-rs/xml/xml_sample_1.xml",  # generic XML (a book catalog)
    "feed-rs/xml/xml_sample_2.xml",
}


@needs_corpora
def test_every_real_feed_parses_or_fails_cleanly() -> None:
    files = [p for p in _corpus_feeds() if "FirstEntry" not in p.name]  # excerpts, not documents
    assert len(files) > 200
    with_entries = 0
    refused: set[str] = set()
    for path in files:
        rel = str(path.relative_to(CORPORA / "feeds"))
        try:
            feed = parse_feed(path.read_bytes(), f"https://corpus.example/{rel}")
        except FeedError as exc:
            refused.add(rel)
            assert len(str(exc)) > 10
            continue
        with_entries += bool(feed.entries)
        for entry in feed.entries:
            assert entry.published is None or entry.published.tzinfo is not None
            assert entry.link.startswith(("http://", "https://")) or not entry.link
    assert refused >= NOT_FEEDS
    # Ill-formed documents are forgiven when entries can be recovered (feedparser's bozo mode).
    assert with_entries >= 175
    assert len(refused) <= 25, sorted(refused)


@needs_corpora
@pytest.mark.parametrize(
    ("rel", "needle"),
    [
        ("netnewswire/kc0011.rss", None),  # gb2312
        ("miniflux/parser/encoding_ISO-8859-1.xml", None),
        ("miniflux/parser/no_encoding_ISO-8859-1.xml", None),
        ("miniflux/parser/encoding_WINDOWS-1251.xml", None),
    ],
)
def test_declared_and_sniffed_charsets_decode_to_readable_text(
    rel: str, needle: str | None
) -> None:
    feed = parse_feed((CORPORA / "feeds" / rel).read_bytes(), "https://corpus.example/feed")
    text = feed.title + " ".join(e.title + e.summary_html for e in feed.entries)
    assert text.strip()
    assert "\ufffd" not in text, "replacement characters mean a wrong charset"


@needs_corpora
def test_feed_discovery_on_real_home_pages() -> None:
    page = (CORPORA / "feeds" / "netnewswire" / "DaringFireball.html").read_bytes()
    found = discover_feeds(page, "https://daringfireball.net/")
    assert found and all(u.startswith("https://daringfireball.net/") for u in found)

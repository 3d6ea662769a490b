"""Malformed feeds by the thousand: the parser's only exception is FeedError (issue 10).

Four property tests, 10,000 generated documents in all: RSS/Atom built from
feed-shaped fragments, byte-level damage to a real-looking feed, JSON Feed-shaped objects
with values of every JSON type, and arbitrary JSON. Whatever comes in, ``parse_feed``
returns a ParsedFeed or raises FeedError; any other exception would stop a refresh pass.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsline.ingest.feeds import FeedError, ParsedFeed, load_opml, parse_feed


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


URL = "https://fuzz.example/feed.xml"

TAGS = [
    "rss", "channel", "item", "feed", "entry", "rdf:RDF", "title", "link", "guid", "id",
    "pubDate", "updated", "published", "author", "dc:creator", "managingEditor",
    "itunes:author", "description", "summary", "content", "content:encoded", "enclosure",
    "media:content", "media:thumbnail", "name", "email", "source", "category", "image",
]  # fmt: skip
ATTRS = ["href", "rel", "type", "url", "isPermaLink", "xml:base", "version", "xmlns", "length"]
TEXTS = [
    "", "x", "http://[::1", "https://a.example:99999/", "//host/p", "/rel", "javascript:x",
    "urn:uuid:1", "&amp;", "&", "&#0;", "&#x110000;", "&bogus;", "<![CDATA[", "]]>", "<", ">",
    "\x00", "\x0c", "\ud7ff", "😀", "Fri, 31 Dec 9999 23:59:59 +9999", "0000-00-00T00:00:00Z",
    "text/html", "html", "xhtml", "alternate", "enclosure", "mark@example.org (Mark)",
    "2.0", "http://www.w3.org/2005/Atom", "http://purl.org/rss/1.0/", "<b>x</b>", "-1", "1e999",
]  # fmt: skip

EXTRA = ["", "x", "é", "\x00", "]]>", "&", "<", '"', "'", "/", "\n", "0"]


def build_xml(stream: list[int]) -> bytes:
    """A feed-shaped document from a stream of numbers: tags opened, attributes, texts,
    closed or not (a cheap generator: hypothesis draws and shrinks the numbers)."""
    out = [PROLOGS[stream[0] % len(PROLOGS)], "<rss>" if stream[0] % 3 else "<feed>"]
    open_tags: list[str] = []
    for n in stream[1:]:
        kind, value = n % 6, n // 6
        if kind <= 1:
            tag = TAGS[value % len(TAGS)]
            attr = ATTRS[value % len(ATTRS)]
            attrs = f' {attr}="{TEXTS[value % len(TEXTS)]}"' if value % 2 else ""
            out.append(f"<{tag}{attrs}>")
            open_tags.append(tag)
        elif kind == 2 and open_tags:
            out.append(f"</{open_tags.pop()}>")
        elif kind == 3:
            out.append(TEXTS[value % len(TEXTS)])
        elif kind == 4:
            out.append(EXTRA[value % len(EXTRA)] * (1 + value % 3))
        else:
            out.append(chr(value % 0x2FFFF) if not 0xD800 <= value % 0x2FFFF < 0xE000 else "?")
    if stream[-1] % 2:
        out.extend(f"</{tag}>" for tag in reversed(open_tags))
    return "".join(out).encode("utf-8")


PROLOGS = [
    "",
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="iso-8859-1"?>',
    '<?xml version="1.0" encoding="bogus"?>',
    '\n<?xml version="1.0" encoding="utf-8"?>',
    "<!DOCTYPE rss [<!ENTITY e 'x'>]>",
]
xml_document = st.lists(st.integers(min_value=0, max_value=2**20), min_size=1, max_size=60).map(
    build_xml
)


SEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>'
    b"<link>https://s.example/</link><item><title>A &amp; B</title><link>/a</link>"
    b'<guid isPermaLink="false">g</guid><dc:creator>Ann</dc:creator>'
    b"<pubDate>Fri, 25 Jul 2025 15:30:00 -0500</pubDate><description>&lt;p&gt;x&lt;/p&gt;"
    b'</description><enclosure url="https://s.example/a.mp3" type="audio/mpeg"/></item>'
    b"</channel></rss>"
)


@st.composite
def damaged_feed(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if action == "flip" and data:
            data[at] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=20))]
        else:
            data[at:at] = data[at : at + draw(st.integers(min_value=1, max_value=40))]
    return bytes(data)


FEED_KEYS = ["version", "title", "home_page_url", "feed_url", "icon", "favicon", "authors",
             "author", "items"]  # fmt: skip
ITEM_KEYS = ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
             "image", "banner_image", "date_published", "date_modified", "authors", "author",
             "attachments", "name"]  # fmt: skip
VERSIONS = ["https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1", "1.1", "1", 1.1]
SCALARS: list[Any] = [None, True, False, 0, -1, 1.5, 1e308, 2**70, *TEXTS]


def build_json(stream: list[int], keys: list[str]) -> Any:
    """A JSON value from a stream of numbers, with object keys taken from `keys`."""
    numbers = iter(stream)

    def value(depth: int) -> Any:
        n = next(numbers, 0)
        kind, rest = n % 4, n // 4
        if depth > 4 or kind == 0:
            return SCALARS[rest % len(SCALARS)]
        if kind == 1:
            return [value(depth + 1) for _ in range(rest % 4)]
        if kind == 2:
            return {keys[(rest + i) % len(keys)]: value(depth + 1) for i in range(rest % 5)}
        return str(rest)

    return value(0)


def build_json_feed(stream: list[int]) -> bytes:
    doc = build_json(stream[1:], FEED_KEYS)
    if not isinstance(doc, dict):
        doc = {"items": doc}
    doc["version"] = VERSIONS[stream[0] % len(VERSIONS)]
    if stream[0] % 3:
        doc["items"] = [build_item(stream[i : i + 7]) for i in range(1, len(stream), 7)]
    return json.dumps(doc).encode()


def build_item(chunk: list[int]) -> Any:
    """Mostly an item object whose fields hold any JSON type; now and then not an object."""
    if chunk[0] % 10 == 0:
        return build_json(chunk, ITEM_KEYS)
    return {
        ITEM_KEYS[n % len(ITEM_KEYS)]: build_json(chunk[k + 1 :], ITEM_KEYS)
        for k, n in enumerate(chunk[:5])
    }


numbers = st.lists(st.integers(min_value=0, max_value=2**20), min_size=1, max_size=50)
json_feed = numbers.map(build_json_feed)
any_json = numbers.map(lambda s: json.dumps(build_json(s, FEED_KEYS + ITEM_KEYS)).encode())


def parses_or_refuses(body: bytes) -> None:
    try:
        feed = parse_feed(body, URL)
    except FeedError as exc:
        assert str(exc)
        return
    assert isinstance(feed, ParsedFeed)
    for entry in feed.entries:
        assert entry.guid
        assert not entry.link or entry.link.startswith(("http://", "https://"))


@fuzz(3_500)
@given(xml_document)
def test_generated_xml_feeds_raise_only_feed_error(body: bytes) -> None:
    parses_or_refuses(body)


@fuzz(1_500)
@given(damaged_feed())
def test_damaged_feeds_raise_only_feed_error(body: bytes) -> None:
    parses_or_refuses(body)


@fuzz(3_000)
@given(json_feed)
def test_generated_json_feeds_raise_only_feed_error(body: bytes) -> None:
    parses_or_refuses(body)


@fuzz(2_000)
@given(any_json | st.binary(max_size=64).map(b"{".__add__))
def test_arbitrary_json_raises_only_feed_error(body: bytes) -> None:
    parses_or_refuses(body)


@settings(max_examples=500, deadline=None, database=None)
@given(xml_document)
def test_generated_opml_raises_only_feed_error(body: bytes) -> None:
    opml = body.replace(b"rss", b"opml").replace(b"item", b"outline").replace(b"channel", b"body")
    with contextlib.suppress(FeedError):  # anything else fails the test
        load_opml(opml)

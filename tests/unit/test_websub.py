"""WebSub units: hub discovery (Link headers, RSS, Atom, JSON Feed), signatures, our feeds."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from newsline.ingest.websub import HubLinks, discover_hub, parse_link_header, signature_ok
from newsline.publish.feeds_out import FeedEntry, FeedInfo, render

FEED = "https://pub.example/feed.xml"


def rss(head: str, items: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:atom10="http://www.w3.org/2005/Atom"><channel><title>t</title>'
        f"<link>https://pub.example/</link>{head}{items}</channel></rss>"
    ).encode()


def test_link_header_values_are_split_by_link_and_rel() -> None:
    links = parse_link_header(
        '<https://hub.example/>; rel="hub", <https://pub.example/f>; rel="self alternate"; '
        'type="application/rss+xml", </x>;rel=next'
    )
    assert links == [
        ("https://hub.example/", {"hub"}),
        ("https://pub.example/f", {"self", "alternate"}),
        ("/x", {"next"}),
    ]


def test_link_headers_come_before_the_body() -> None:
    body = rss('<atom:link rel="hub" href="https://other.example/"/>')
    headers = {"link": '<https://hub.example/>; rel="hub", <https://pub.example/self>; rel="self"'}
    assert discover_hub(body, headers, FEED) == HubLinks(
        "https://hub.example/", "https://pub.example/self"
    )


@pytest.mark.parametrize(
    "head",
    [
        '<atom:link rel="hub" href="https://hub.example/"/>'
        '<atom:link rel="self" href="https://pub.example/self"/>',
        # FeedBurner's prefix, attributes in another order, single quotes, an entity
        "<atom10:link href='https://hub.example/' rel='hub' />"
        '<atom10:link type="application/rss+xml" href="https://pub.example/self" rel="self"/>',
    ],
)
def test_rss_feeds_name_their_hub_with_atom_links(head: str) -> None:
    assert discover_hub(rss(head), {}, FEED) == HubLinks(
        "https://hub.example/", "https://pub.example/self"
    )


def test_atom_feeds_relative_hubs_and_a_missing_self() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b'<link rel="alternate" href="https://pub.example/"/><link rel="hub" href="/hub?a=1&amp;b=2"/>'
        b"<entry><id>x</id></entry></feed>"
    )
    # No rel="self": the topic is the URL the feed came from; the hub resolves against it.
    assert discover_hub(body, {}, FEED) == HubLinks("https://pub.example/hub?a=1&b=2", FEED)


def test_json_feeds_name_their_hubs() -> None:
    body = (
        b'{"version":"https://jsonfeed.org/version/1.1","title":"t","feed_url":"https://pub.example/f.json",'
        b'"hubs":[{"type":"rssCloud","url":"https://cloud.example/"},'
        b'{"type":"WebSub","url":"https://hub.example/"}],"items":[]}'
    )
    assert discover_hub(body, {}, FEED) == HubLinks(
        "https://hub.example/", "https://pub.example/f.json"
    )


@pytest.mark.parametrize(
    "body",
    [
        rss(""),
        rss('<atom:link rel="self" href="https://pub.example/self"/>'),
        rss('<atom:link rel="hub" href="javascript:alert(1)"/>'),
        # A hub link inside an item is an item's business, not the feed's.
        rss("", '<item><atom:link rel="hub" href="https://hub.example/"/></item>'),
        b"\x00\xff not a feed at all",
        b'{"hubs": "https://hub.example/"}',
        b"[1, 2]",
    ],
)
def test_no_usable_hub_is_none(body: bytes) -> None:
    assert discover_hub(body, {}, FEED) is None


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_signatures_of_every_method_of_the_spec(method: str) -> None:
    body = b"<rss/>"
    digest = hmac.new(b"s3cret", body, getattr(hashlib, method)).hexdigest()
    assert signature_ok("s3cret", body, f"{method}={digest}")
    assert signature_ok("s3cret", body, f"{method.upper()}={digest.upper()}")
    assert not signature_ok("other", body, f"{method}={digest}")
    assert not signature_ok("s3cret", body + b" ", f"{method}={digest}")


@pytest.mark.parametrize("header", [None, "", "sha256", "sha256=", "md5=abcd", "=abcd"])
def test_missing_or_unknown_signatures_are_refused(header: str | None) -> None:
    assert not signature_ok("s3cret", b"<rss/>", header)


@pytest.mark.parametrize("kind", ["rss", "atom", "json"])
def test_our_own_feeds_advertise_the_configured_hub(kind: str) -> None:
    info = FeedInfo(
        title="News",
        home_url="https://news.example/news/newsline",
        feed_url=f"https://news.example/news/{kind}",
        hub_url="https://hub.example/",
    )
    entry = FeedEntry(
        id="https://news.example/i/1",
        url="https://news.example/i/1",
        title="One",
        published=datetime(2026, 1, 1, tzinfo=UTC),
    )
    body = render(kind, info, [entry]).encode()
    assert discover_hub(body, {}, "https://elsewhere.example/") == HubLinks(
        "https://hub.example/", info.feed_url
    )
    plain = FeedInfo(title="News", home_url=info.home_url, feed_url=info.feed_url)
    assert discover_hub(render(kind, plain, [entry]).encode(), {}, info.feed_url) is None

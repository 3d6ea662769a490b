"""The one URL builder: every path of the site, as the spec and our readers' feeds know it."""

from __future__ import annotations

import re

import pytest

from newsline import urls
from newsline.urls import ChannelFile, Urls, channel_file, feed_kind

U = Urls("https://news.example.org/")


def test_pages_keep_the_original_scheme() -> None:
    assert U.home() == "/"
    assert U.newsline("usc") == "/usc/newsline"
    assert U.item("usc", "nro", "a-title") == "/usc/topic/nro/a-title"
    assert U.item("usc", "nro", 42) == "/usc/topic/nro/42"  # an item without a slug
    assert U.publication("usc", "nro") == "/usc/solo/nro"
    assert U.hashtag("usc", "politics") == "/usc/tag/politics"
    assert U.publications("usc") == "/usc/publications"
    assert U.digests("usc", "usc") == "/usc/solo/usc"
    digest = "the-digest-7252025-1030am-cdt"
    assert U.digest("usc", "usc", digest) == f"/usc/topic/usc/{digest}"


def test_search_and_digest_links_carry_their_query() -> None:
    assert U.search("usc") == "/usc/search"
    assert U.search("usc", "gull & tides", 2) == "/usc/search?q=gull%20%26%20tides&page_no=2"
    assert U.search("usc", "gull", 1) == "/usc/search?q=gull"
    assert U.digest_subscribe("usc") == "/usc/digest/subscribe"
    assert U.digest_confirm("usc", "t0k-en_") == "/usc/digest/confirm?token=t0k-en_"
    assert U.digest_unsubscribe("usc", "a/b?") == "/usc/digest/unsubscribe?token=a/b%3F"


def test_feeds_sitemaps_robots() -> None:
    assert [U.feed("usc", k) for k in ("rss", "atom", "json")] == [
        "/usc/feed.xml",
        "/usc/atom.xml",
        "/usc/feed.json",
    ]
    assert U.publication_feed("usc", "nro", "atom") == "/usc/solo/nro/atom.xml"
    assert U.hashtag_feed("usc", "war", "json") == "/usc/tag/war/feed.json"
    assert U.digest_feed("usc") == "/usc/digest/feed.xml"
    assert U.sitemap("usc") == "/usc/sitemap.xml"
    assert U.sitemap("usc", 3) == "/usc/sitemap-3.xml"
    assert U.robots() == "/robots.txt"
    assert U.robots("usc") == "/usc/robots.txt"
    with pytest.raises(KeyError):
        U.feed("usc", "opml")


def test_the_rest_of_the_site() -> None:
    assert U.online("usc") == "/usc/online"
    assert U.options("/usc/tag/war", theme="dark") == "/_options?theme=dark&next=/usc/tag/war"
    assert U.options("/", dense=True) == "/_options?dense=1&next=/"
    assert U.options("/a b?c", dense=False) == "/_options?dense=0&next=/a%20b%3Fc"
    assert U.static("site.css", "ab12") == "/static/site.css?v=ab12"
    assert U.static("icon.svg") == "/static/icon.svg"
    assert U.openapi() == "/openapi.json"


def test_api_paths() -> None:
    assert U.api_channels() == "/api/v1/channels"
    assert U.api_channel("usc") == "/api/v1/channels/usc"
    assert U.api_publications("usc") == "/api/v1/channels/usc/publications"
    assert U.api_items("usc") == "/api/v1/channels/usc/items"
    assert (
        U.api_items("usc", limit=5, hashtag="war")
        == "/api/v1/channels/usc/items?limit=5&hashtag=war"
    )
    assert U.api_item("usc", 7) == "/api/v1/channels/usc/items/7"
    assert U.api_search("usc", "gull", cursor=20) == "/api/v1/channels/usc/search?q=gull&cursor=20"


def test_absolute_urls_use_the_configured_base() -> None:
    assert U.base_url == "https://news.example.org"
    assert U.absolute(U.newsline("usc")) == "https://news.example.org/usc/newsline"
    sub = Urls("https://example.org/news")  # a site served under a path prefix
    assert sub.absolute(sub.item("c", "p", "s")) == "https://example.org/news/c/topic/p/s"
    assert Urls().absolute("/x") == "/x"


def test_segments_are_quoted() -> None:
    assert U.hashtag("usc", "a/b c") == "/usc/tag/a%2Fb%20c"
    assert U.item("usc", "nro", "../../admin") == "/usc/topic/nro/..%2F..%2Fadmin"


def test_builders_fill_the_routes_the_app_registers() -> None:
    # Each route template, filled with a value per placeholder, is what the builder makes.
    pairs = [
        (urls.NEWSLINE, U.newsline("c")),
        (urls.ITEM, U.item("c", "p", "s")),
        (urls.PUBLICATION, U.publication("c", "p")),
        (urls.PUBLICATION_FEED, U.publication_feed("c", "p")),
        (urls.HASHTAG, U.hashtag("c", "h")),
        (urls.HASHTAG_FEED, U.hashtag_feed("c", "h")),
        (urls.SEARCH, U.search("c")),
        (urls.PUBLICATIONS, U.publications("c")),
        (urls.CHANNEL_FILE, U.feed("c")),
        (urls.DIGEST_SUBSCRIBE, U.digest_subscribe("c")),
        (urls.DIGEST_FEED, U.digest_feed("c")),
        (urls.DIGEST_ARCHIVE, U.digest_archive("c")),
        (urls.DIGEST_DAY, U.digest_day("c", "2025-07-25")),
        (urls.ONLINE, U.online("c")),
        (urls.API + urls.API_ITEM, U.api_item("c", 1)),
    ]
    for template, path in pairs:
        pattern = re.sub(r"\{\w+\}", "[^/]+", template)
        assert re.fullmatch(pattern, path), (template, path)


def test_channel_files() -> None:
    assert feed_kind("feed.xml") == "rss" and feed_kind("atom.xml") == "atom"
    assert feed_kind("feed.json") == "json" and feed_kind("feed.rss") is None
    assert channel_file("feed.json") == ChannelFile("feed", feed="json")
    assert channel_file("sitemap.xml") == ChannelFile("sitemap")
    assert channel_file("sitemap-12.xml") == ChannelFile("sitemap", number=12)
    assert channel_file("robots.txt") == ChannelFile("robots")
    for name in ("sitemap-.xml", "sitemap-x.xml", "newsline", "feed", "sitemap-1.json"):
        assert channel_file(name) is None, name

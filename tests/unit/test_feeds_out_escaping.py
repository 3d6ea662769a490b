"""Feeds out under hostile publisher text: no element a reader renders as HTML carries live
markup, and every reader shows the text exactly as the publisher wrote it (issue 16, item 6).

Feeds are read back with feedparser (its own sanitizer off, as a reader without one would
see them); an element typed ``text/html`` must hold no tag and show the original text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
import pytest

from newsline.publish import feeds_out
from tests.support.feedtext import shown
from tests.support.webdata import XSS

EVIL = f"Items of Evil {XSS['title']} & more"
INFO = feeds_out.FeedInfo(
    title=f"Evil Gazette {XSS['author']}",
    home_url="https://news.example.net/news",
    feed_url="https://news.example.net/news/feed.xml",
    description=EVIL,
    author="The <b>Channel</b>",
    icon_url="https://news.example.net/icon.png",
)
ENTRY = feeds_out.FeedEntry(
    id="https://news.example.net/news/topic/x/1",
    url="https://news.example.net/news/topic/x/1",
    title=XSS["title"],
    published=datetime(2026, 11, 1, 12, tzinfo=UTC),
    author=XSS["author"],
    summary=XSS["caption"] + " 1 < 2 && 3 > 2 &amp;",
)


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_xml_feeds_show_publisher_text_as_text(kind: str) -> None:
    parsed = feedparser.parse(feeds_out.render(kind, INFO, [ENTRY]), sanitize_html=False)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert shown(parsed.feed.title_detail) == INFO.title
    assert shown(parsed.feed.subtitle_detail) == EVIL
    entry = parsed.entries[0]
    assert shown(entry.title_detail) == ENTRY.title
    assert shown(entry.summary_detail) == ENTRY.summary
    assert "content" not in entry


def test_rss_description_without_description_shows_the_title() -> None:
    info = feeds_out.FeedInfo(
        title=XSS["title"], home_url="https://a.example", feed_url="https://a.example/f"
    )
    parsed = feedparser.parse(feeds_out.rss(info, []), sanitize_html=False)
    assert shown(parsed.feed.subtitle_detail) == XSS["title"]


def test_sanitized_content_html_stays_html() -> None:
    entry = feeds_out.FeedEntry(
        id="i",
        url="https://a.example/1",
        title="t",
        published=ENTRY.published,
        summary="s",
        content_html="<p>Kept <b>bold</b> &amp; fine</p>",
    )
    for kind in ("rss", "atom"):
        parsed = feedparser.parse(feeds_out.render(kind, INFO, [entry]), sanitize_html=False)
        assert parsed.entries[0].content[0].value == "<p>Kept <b>bold</b> &amp; fine</p>"
    item = json.loads(feeds_out.json_feed(INFO, [entry]))["items"][0]
    assert item["content_html"] == "<p>Kept <b>bold</b> &amp; fine</p>"


def test_json_feed_keeps_text_in_text_fields() -> None:
    document = json.loads(feeds_out.json_feed(INFO, [ENTRY]))
    assert document["title"] == INFO.title
    assert document["description"] == EVIL
    item = document["items"][0]
    assert item["title"] == ENTRY.title
    assert item["summary"] == ENTRY.summary
    # no body: the summary is the text content, never HTML
    assert item["content_text"] == ENTRY.summary and "content_html" not in item

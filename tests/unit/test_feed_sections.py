"""Section/category labels of feed entries: RSS <category>, Atom <category>, JSON Feed tags."""

from __future__ import annotations

import json

from newsline.ingest.feeds import MAX_SECTIONS, parse_feed

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Paper</title>
<link>https://paper.example/</link><description>News</description>
<item><title>Cup final</title><link>https://paper.example/a</link>
<category domain="https://paper.example/sport">Sport</category>
<category>  Football \n</category><category>sport</category>
<category>12345</category><category>https://paper.example/tag/x</category>
<category>&lt;b&gt;World&lt;/b&gt; news</category></item>
<item><title>No labels</title><link>https://paper.example/b</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Paper</title><id>urn:paper</id><updated>2026-11-30T10:00:00Z</updated>
<entry><title>Budget</title><id>urn:a</id><link href="https://paper.example/budget"/>
<updated>2026-11-30T10:00:00Z</updated>
<category term="biz" label="Business"/><category term="Economy"/>
<category term="45121504"/></entry></feed>"""


def test_rss_categories_become_sections_cleaned_and_once() -> None:
    feed = parse_feed(RSS, "https://paper.example/rss")
    assert feed.entries[0].sections == ("Sport", "Football", "World news")
    assert feed.entries[1].sections == ()


def test_atom_categories_prefer_the_label_over_the_term() -> None:
    feed = parse_feed(ATOM, "https://paper.example/atom")
    assert feed.entries[0].sections == ("Business", "Economy")


def test_json_feed_tags_become_sections_and_odd_types_are_ignored() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Paper",
        "items": [
            {"id": "1", "url": "https://paper.example/1", "tags": ["Tech", 7, None, "tech", "AI"]},
            {"id": "2", "url": "https://paper.example/2", "tags": "Tech"},
            {"id": "3", "url": "https://paper.example/3", "tags": [f"t{i}" for i in range(40)]},
        ],
    }
    feed = parse_feed(json.dumps(doc).encode(), "https://paper.example/feed.json")
    assert feed.entries[0].sections == ("Tech", "AI")
    assert feed.entries[1].sections == ()
    assert len(feed.entries[2].sections) == MAX_SECTIONS


def test_control_characters_are_removed_from_sections() -> None:
    item = {"id": "1", "url": "https://p.example/1", "tags": ["Wor\u0000ld", "\u0001"]}
    doc = {"version": "https://jsonfeed.org/version/1", "title": "P", "items": [item]}
    feed = parse_feed(json.dumps(doc).encode(), "https://p.example/feed.json")
    assert feed.entries[0].sections == ("World",)

"""Feed entries stored as the publisher wrote them, and OPML imports (issues 10 and 16).

Real SQLite, the real store and the real web app: entries without a link are kept once and
read on our item page; entries stored by the previous version, whose GUIDs were resolved
against the feed URL, are not stored again; OPML imports are linear and forgiving.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import func, select

from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, Newsline, Publication
from newsline.ingest.feeds import load_opml, parse_feed
from newsline.ingest.identity import normalize_url
from newsline.ingest.publications import add_publication, import_opml
from newsline.ingest.store import FeedHeaders, store_feed
from newsline.web.app import create_app

pytestmark = pytest.mark.postgres

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
FEED_URL = "https://feeds.example/x/feed.xml"
OK = FeedHeaders(200, None, None)

RSS_092 = b"""<?xml version="1.0"?><rss version="0.92"><channel><title>Dave</title>
<link>https://dave.example/</link><description>News</description>
<item><description>The lighthouse keeper counted &lt;b&gt;ships&lt;/b&gt; all night.</description></item>
<item><title>Song of the day</title><pubDate>Fri, 25 Jul 2025 15:30:00 GMT</pubDate>
<description>A song about boats.</description>
<enclosure url="https://dave.example/song.mp3" length="1" type="audio/mpeg"/></item>
</channel></rss>"""


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(
        web={"base_url": "https://news.example.net"},
        channels=[{"slug": "usc", "display_name": "The One News", "timezone": "UTC"}],
    )


def feed_id(settings: Any, url: str = FEED_URL) -> int:
    with session_scope(settings.database_url) as s:
        add_publication(s, settings, url, tag="dave", name="Dave")
        return int(s.scalar(select(Feed.id).where(Feed.url == url)) or 0)


def store(settings: Any, fid: int, body: bytes, url: str = FEED_URL) -> int:
    parsed = parse_feed(body, url)
    with session_scope(settings.database_url) as s:
        return store_feed(s, fid, parsed, OK, settings.fetch)


def test_entries_without_link_are_stored_once_and_ready(settings: Any) -> None:
    fid = feed_id(settings)
    assert store(settings, fid, RSS_092) == 2
    assert store(settings, fid, RSS_092) == 0
    with session_scope(settings.database_url) as s:
        items = s.scalars(select(Item).order_by(Item.id)).all()
        assert [i.state for i in items] == ["ready", "ready"]
        assert all(i.link == "" and not i.url.startswith("http") for i in items)
        assert items[0].content_source == "feed" and "ships" in items[0].body_text
        assert items[1].title == "Song of the day"


def test_linkless_item_page_shows_the_content_and_links_to_no_source(settings: Any) -> None:
    fid = feed_id(settings)
    store(settings, fid, RSS_092)
    with session_scope(settings.database_url) as s:
        slug = s.scalar(select(Item.slug).where(Item.title == "Song of the day"))
        first = s.scalars(select(Item).order_by(Item.id)).first()
        assert first is not None
        first_slug = first.slug
    client = TestClient(create_app(settings), headers=HUMAN)
    for path_slug, text in ((slug, "A song about boats."), (first_slug, "counted ships")):
        response = client.get(f"/usc/topic/dave/{path_slug}")
        assert response.status_code == 200, response.text[:500]
        page = LexborHTMLParser(response.text)
        article = page.css_first("article")
        assert article is not None
        assert text in " ".join(article.text().split())
        hrefs = [a.attributes.get("href") or "" for a in article.css("a")]
        assert not any(h.startswith("urn:") for h in hrefs)
        assert "Read the full article" not in response.text
        canonical = page.css_first('link[rel="canonical"]')
        assert canonical is not None
        assert (
            canonical.attributes["href"] == f"https://news.example.net/usc/topic/dave/{path_slug}"
        )


def test_refresh_after_upgrade_does_not_duplicate_items_stored_before(settings: Any) -> None:
    """Items stored by the previous version, whose GUIDs and links were resolved against
    the feed's URL, are recognised: the next refresh adds nothing."""
    body = b"""<rss version="2.0"><channel><title>T</title><link>https://site.example/blog/</link>
    <item><title>A</title><guid>aae20190418</guid></item>
    <item><title>B</title><link>rel/b.html</link></item>
    <item><title>C</title><guid isPermaLink="false">abc123</guid><link>/c</link></item>
    </channel></rss>"""
    fid = feed_id(settings)
    old = [  # (guid, link) as the previous version stored them
        ("https://feeds.example/x/aae20190418", "https://feeds.example/x/aae20190418"),
        ("https://feeds.example/x/rel/b.html", "https://feeds.example/x/rel/b.html"),
        ("abc123", "https://feeds.example/c"),
    ]
    with session_scope(settings.database_url) as s:
        pub = s.scalar(select(Publication).where(Publication.tag == "dave"))
        assert pub is not None
        for n, (guid, link) in enumerate(old):
            s.add(
                Item(
                    publication_id=pub.id,
                    feed_id=fid,
                    guid=guid,
                    url=normalize_url(link),
                    link=link,
                    state="ready",
                    title=f"old {n}",
                    slug=f"old-{n}",
                )
            )
    assert store(settings, fid, body) == 0
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 3


def test_new_guid_rules_store_once_per_entry(settings: Any) -> None:
    body = b"""<rss version="2.0"><channel><title>T</title><link>https://site.example/</link>
    <item><title>A</title><guid>aae20190418</guid></item>
    <item><title>C</title><guid isPermaLink="false">abc123</guid><link>/c</link></item>
    </channel></rss>"""
    fid = feed_id(settings)
    assert store(settings, fid, body) == 2
    assert store(settings, fid, body, url="https://feeds.example/moved/feed.xml") == 0
    with session_scope(settings.database_url) as s:
        rows = s.execute(select(Item.guid, Item.link).order_by(Item.id)).all()
    assert [tuple(r) for r in rows] == [("aae20190418", ""), ("abc123", "https://site.example/c")]


def test_flawed_opml_imports_every_usable_outline(settings: Any) -> None:
    opml = b"""<?xml version="1.0"?><opml version="1.0"><head><title>A & B</title></head><body>
    <outline text="World & Nation" type="rss" xmlUrl="https://a.example/rss?x=1&y=2"/>
    <outline text="x <y" type="rss" xmlUrl="https://b.example/feed"/>
    <outline text="Cat"><outline text="B again" type="rss" xmlUrl="https://b.example/feed"/>
    <outline text="Rel" type="rss" xmlUrl="/f.xml" htmlUrl="https://c.example/"/></outline>
    <outline text="Bad" type="rss" xmlUrl="javascript:alert(1)"/>
    </body></opml>"""
    skipped: list[str] = []
    with session_scope(settings.database_url) as s:
        assert import_opml(s, settings, opml, skipped=skipped) == (3, 0)
        urls = set(s.scalars(select(Feed.url)))
        names = set(s.scalars(select(Publication.name)))
    assert urls == {
        "https://a.example/rss?x=1&y=2",
        "https://b.example/feed",
        "https://c.example/f.xml",
    }
    assert {"World & Nation", "x <y"} <= names
    assert any("Bad" in line for line in skipped) and any("repeat" in line for line in skipped)
    with session_scope(settings.database_url) as s:
        assert import_opml(s, settings, opml) == (0, 3)


def test_opml_import_of_many_feeds_gives_each_a_publication_in_the_channel(settings: Any) -> None:
    outlines = "".join(
        f'<outline text="F{i}" type="rss" xmlUrl="https://same.example/feed/{i}"/>'
        for i in range(1_200)
    )
    body = f'<opml version="2.0"><body>{outlines}</body></opml>'.encode()
    assert len(load_opml(body).sources) == 1_200
    with session_scope(settings.database_url) as s:
        assert import_opml(s, settings, body) == (1_200, 0)
        tags = list(s.scalars(select(Publication.tag).where(Publication.is_channel_own.is_(False))))
        carried = s.scalar(select(func.count()).select_from(Newsline))
    assert len(tags) == len(set(tags)) == 1_200 and {"same", "same2", "same1200"} <= set(tags)
    assert carried == 1_200 + 1  # and the channel's own publication


def test_json_feed_version_warning_is_shown_in_the_feed_status(settings: Any) -> None:
    body = b'{"version": "1.1", "title": "J", "items": [{"id": "1", "content_text": "hello"}]}'
    fid = feed_id(settings)
    assert store(settings, fid, body) == 1
    with session_scope(settings.database_url) as s:
        feed = s.get(Feed, fid)
        assert feed is not None and feed.status == "ok"
        assert "https://jsonfeed.org/version/1.1" in (feed.last_error or "")

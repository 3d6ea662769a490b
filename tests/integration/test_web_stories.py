"""Stories on every list, the story page, item pages without repeats, and the site's metadata
(issue 12), with the real app on a real SQLite file (and PostgreSQL when provided)."""

from __future__ import annotations

import gzip
import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser

from newsline.db.engine import session_scope
from newsline.db.models import Item, Publication
from newsline.web.app import create_app
from tests.support.webdata import NOW, Seeded, add_item, add_story, seed

pytestmark = pytest.mark.postgres

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(
        web={"page_size": 4, "base_url": "https://news.example.net", "render_cache_seconds": 0},
        channels=[{"slug": "usc", "display_name": "The America One News"}],
    )


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    """The web seed plus a third publication and two stories: the pier story covered by
    three publications (one of them twice, as a stored near-duplicate) and a second story
    of two items, one of them older than the first page."""
    data = seed(settings, items_per_pub=6)
    with session_scope(settings.database_url) as session:
        harbor = session.get(Publication, data.publications["harbor"])
        valley = session.get(Publication, data.publications["valley"])
        assert harbor is not None and valley is not None
        coast = Publication(tag="coast", name="Coast Courier", republish="full")
        session.add(coast)
        session.flush()
        from newsline.db.models import Channel, Newsline

        channel = session.query(Channel).filter_by(slug="usc").one()
        session.add(Newsline(channel_id=channel.id, publication_id=coast.id))
        pier = [
            add_item(
                session,
                harbor,
                "pier-h",
                title="Harbour board approves the longer pier",
                sort_at=NOW - timedelta(minutes=2),
            ),
            add_item(
                session,
                valley,
                "pier-v",
                title="Pier vote: board picks the long design",
                sort_at=NOW - timedelta(minutes=20),
            ),
            add_item(
                session,
                coast,
                "pier-c",
                title="Coast towns react to the pier decision",
                sort_at=NOW - timedelta(minutes=30),
            ),
        ]
        copy = add_item(
            session,
            coast,
            "pier-copy",
            title="Harbour board approves the longer pier",
            sort_at=NOW - timedelta(minutes=3),
        )
        copy.near_duplicate_of_id = pier[0].id
        data.items["pier-copy"] = copy.id
        data.items["story-pier"] = add_story(session, "pier", "The longer pier", [*pier, copy])
        old = session.get(Item, data.items["valley-5"])
        assert old is not None
        ferry = add_item(
            session,
            coast,
            "ferry-c",
            title="Ferry crossing moves half an hour",
            sort_at=NOW - timedelta(minutes=4),
        )
        data.items["story-ferry"] = add_story(session, "ferry", "Ferry times", [ferry, old])
        for item in pier:
            data.items[item.slug or ""] = item.id
    return data


@pytest.fixture
def client(settings: Any, seeded: Seeded) -> TestClient:
    return TestClient(create_app(settings), headers=HUMAN)


def parse(html: str) -> Any:
    return LexborHTMLParser(html)


def titles(html: str) -> list[str]:
    return [n.text(deep=True).strip() for n in parse(html).css(".card .title a")]


def all_pages(client: TestClient, path: str) -> list[str]:
    """The card titles of every page of a list, following its `more` links."""
    shown: list[str] = []
    while path:
        html = client.get(path).text
        shown += titles(html)
        more = parse(html).css_first("a[rel=next]")
        path = more.attributes["href"] if more is not None else ""
    return shown


def test_one_card_per_story_with_its_sources(client: TestClient) -> None:
    html = client.get("/usc/newsline").text
    page = parse(html)
    shown = titles(html)
    # The near-duplicate copy never shows: not as a card, not as other coverage.
    assert shown.count("Harbour board approves the longer pier") == 1
    assert html.count("Harbour board approves the longer pier") == 1
    card = next(c for c in page.css(".card") if "approves the longer pier" in c.text())
    also = [a.text(deep=True) for a in card.css(".also a")]
    assert also == [
        "Valley Ledger: Pier vote: board picks the long design",
        "Coast Courier: Coast towns react to the pier decision",
    ]
    sources = card.css_first("a.sources")
    assert sources.text().startswith("3 sources")
    assert sources.attributes["href"] == "/usc/story/" + sources.attributes["href"].split("/")[-1]
    # The pier story is the best covered of the newest: it leads the broadsheet.
    assert shown[0] == "Harbour board approves the longer pier"
    assert page.css_first("ol.cards.broadsheet") is not None


def test_every_story_once_across_pages(client: TestClient, seeded: Seeded) -> None:
    shown = all_pages(client, "/usc/newsline")
    assert len(shown) == len(set(shown)), shown
    # The ferry story's older item (valley-5) is on no later page: its story was shown.
    assert "Item valley-5" not in shown
    assert "Ferry crossing moves half an hour" in shown
    assert "Pier vote: board picks the long design" not in shown


def test_publication_and_hashtag_pages_group_too(client: TestClient) -> None:
    page = parse(client.get("/usc/solo/valley").text)
    card = next(c for c in page.css(".card") if "Pier vote" in c.text())
    assert next(a.text(deep=True) for a in card.css(".also a")).startswith("Harbor Gazette:")
    assert page.css_first("ol.broadsheet") is None  # a publication's page is a plain list
    shown = all_pages(client, "/usc/tag/politics")
    assert len(shown) == len(set(shown))


def test_story_page_lists_every_item_newest_first(client: TestClient, seeded: Seeded) -> None:
    response = client.get(f"/usc/story/{seeded.items['story-pier']}")
    assert response.status_code == 200
    page = parse(response.text)
    assert page.css_first("h1").text() == "The longer pier"
    assert titles(response.text) == [
        "Harbour board approves the longer pier",
        "Harbour board approves the longer pier",
        "Pier vote: board picks the long design",
        "Coast towns react to the pier decision",
    ]
    sites = [n.text() for n in page.css(".card .site")]
    assert sites == ["Harbor Gazette", "Coast Courier", "Valley Ledger", "Coast Courier"]
    assert "3 sources · 4 items" in page.css_first(".storycount").text()
    canonical = page.css_first('link[rel="canonical"]').attributes["href"]
    assert canonical == f"https://news.example.net/usc/story/{seeded.items['story-pier']}"
    for path in (
        "/usc/story/999999",
        "/usc/story/0",
        "/usc/story/x",
        "/usc/story/99999999999999999999",
    ):
        assert client.get(path).status_code in (400, 404), path


def test_item_page_shows_hero_and_caption_once(settings: Any, client: TestClient) -> None:
    with session_scope(settings.database_url) as session:
        item = session.query(Item).filter_by(slug="pier-h").one()
        item.image_url = "https://img.example.org/photos/harbour-pier-1024x576.jpg"
        item.image_caption = "The old pier at dawn. Photo: Ann Writer"
        item.body_html = (
            '<figure><img src="https://img.example.org/photos/harbour-pier-640x360.jpg">'
            "<figcaption>The old pier at dawn. Photo: Ann Writer</figcaption></figure>"
            "<p>The board voted on Tuesday.</p>"
            '<p><img src="https://img.example.org/photos/other.jpg"></p>'
            "<p>The old pier at dawn. Photo: Ann Writer</p><p>Work starts in spring.</p>"
        )
    html = client.get("/usc/topic/harbor/pier-h").text
    page = parse(html)
    assert html.count("The old pier at dawn") == 1
    assert (
        page.css_first("figure.hero figcaption").text() == "The old pier at dawn. Photo: Ann Writer"
    )
    body = page.css_first(".body")
    assert [i.attributes["src"] for i in body.css("img")] == [
        "https://img.example.org/photos/other.jpg"
    ]
    assert "The board voted on Tuesday." in body.text() and "Work starts in spring." in body.text()


def test_summary_box_only_when_it_adds_something(settings: Any, client: TestClient) -> None:
    with session_scope(settings.database_url) as session:
        item = session.query(Item).filter_by(slug="pier-h").one()
        item.body_text = "The board voted on Tuesday. It chose the long design.\n\nMore text."
        item.summary = "The board voted on Tuesday. It chose the long design."
        other = session.query(Item).filter_by(slug="pier-c").one()
        other.summary = "Six more boats can moor there, and the walkway is covered."
    assert parse(client.get("/usc/topic/harbor/pier-h").text).css_first("aside.summary") is None
    box = parse(client.get("/usc/topic/coast/pier-c").text).css_first("aside.summary")
    assert box is not None and "Six more boats" in box.text()


def test_item_page_related_coverage_more_and_json_ld(client: TestClient) -> None:
    page = parse(client.get("/usc/topic/valley/pier-v").text)
    sections = {s.css_first("h2").text(): s for s in page.css("section.related")}
    related = [a.text(deep=True) for a in sections["Related coverage"].css(".headlines a")]
    assert related == [
        "Harbor Gazette: Harbour board approves the longer pier",
        "Coast Courier: Coast towns react to the pier decision",
    ]
    more = [a.text(deep=True) for a in sections["More from Valley Ledger"].css(".headlines a")]
    assert more and "Pier vote: board picks the long design" not in more
    data = json.loads(page.css_first('script[type="application/ld+json"]').text())
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == "Pier vote: board picks the long design"
    assert data["publisher"]["name"] == "Valley Ledger"
    assert data["url"] == "https://news.example.net/usc/topic/valley/pier-v"
    assert data["isBasedOn"] == "https://valley.example.org/news/pier-v"


def test_list_pages_have_a_heading_a_canonical_and_open_graph(client: TestClient) -> None:
    for path, canonical in (
        ("/", "https://news.example.net/usc/newsline"),
        ("/usc/newsline", "https://news.example.net/usc/newsline"),
        ("/usc/tag/politics", "https://news.example.net/usc/tag/politics"),
        ("/usc/solo/harbor", "https://news.example.net/usc/solo/harbor"),
    ):
        page = parse(client.get(path).text)
        assert len(page.css("h1")) == 1, path
        assert page.css_first('link[rel="canonical"]').attributes["href"] == canonical
        meta = {m.attributes.get("property"): m.attributes.get("content") for m in page.css("meta")}
        assert meta["og:url"] == canonical and meta["og:title"] and meta["og:description"]
        skip = page.css_first("body > a.skip")
        assert skip.attributes["href"] == "#main" and skip.attributes["aria-label"]


def test_topic_strip_shows_no_empty_topic(client: TestClient) -> None:
    strip = parse(client.get("/usc/newsline").text).css_first("nav.tagbar")
    tags = [a.text() for a in strip.css("a")][2:]
    assert tags == ["#politics", "#science"]  # the seed's only hashtags with items


def test_search_with_or(client: TestClient) -> None:
    either = titles(client.get("/usc/search", params={"q": "ferry OR coast"}).text)
    assert "Ferry crossing moves half an hour" in either
    assert "Coast towns react to the pier decision" in either
    both = titles(client.get("/usc/search", params={"q": "ferry coast"}).text)
    assert both == []


def test_sitemaps_list_only_our_canonical_pages(client: TestClient, seeded: Seeded) -> None:
    root = ET.fromstring(client.get("/sitemap.xml").content)
    assert root.tag == f"{SITEMAP_NS}sitemapindex"
    assert [loc.text for loc in root.iter(f"{SITEMAP_NS}loc")] == [
        "https://news.example.net/usc/sitemap.xml"
    ]
    urlset = ET.fromstring(client.get("/usc/sitemap.xml").content)
    entries = {
        u.findtext(f"{SITEMAP_NS}loc"): u.findtext(f"{SITEMAP_NS}lastmod")
        for u in urlset.iter(f"{SITEMAP_NS}url")
    }
    # Item pages name their source as canonical: not ours to list.
    assert not [loc for loc in entries if loc and "/topic/" in loc]
    pier = f"https://news.example.net/usc/story/{seeded.items['story-pier']}"
    assert entries[pier] == (NOW - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "https://news.example.net/usc/newsline" in entries
    assert "https://news.example.net/usc/solo/coast" in entries


def test_api_docs_page_offline(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    page = parse(response.text)
    operations = [n.text() for n in page.css(".op h2 code")]
    assert "/api/v1/channels/{channel}/items" in operations
    assert not re.search(r"https?://(?!news\.example\.net)[^\"']+\.(js|css)", response.text)


def test_gzip_without_nginx(client: TestClient) -> None:
    plain = client.get("/usc/newsline", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = client.get("/usc/newsline", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in packed.headers["vary"].lower()
    # httpx decodes it; the bytes on the wire were gzip and are the same page.
    assert packed.text == plain.text or titles(packed.text) == titles(plain.text)
    raw = gzip.compress(plain.content)
    assert len(raw) < len(plain.content)

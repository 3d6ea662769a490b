"""Feeds, sitemaps and the JSON API of the site, on a real SQLite file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import feedparser
import jsonschema
import pytest
from fastapi.testclient import TestClient

from newsline.web.app import create_app
from tests.support.feedtext import shown
from tests.support.webdata import Seeded, seed, seed_xss

# Every test here also runs on PostgreSQL when the test command provides one.
pytestmark = pytest.mark.postgres

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"

#: JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) as a JSON schema: required keys,
#: types, and no unknown top-level keys other than extensions (leading underscore).
_AUTHOR = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "url": {"type": "string"},
        "avatar": {"type": "string"},
    },
    "anyOf": [{"required": ["name"]}, {"required": ["url"]}, {"required": ["avatar"]}],
}
JSON_FEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "title", "items"],
    "patternProperties": {"^_": {}},
    "additionalProperties": False,
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string"},
        "home_page_url": {"type": "string", "format": "uri"},
        "feed_url": {"type": "string", "format": "uri"},
        "description": {"type": "string"},
        "user_comment": {"type": "string"},
        "next_url": {"type": "string"},
        "icon": {"type": "string"},
        "favicon": {"type": "string"},
        "authors": {"type": "array", "items": _AUTHOR},
        "language": {"type": "string"},
        "expired": {"type": "boolean"},
        "hubs": {"type": "array"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "patternProperties": {"^_": {}},
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string", "format": "uri"},
                    "external_url": {"type": "string", "format": "uri"},
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "content_text": {"type": "string"},
                    "summary": {"type": "string"},
                    "image": {"type": "string"},
                    "banner_image": {"type": "string"},
                    "date_published": {"type": "string", "format": "date-time"},
                    "date_modified": {"type": "string", "format": "date-time"},
                    "authors": {"type": "array", "items": _AUTHOR},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "language": {"type": "string"},
                    "attachments": {"type": "array"},
                },
            },
        },
    },
}


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(web={"page_size": 4, "base_url": "https://news.example.net"})


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    data = seed(settings)
    data.items["xss"] = seed_xss(settings)
    return data


@pytest.fixture
def client(settings: Any, seeded: Seeded) -> TestClient:
    return TestClient(create_app(settings, sitemap_max_urls=5))


FEED_PATHS = ["/news", "/news/solo/harbor", "/news/solo/valley", "/news/tag/politics"]


@pytest.mark.parametrize("base", FEED_PATHS)
def test_rss_and_atom_are_valid(client: TestClient, base: str) -> None:
    for name, mime in (("feed.xml", "application/rss+xml"), ("atom.xml", "application/atom+xml")):
        response = client.get(f"{base}/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(mime)
        parsed = feedparser.parse(response.content)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.version == ("rss20" if name == "feed.xml" else "atom10")
        assert parsed.entries
        for entry in parsed.entries:
            assert entry.link.startswith("https://news.example.net/news/topic/")
            assert entry.title


def test_feed_contents(client: TestClient) -> None:
    parsed = feedparser.parse(client.get("/news/feed.xml").content)
    titles = [e.title for e in parsed.entries]
    assert "Item harbor-0" in titles
    assert not any(t.startswith(("Duplicate", "Pending", "Outsider")) for t in titles)
    xss = next(e for e in parsed.entries if e.title.startswith("Council vote"))
    assert "<script" not in xss.content[0].value and "onerror" not in xss.content[0].value
    harbor = feedparser.parse(client.get("/news/solo/harbor/atom.xml").content)
    full = next(e for e in harbor.entries if e.title == "Item harbor-0")
    assert "lighthouse keeper" in full.content[0].value
    assert any(
        link.get("rel") == "related" and "harbor.example.org" in link.href for link in full.links
    )
    valley = feedparser.parse(client.get("/news/solo/valley/atom.xml").content)
    assert all("content" not in e for e in valley.entries)  # teaser publications: no body
    tagged = feedparser.parse(client.get("/news/tag/politics/feed.xml").content)
    assert {e.title for e in tagged.entries} == {
        "Item harbor-0",
        "Item harbor-2",
        "Item valley-0",
        "Item valley-2",
    }
    assert all(any(t.term == "#politics" for t in e.tags) for e in tagged.entries)


@pytest.mark.parametrize("base", FEED_PATHS)
def test_json_feed_matches_the_schema(client: TestClient, base: str) -> None:
    response = client.get(f"{base}/feed.json")
    assert response.headers["content-type"].startswith("application/feed+json")
    document = json.loads(response.content)
    jsonschema.validate(document, JSON_FEED_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert document["items"]


def test_unknown_feed_targets_are_404(client: TestClient) -> None:
    for path in (
        "/nope/feed.xml",
        "/news/solo/outsider/feed.xml",
        "/news/tag/nonsense/atom.xml",
        "/news/solo/harbor/feed.rss",
    ):
        assert client.get(path).status_code == 404, path


def test_sitemap_index_when_large_and_robots(client: TestClient, seeded: Seeded) -> None:
    index = ET.fromstring(client.get("/news/sitemap.xml").content)
    assert index.tag == f"{SITEMAP_NS}sitemapindex"
    parts = [loc.text or "" for loc in index.iter(f"{SITEMAP_NS}loc")]
    # Lists only (front, publications, hashtags): item pages name their source as canonical.
    files = -(-(1 + 2 + 18 + 1) // 5)  # front, harbor, valley, hashtags, one item
    assert parts == [f"https://news.example.net/news/sitemap-{n}.xml" for n in range(1, files + 1)]
    urls: list[str] = []
    for part in parts:
        response = client.get(part.removeprefix("https://news.example.net"))
        assert response.status_code == 200
        urlset = ET.fromstring(response.content)
        assert urlset.tag == f"{SITEMAP_NS}urlset"
        urls += [loc.text or "" for loc in urlset.iter(f"{SITEMAP_NS}loc")]
    assert len(urls) == len(set(urls)) == 22
    # The one item without a (safe) source page is read here only: its page is canonical.
    assert [u for u in urls if "/topic/" in u] == ["https://news.example.net/news/topic/harbor/xss"]
    assert urls[0] == "https://news.example.net/news/newsline"
    assert "https://news.example.net/news/solo/harbor" in urls
    assert client.get(f"/news/sitemap-{files + 1}.xml").status_code == 404
    robots = client.get("/robots.txt").text
    assert "Sitemap: https://news.example.net/news/sitemap.xml" in robots
    assert "Disallow: /api/" in robots
    assert client.get("/news/robots.txt").text == robots


def test_sitemap_is_a_urlset_when_small(make_settings: Any, settings: Any, seeded: Seeded) -> None:
    client = TestClient(create_app(settings))
    urlset = ET.fromstring(client.get("/news/sitemap.xml").content)
    assert urlset.tag == f"{SITEMAP_NS}urlset"
    # front page, 2 publications with items, 18 hashtags, the one item without a source
    assert len(list(urlset.iter(f"{SITEMAP_NS}url"))) == 22


def test_api_channels_and_publications(client: TestClient) -> None:
    channels = client.get("/api/v1/channels").json()
    assert [c["slug"] for c in channels] == ["news"]
    assert channels[0]["hashtags"][0] == "illegals"
    assert client.get("/api/v1/channels/news").json()["hometown"] == "Remer,MN"
    pubs = client.get("/api/v1/channels/news/publications").json()
    assert [p["tag"] for p in pubs] == ["harbor", "news", "valley"]
    assert client.get("/api/v1/channels/nope/publications").status_code == 404


def test_api_items_cursor_pagination(client: TestClient) -> None:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/channels/news/items", params=params).json()
        seen += [i["id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    stamps = [
        i["sort_at"] for i in client.get("/api/v1/channels/news/items?limit=100").json()["items"]
    ]
    assert stamps == sorted(stamps, reverse=True)
    solo = client.get("/api/v1/channels/news/items", params={"publication": "valley"}).json()
    assert {i["publication"] for i in solo["items"]} == {"valley"}
    tagged = client.get("/api/v1/channels/news/items", params={"hashtag": "science"}).json()
    assert tagged["items"] and all("science" in i["hashtags"] for i in tagged["items"])
    bad = client.get("/api/v1/channels/news/items", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert (
        client.get("/api/v1/channels/news/items", params={"publication": "outsider"}).status_code
        == 404
    )


def test_api_item(client: TestClient, seeded: Seeded) -> None:
    full = client.get(f"/api/v1/channels/news/items/{seeded.items['harbor-0']}").json()
    assert "lighthouse keeper" in full["body_html"]
    assert full["source_url"] == "https://harbor.example.org/news/harbor-0"
    assert full["url"] == "https://news.example.net/news/topic/harbor/harbor-0"
    teaser = client.get(f"/api/v1/channels/news/items/{seeded.items['valley-0']}").json()
    assert teaser["body_html"] is None
    xss = client.get(f"/api/v1/channels/news/items/{seeded.items['xss']}").json()
    assert (
        "<script" not in xss["body_html"] and xss["image_url"] is None and xss["source_url"] is None
    )
    for hidden in ("valley-dup", "harbor-pending"):
        assert client.get(f"/api/v1/channels/news/items/{seeded.items[hidden]}").status_code == 404


def test_api_search(client: TestClient) -> None:
    page = client.get("/api/v1/channels/news/search", params={"q": "lighthouse", "limit": 5}).json()
    assert page["query"] == "lighthouse" and len(page["items"]) == 5 and page["next_cursor"]
    assert all("<mark>" in hit["snippet_html"] for hit in page["items"])
    rest = client.get(
        "/api/v1/channels/news/search", params={"q": "lighthouse", "cursor": page["next_cursor"]}
    ).json()
    assert {h["id"] for h in rest["items"]}.isdisjoint({h["id"] for h in page["items"]})
    assert (
        client.get("/api/v1/channels/news/search", params={"q": "x", "cursor": "@@"}).status_code
        == 422
    )
    # No words (absent or empty: one cache key) find nothing, and that is not an error.
    for url in ("/api/v1/channels/news/search", "/api/v1/channels/news/search?q="):
        empty = client.get(url)
        assert empty.status_code == 200 and empty.json()["items"] == []


def test_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/api/v1/channels",
        "/api/v1/channels/{channel}",
        "/api/v1/channels/{channel}/publications",
        "/api/v1/channels/{channel}/items",
        "/api/v1/channels/{channel}/items/{item_id}",
        "/api/v1/channels/{channel}/search",
        # Community (issue 13): the session, comments, and moderators' endpoints.
        "/api/v1/session",
        "/api/v1/channels/{channel}/items/{item_id}/comments",
        "/api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}",
        "/api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}/vote",
        "/api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}/flag",
        "/api/v1/channels/{channel}/moderation/queue",
        "/api/v1/channels/{channel}/moderation/comments/{comment_id}",
        "/api/v1/channels/{channel}/moderation/bans",
    }
    # Nothing under the site's pages or the console leaks into the API document.
    assert all(path.startswith("/api/v1/") for path in spec["paths"])


def test_hostile_publication_name_reaches_readers_as_text(
    settings: Any, client: TestClient
) -> None:
    """Issue 16, item 6: a publication's name ends up in its feed's title and description."""
    from sqlalchemy import select

    from newsline.db.engine import session_scope
    from newsline.db.models import Publication
    from tests.support.webdata import XSS

    evil = f"Evil {XSS['title']}"
    with session_scope(settings.database_url) as session:
        harbor = session.scalar(select(Publication).where(Publication.tag == "harbor"))
        assert harbor is not None
        harbor.name = evil
    channel = settings.channels[0].display_name
    for name in ("feed.xml", "atom.xml"):
        content = client.get(f"/news/solo/harbor/{name}").content
        parsed = feedparser.parse(content, sanitize_html=False)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert shown(parsed.feed.title_detail) == f"{evil} · {channel}"
        assert shown(parsed.feed.subtitle_detail) == f"Items of {evil} on {channel}"
        xss = next(e for e in parsed.entries if "Council vote" in e.title)
        assert shown(xss.title_detail) == XSS["title"]
        assert shown(xss.summary_detail) == XSS["caption"]
    document = client.get("/news/solo/harbor/feed.json").json()
    assert document["description"] == f"Items of {evil} on {channel}"
    item = next(i for i in document["items"] if "Council vote" in i["title"])
    assert item["summary"] == XSS["caption"]
    assert "<script" not in item["content_html"] and "onerror" not in item["content_html"]

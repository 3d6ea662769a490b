"""The site's pages with the real app on a real SQLite file (FastAPI TestClient)."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import html_text
import lxml.html
import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser

from newsline.errors import NewslineError
from newsline.web.app import create_app
from tests.support.webdata import NOW, XSS, Seeded, add_item, seed, seed_xss

# Every test here also runs on PostgreSQL when the test command provides one.
pytestmark = pytest.mark.postgres

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
SPONSOR = [
    "QWIKET",
    "QWIKET",
    "QWIKET: Elevate your game!",
    "QWIKET: Elevate your game! Sports knowledge.",
    "QWIKET: Elevate your game! Sports knowledge and reasoning.",
    "QWIKET: Elevate your game! Sports knowledge and reasoning support for fantasy fans.",
]


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(
        web={"page_size": 4, "base_url": "https://news.example.net"},
        channels=[
            {
                "slug": "usc",
                "display_name": "The America One News",
                "hometown": "Remer,MN",
                "timezone": "America/Chicago",
                "sponsor": {"name": "Qwiket", "url": "https://qwiket.example", "variants": SPONSOR},
            }
        ],
    )


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    data = seed(settings)
    data.items["xss"] = seed_xss(settings)
    return data


@pytest.fixture
def client(settings: Any, seeded: Seeded) -> TestClient:
    return TestClient(create_app(settings), headers=HUMAN)


class Node:
    """A little of lxml's element API over selectolax (no cssselect dependency)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.tag = node.tag

    def cssselect(self, selector: str) -> list[Node]:
        return [Node(n) for n in self.node.css(selector)]

    def text_content(self) -> str:
        return str(self.node.text(deep=True))

    def get(self, name: str) -> str | None:
        value = self.node.attributes.get(name)
        return None if value is None else str(value)


def doc(html: str) -> Node:
    return Node(LexborHTMLParser(html).root)


def crawler_text(html: str) -> list[str]:
    """The page's visible text as a text crawler reads it: images by their alt text,
    every element regardless of CSS; non-empty lines, whitespace squeezed."""
    tree = lxml.html.fromstring(html)
    body = tree.find("body")
    assert body is not None
    for img in list(body.iter("img")):
        alt = img.get("alt") or ""
        stand_in = lxml.html.Element("p")
        stand_in.text = alt
        stand_in.tail = img.tail
        parent = img.getparent()
        assert parent is not None
        parent.replace(img, stand_in)
    text = html_text.extract_text(body, guess_layout=True)
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


# Link texts Lighthouse's "link-text" audit calls non-descriptive (its English list).
GENERIC_LINK_TEXTS = {"click here", "click this", "go", "here", "this", "start", "right here"}
GENERIC_LINK_TEXTS |= {"more", "learn more", "read more", "continue", "continue reading"}


def listed_titles(html: str) -> list[str]:
    return [a.text_content().strip() for a in doc(html).cssselect(".card .title a")]


def test_front_page_lists_only_ready_unique_carried_items(client: TestClient) -> None:
    titles: list[str] = []
    path = "/usc/newsline"
    while path:
        response = client.get(path)
        assert response.status_code == 200
        titles += listed_titles(response.text)
        more = doc(response.text).cssselect("a.more")
        path = (more[0].get("href") or "") if more else ""
        if more:  # a link says where it goes: Lighthouse's SEO audit fails a bare "more"
            assert more[0].text_content().strip().lower() not in GENERIC_LINK_TEXTS
    assert len(titles) == len(set(titles)) == 8  # 6 + old + xss; pages of 4
    assert "Item harbor-0" in titles and "An old story about the tides" in titles
    for hidden in ("Duplicate copy", "Pending item", "Outsider item"):
        assert not any(hidden in t for t in titles)
    assert len(listed_titles(client.get("/").text)) == 4  # "/" is the default channel


def test_chrome_is_on_every_page(client: TestClient, seeded: Seeded) -> None:
    pages = [
        "/",
        "/usc/newsline",
        "/usc/topic/harbor/harbor-1",
        "/usc/solo/valley",
        "/usc/tag/politics",
        "/usc/search?q=lighthouse",
        "/usc/publications",
        "/usc/topic/harbor/no-such-item",
        "/elsewhere/newsline",
    ]
    for path in pages:
        response = client.get(path)
        page = doc(response.text)
        brand = page.cssselect(".titleband a.brand")[0]
        assert brand.text_content() == "THE AMERICA ONE NEWS", path
        assert brand.get("href") == "/usc/newsline"
        dateline = " ".join(page.cssselect(".dateline")[0].text_content().split())
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \| \d+ \| Remer,MN", dateline), dateline
        variants = page.cssselect(".sponsor .sv a")
        assert [v.text_content().strip() for v in variants] == [f"Sponsor: {s}" for s in SPONSOR]
        assert len({v.get("href") for v in variants}) == 6
        assert all("utm_content=" in (v.get("href") or "") for v in variants)
        assert page.cssselect(".colhead .back a")[0].text_content().strip() == "back"


def test_column_names(client: TestClient) -> None:
    names = {
        "/usc/newsline": "newsline",
        "/usc/topic/harbor/harbor-1": "topic",
        "/usc/tag/politics": "#politics feed",
        "/usc/solo/valley": "Valley Ledger",
        "/usc/search": "search",
        "/usc/publications": "publications",
    }
    for path, name in names.items():
        assert doc(client.get(path).text).cssselect(".colname")[0].text_content() == name


def test_dateline_uses_the_channel_time_zone(client: TestClient) -> None:
    from zoneinfo import ZoneInfo

    from newsline.db.models import utcnow

    text = doc(client.get("/usc/newsline").text).cssselect(".dateline")[0].text_content()
    local = utcnow().astimezone(ZoneInfo("America/Chicago"))
    assert text.startswith(f"{local:%b} {local.day}, {local.year}")


def test_cards(client: TestClient, settings: Any) -> None:
    page = doc(client.get("/usc/solo/harbor").text)
    cards = page.cssselect(".card")
    first = next(c for c in cards if "Item harbor-0" in c.text_content())
    assert first.cssselect(".site")[0].text_content() == "Harbor Gazette"
    assert first.cssselect(".avatar")[0].text_content() == "HG"  # no icon: initials
    assert re.fullmatch(r"\d+[smhd]", first.cssselect("time")[0].text_content())
    assert first.cssselect(".author")[0].text_content() == "Ann Writer"
    img = first.cssselect(".thumb img")[0]
    title = first.cssselect(".title a")[0].text_content()
    # Card thumbnails are decorative: the headline beside them says it all.
    assert title and img.get("alt") == "" and img.get("loading") == "lazy"
    valley = doc(client.get("/usc/solo/valley").text).cssselect(".card .avatar")[0]
    # The publication's icon, through our image proxy like every publisher's image.
    assert valley.tag == "img" and (valley.get("src") or "").startswith("/img/")
    assert valley.get("width") == valley.get("height") == "20" and valley.get("alt") == ""


def test_old_items_show_a_date_and_long_teasers_are_cut(client: TestClient, settings: Any) -> None:
    from newsline.db.engine import session_scope
    from newsline.db.models import Item

    long_teaser = " ".join(["harbour"] * 80)  # 639 characters
    with session_scope(settings.database_url) as session:
        item = session.query(Item).filter_by(slug="harbor-old").one()
        item.teaser = long_teaser
    first = doc(client.get("/usc/solo/harbor").text)
    page = doc(client.get(first.cssselect("a.more")[0].get("href") or "").text)
    card = next(c for c in page.cssselect(".card") if "old story" in c.text_content())
    old = (NOW - timedelta(days=45)).astimezone(settings.channels[0].zone)
    assert card.cssselect("time")[0].text_content() == f"{old.day} {old:%b} {old.year}"
    teaser = card.cssselect(".teaser")[0].text_content()
    assert len(teaser) <= 280 and teaser.endswith("...") and teaser[:-3].endswith("harbour")


def test_item_page_full_publication(client: TestClient) -> None:
    response = client.get("/usc/topic/harbor/harbor-old")
    assert response.status_code == 200
    page = doc(response.text)
    assert page.cssselect('link[rel="canonical"]')[0].get("href") == (
        "https://harbor.example.org/news/harbor-old"
    )
    h1 = page.cssselect("h1.headline a")[0]
    assert h1.text_content() == "An old story about the tides"
    assert h1.get("href") == "https://harbor.example.org/news/harbor-old"
    hero = page.cssselect("figure.hero img")[0]
    assert hero.get("alt") == "NextImg:An old story about the tides"
    assert page.cssselect("figure.hero figcaption")[0].text_content() == "Caption of harbor-old."
    summary = [p.text_content() for p in page.cssselect("aside.summary p")]
    assert summary == ["First summary line.", "Second."]
    assert "lighthouse keeper counted ships" in page.cssselect(".body")[0].text_content()
    assert not page.cssselect(".readon")
    meta = {m.get("property") or m.get("name"): m.get("content") for m in page.cssselect("meta")}
    assert meta["og:title"] == "An old story about the tides"
    assert meta["og:url"] == "https://news.example.net/usc/topic/harbor/harbor-old"
    assert meta["og:image"] == "https://img.example.org/harbor-old.jpg"
    assert meta["twitter:card"] == "summary_large_image"
    assert page.cssselect(".share a[data-share]")[0].get("href") == meta["og:url"]


def test_item_page_teaser_publication(client: TestClient) -> None:
    page = doc(client.get("/usc/topic/valley/valley-1").text)
    assert "Teaser of valley-1" in page.cssselect(".teaser-only")[0].text_content()
    readon = page.cssselect(".readon a")[0]
    assert readon.text_content() == "Read the full article at Valley Ledger"
    assert readon.get("href") == "https://valley.example.org/news/valley-1"
    assert "lighthouse keeper" not in page.text_content()  # the body is not republished
    assert not page.cssselect("aside.summary")


def test_item_page_reads_like_the_seed_for_a_text_crawler(client: TestClient) -> None:
    lines = crawler_text(client.get("/usc/topic/harbor/harbor-old").text)
    assert lines[0] == "THE AMERICA ONE NEWS"
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \| \d+ \| Remer,MN", lines[1])
    assert lines[2:8] == [f"Sponsor: {s}" for s in SPONSOR]
    assert lines[8:11] == ["back", "topic", "NextImg:An old story about the tides"]
    assert lines[11] == "Caption of harbor-old."
    assert lines.count("Caption of harbor-old.") == 1


def test_duplicates_redirect_and_hidden_items_are_404(client: TestClient) -> None:
    response = client.get("/usc/topic/valley/valley-dup", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/usc/topic/harbor/harbor-0"
    for path in ("/usc/topic/harbor/harbor-pending", "/usc/topic/outsider/outsider-0"):
        response = client.get(path)
        assert response.status_code == 404
        assert "THE AMERICA ONE NEWS" in response.text


def test_unknown_channel_publication_and_hashtag_are_404(client: TestClient) -> None:
    for path in ("/nope/newsline", "/usc/solo/outsider", "/usc/tag/nonsense", "/usc/feed.rss"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert doc(response.text).cssselect(".colname")[0].text_content() == "not found"
    assert client.get("/usc/newsline?before=garbage!").status_code == 400


def test_a_newsline_error_is_answered_with_its_line(settings: Any, seeded: Seeded) -> None:
    app = create_app(settings)

    def fails() -> None:
        raise NewslineError("the archive is being rebuilt; try again in a minute")

    app.router.add_api_route("/usc/x/broken/now", fails)
    app.router.add_api_route("/api/v1/broken", fails)
    client = TestClient(app, headers=HUMAN)
    response = client.get("/usc/x/broken/now")
    assert response.status_code == 500
    page = doc(response.text)
    assert page.cssselect(".colname")[0].text_content() == "error"
    assert page.cssselect(".error h1")[0].text_content() == "Something went wrong"
    assert "the archive is being rebuilt" in page.cssselect(".error")[0].text_content()
    assert page.cssselect(".titleband a.brand")[0].text_content() == "THE AMERICA ONE NEWS"
    api = client.get("/api/v1/broken")
    assert api.status_code == 500
    assert api.json() == {"detail": "the archive is being rebuilt; try again in a minute"}


def test_hashtag_and_publication_pages(client: TestClient) -> None:
    tagged = listed_titles(client.get("/usc/tag/politics").text)
    assert tagged and all(
        t in {"Item harbor-0", "Item harbor-2", "Item valley-0", "Item valley-2"} for t in tagged
    )
    solo = listed_titles(client.get("/usc/solo/valley").text)
    assert solo == ["Item valley-0", "Item valley-1", "Item valley-2"]


@pytest.mark.postgres
def test_search_ranks_and_highlights(client: TestClient, settings: Any) -> None:
    from newsline.db.engine import session_scope
    from newsline.db.models import Publication

    with session_scope(settings.database_url) as session:
        pub = session.query(Publication).filter_by(tag="harbor").one()
        add_item(
            session,
            pub,
            "gulls",
            title="Gulls and gulls: the gull census",
            body_text="Gulls everywhere; the gull count rose.",
            body_html="<p>Gulls</p>",
        )
        add_item(
            session,
            pub,
            "passing",
            title="Tide tables",
            body_text="A single gull was seen near the tide gauge.",
        )
    response = client.get("/usc/search?q=gull")
    page = doc(response.text)
    titles = [a.text_content() for a in page.cssselect(".card .title a")]
    assert titles[:2] == ["Gulls and gulls: the gull census", "Tide tables"]
    marks = [m.text_content().lower() for m in page.cssselect(".card mark")]
    assert marks and all(m.startswith("gull") for m in marks)
    # operators and quotes are just words; payloads are escaped
    for q in ['"unbalanced', "AND OR NOT", "<script>alert(1)</script>", "*", "NEAR("]:
        response = client.get("/usc/search", params={"q": q})
        assert response.status_code == 200
        assert "<script>alert(1)" not in response.text
    xss = doc(client.get("/usc/search?q=council+vote").text)
    assert "Council vote" in xss.cssselect(".card .title")[0].text_content()


def test_publications_page_shows_fetch_health(client: TestClient) -> None:
    page = doc(client.get("/usc/publications").text)
    rows = {s.cssselect(".site")[0].text_content(): s for s in page.cssselect("li.source")}
    assert rows["Harbor Gazette"].cssselect(".pill")[0].text_content() == "healthy"
    valley = rows["Valley Ledger"]
    assert valley.cssselect(".pill")[0].text_content() == "failing"
    assert "HTTP 503 Service Unavailable" in valley.text_content()
    assert "4 failures in a row" in valley.text_content()
    assert "Outsider Times" not in rows


def test_the_publications_page_keeps_its_first_address(client: TestClient) -> None:
    response = client.get("/usc/sources", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/usc/publications"
    assert client.get("/nope/sources", follow_redirects=False).status_code == 404
    footer = doc(client.get("/usc/newsline").text).cssselect(".sitefoot nav a")
    assert {a.get("href"): a.text_content() for a in footer}["/usc/publications"] == "Publications"


def test_xss_payloads_are_escaped_or_removed(client: TestClient) -> None:
    html = client.get("/usc/topic/harbor/xss").text
    body = html.split("<body>", 1)[1]
    assert "<script>alert" not in body and "<svg onload" not in body and "<iframe" not in body
    assert not re.search(r"<[^>]+\son\w+\s*=", body)
    assert not re.search(r"=\s*[\"']?\s*javascript:", body, re.IGNORECASE)
    assert not re.search(r"<[^>]+\sstyle\s*=", body)
    page = doc(html)
    assert page.cssselect("h1.headline")[0].text_content() == XSS["title"]  # shown as text
    assert not page.cssselect("figure.hero")  # javascript: image URL dropped
    assert not page.cssselect("h1.headline a")  # javascript: source URL dropped
    assert "Safe paragraph one" in page.cssselect(".body")[0].text_content()


def test_security_headers_and_no_inline_script_or_style(client: TestClient) -> None:
    for path in ("/usc/newsline", "/usc/topic/harbor/harbor-0", "/usc/publications", "/nope"):
        response = client.get(path)
        csp = dict(
            part.strip().partition(" ")[::2]
            for part in response.headers["content-security-policy"].split(";")
        )
        # What a script, a style, a font or a fetch may load: its own directive, else
        # default-src (CSP's fallback). Only our own files; no inline code.
        for kind in ("script-src", "style-src", "font-src", "connect-src"):
            assert csp.get(kind, csp["default-src"]) == "'self'", kind
        assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
        page = lxml.html.fromstring(response.text)
        # Scripts are files, or JSON-LD data blocks (never executed, so no CSP concern).
        assert all(
            s.get("src") or s.get("type") == "application/ld+json" for s in page.iter("script")
        )
        assert not list(page.iter("style"))
        assert not [
            el
            for el in page.iter()
            if isinstance(el.tag, str)
            and (el.get("style") is not None or any(a.startswith("on") for a in el.attrib))
        ]


def test_security_headers_left_to_a_proxy_that_adds_them(settings: Any, seeded: Seeded) -> None:
    # web.proxy_adds_security_headers: through a proxy (X-Forwarded-For) the app leaves them
    # to it (deploy/nginx.conf adds them); straight to the app they are always there.
    from newsline.web.middleware import SECURITY_HEADERS

    names = [name.decode() for name, _ in SECURITY_HEADERS]
    via = {"x-forwarded-for": "203.0.113.9"}
    for adds in (False, True):
        settings.web.proxy_adds_security_headers = adds
        client = TestClient(create_app(settings), headers=HUMAN)
        first = client.get("/usc/newsline", headers=via)
        answers = {
            "page via proxy": first,
            "304 via proxy": client.get(
                "/usc/newsline", headers={**via, "if-none-match": first.headers["etag"]}
            ),
            "404 via proxy": client.get("/usc/nope", headers=via),
            "POST via proxy": client.post("/usc/online", headers=via),
            "page, direct": client.get("/usc/newsline"),
            "POST, direct": client.post("/usc/online"),
        }
        assert answers["304 via proxy"].status_code == 304
        for what, answer in answers.items():
            sent = [name for name in names if name in answer.headers]
            left_off = adds and "via proxy" in what
            assert sent == ([] if left_off else names), (adds, what)


def test_conditional_get(client: TestClient) -> None:
    for path in (
        "/usc/feed.xml",
        "/api/v1/channels",
        "/usc/sitemap.xml",
        "/robots.txt",
        "/usc/topic/harbor/harbor-old",
    ):
        first = client.get(path)
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"]
        again = client.get(path, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        head = client.head(path)
        assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
        changed = client.get(path, headers={"if-none-match": '"something-else"'})
        assert changed.status_code == 200
        if path.endswith(("feed.xml", "harbor-old")):  # handler-provided Last-Modified
            since = client.get(path, headers={"if-modified-since": modified})
            assert since.status_code == 304
    static = client.get("/static/site.css")
    assert "immutable" in static.headers["cache-control"]
    assert (
        client.get(
            "/static/site.css", headers={"if-none-match": static.headers["etag"]}
        ).status_code
        == 304
    )


def test_heartbeat_counts_humans_once_and_never_bots(client: TestClient) -> None:
    # A reader is a browser session (its nl_sid cookie), whatever visitor id the body claims.
    two = TestClient(client.app, headers=HUMAN)

    def beat(reader: TestClient, ua: str, visitor: str = "reader-one-0001") -> int:
        response = reader.post("/usc/online", json={"visitor": visitor}, headers={"user-agent": ua})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        return int(response.json()["online"])

    human = HUMAN["user-agent"]
    assert beat(client, human) == 1
    assert beat(client, human, "reader-one-9999") == 1
    assert beat(two, human) == 2
    assert beat(client, "Mozilla/5.0 (compatible; Googlebot/2.1)") == 0
    assert beat(client, "python-httpx/0.28") == 0
    assert beat(two, human) == 2
    online = doc(client.get("/usc/newsline").text).cssselect("#online")[0].text_content()
    assert online == "2"
    bot_view = client.get("/usc/newsline", headers={"user-agent": "Googlebot/2.1"})
    assert doc(bot_view.text).cssselect("#online")[0].text_content() == "0"
    assert client.post("/nope/online", json={"visitor": "reader-one-0001"}).status_code == 404


def test_reader_options_by_cookie(client: TestClient) -> None:
    response = client.get("/_options?theme=dark&dense=1&next=/usc/sources", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/usc/sources"
    assert client.cookies.get("nl_theme") == "dark" and client.cookies.get("nl_dense") == "1"
    html_class = doc(client.get("/usc/newsline").text).get("class")
    assert html_class == "theme-dark dense"
    evil = client.get("/_options?theme=light&next=//evil.example/x", follow_redirects=False)
    assert evil.headers["location"] == "/"
    assert doc(client.get("/usc/newsline").text).get("class") == "theme-light dense"


def hand_clock(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[float]:
    """`module`'s monotonic clock, moved by hand (``clock[0] += seconds``): a render slower
    than a cache lifetime (a loaded machine) must not decide a test."""
    clock = [1000.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    return clock


def test_online_count_is_read_once_a_second_per_worker(
    make_settings: Any, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsline.web import render

    # Every page showed it, so every uncached page read it; now a worker reads it once a
    # second (its clock moved by hand).
    clock = hand_clock(monkeypatch, render)
    settings = make_settings(web={"render_cache_seconds": 0})
    client = TestClient(create_app(settings), headers=HUMAN)

    def shown() -> str:
        return str(doc(client.get("/news/newsline").text).cssselect("#online")[0].text_content())

    assert shown() == "0"
    assert client.post("/news/online", json={}).json()["online"] == 1
    assert shown() == "0"  # counted this second
    clock[0] += 1.0
    assert shown() == "1"


def test_render_cache_reuses_anonymous_pages_briefly(
    make_settings: Any, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsline.db.engine import session_scope
    from newsline.db.models import Item
    from newsline.web import cache

    clock = hand_clock(monkeypatch, cache)
    settings = make_settings(web={"render_cache_seconds": 0.5})
    cached = TestClient(create_app(settings), headers=HUMAN)
    fresh = TestClient(create_app(make_settings(web={"render_cache_seconds": 0})), headers=HUMAN)
    assert "Item harbor-0" in cached.get("/news/solo/harbor").text
    with session_scope(settings.database_url) as session:
        session.query(Item).filter_by(slug="harbor-0").one().title = "Renamed item"
    assert "Item harbor-0" in cached.get("/news/solo/harbor").text  # still the cached copy
    assert "Renamed item" in fresh.get("/news/solo/harbor").text
    # a personal request (any cookie but the reader options) is never served from the cache
    assert "Renamed item" in cached.get("/news/solo/harbor", cookies={"session": "x"}).text
    clock[0] += 0.6
    assert "Renamed item" in cached.get("/news/solo/harbor").text

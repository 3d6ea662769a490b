"""Small pure pieces of the site: clipping, ages, cursors, redirect targets, bots, feeds out,
sitemaps, presence, the scheduler's job registration."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsline.community.presence import heartbeat, is_bot, online_count
from newsline.publish import feeds_out, sitemap
from newsline.web.middleware import _etag_matches, _not_modified_since
from newsline.web.queries import Cursor, CursorError
from newsline.web.render import (
    AgeMarks,
    PageFrame,
    age,
    avatar_class,
    clip,
    dateline_date,
    initials,
)
from newsline.web.safety import clean_digest_body, highlighted, local_path
from newsline.web.search import fts5_query, terms_of

NOW = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")


@given(st.text(max_size=800))
def test_clip_never_exceeds_the_limit(text: str) -> None:
    out = clip(text)
    assert len(out) <= 280
    if len(" ".join(text.split())) <= 280:
        assert out == " ".join(text.split())
    else:
        assert out.endswith("...")


def test_clip_cuts_at_a_word() -> None:
    text = "alpha " * 100
    out = clip(text)
    assert out.endswith("alpha...") and len(out) <= 280


@pytest.mark.parametrize(
    "delta,expected",
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=3, minutes=59), "3h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=29, hours=23), "29d"),
        (timedelta(days=30), "25 Jun 2025"),
        (timedelta(seconds=-30), "0s"),  # clock skew: never negative
    ],
)
def test_age(delta: timedelta, expected: str) -> None:
    assert age(NOW - delta, NOW, CHICAGO) == expected


@given(
    st.lists(
        st.one_of(
            st.timedeltas(min_value=timedelta(seconds=-90), max_value=timedelta(days=60)),
            st.sampled_from(
                [timedelta(seconds=n) for n in (0, 59, 60, 3599, 3600, 86399, 86400, 2592000)]
            ),
        ),
        max_size=6,
    )
)
def test_a_kept_page_fills_in_the_ages_age_gives(deltas: list[timedelta]) -> None:
    now = datetime(2026, 11, 30, 20, 0, 0, 123456, tzinfo=UTC)
    zone = ZoneInfo("America/Chicago")
    marks = AgeMarks()
    html = "<p>" + "".join(f"[{marks(now - d)}]" for d in deltas) + "\x00chrome_tools\x00</p>"
    frame = PageFrame.of(html, marks.stamps)
    expected = "<p>" + "".join(f"[{age(now - d, now, zone)}]" for d in deltas) + "TOOLS</p>"
    assert frame.fill(now, zone, {"chrome_tools": "TOOLS"}) == expected


def test_dateline_date_is_in_the_channel_zone() -> None:
    late = datetime(2025, 7, 26, 3, 0, tzinfo=UTC)  # still the 25th in Chicago
    assert dateline_date(late, CHICAGO) == "Jul 25, 2025"
    assert dateline_date(late, ZoneInfo("Europe/Berlin")) == "Jul 26, 2025"


def test_initials_and_avatar_class() -> None:
    assert initials("The Harbor Gazette") == "HG"
    assert initials("CNN") == "CN"
    assert initials("!!!") == "?"
    assert avatar_class("Harbor Gazette") == avatar_class("Harbor Gazette")
    assert avatar_class("x").startswith("av")


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=1, max_value=10**18 - 1),
)
def test_cursor_round_trip(when: datetime, ident: int) -> None:
    cursor = Cursor(when.replace(tzinfo=UTC), ident)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("token", ["", "abc", "1-", "-1", "1.5-2", "12345678901234567-1", "1-2-3"])
def test_bad_cursors(token: str) -> None:
    with pytest.raises(CursorError):
        Cursor.decode(token)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/news/newsline", "/news/newsline"),
        ("/account?done=1", "/account?done=1"),
        ("", "/"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("news/newsline", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("/" + "x" * 2000, "/"),
    ],
)
def test_redirects_go_only_to_our_own_paths(value: str | None, expected: str) -> None:
    """After signing in, a form or a reader option: never another site, never a header."""
    assert local_path(value) == expected


def test_highlighted_escapes_everything_but_marks() -> None:
    out = str(highlighted("<b>\x02gull\x03</b> & <script>"))
    assert out == "&lt;b&gt;<mark>gull</mark>&lt;/b&gt; &amp; &lt;script&gt;"


def test_clean_digest_body_keeps_structure_and_drops_the_rest() -> None:
    from datetime import UTC as utc

    from selectolax.lexbor import LexborHTMLParser

    from newsline.publish.digest_compose import Entry, Link, SponsorBlock, render_html

    entry = Entry(
        key="item:1",
        hashtag="politics",
        item_id=1,
        publication="Pub <b>A</b>",
        title="Title",
        url="https://a.example/1",
        image_url="http://img.example/1.jpg",
        summary="First.\n\nSecond.",
        latest=datetime(2025, 1, 1, tzinfo=utc),
        sources=2,
        publication_ids=[1, 2],
        item_ids=[1, 2],
        also=[Link("Pub B", "https://b.example/2")],
    )
    stored = render_html("", [("politics", [entry])], SponsorBlock("S", "https://s.example", "Buy"))
    # What an attacker might have slipped into a stored body: none of it survives.
    stored += (
        '<p style="color:red" onclick="x()" id="online">x</p><script>alert(1)</script>'
        '<img src="javascript:alert(1)"><a href="javascript:alert(1)">y</a>'
    )
    out = str(clean_digest_body(stored))
    tree = LexborHTMLParser(out)
    assert [h.text() for h in tree.css("section > h2")] == ["#politics", "#sponsor"]
    article = tree.css_first("section > article")
    assert article is not None
    assert [c.tag for c in article.iter()] == ["h3", "img", "p", "p", "footer"]
    assert tree.css_first("article > img").attributes["src"] == "http://img.example/1.jpg"
    assert tree.css("script") == [] and "javascript" not in out
    for node in tree.css("*"):
        assert not {"class", "id", "style", "onclick"} & set(node.attributes), node.tag


def test_deploy_nginx_classes_bots_like_the_app() -> None:
    import re

    from newsline.community.presence import _BOT
    from tests.support import PROJECT_ROOT

    conf = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    found = re.search(
        r'map \$http_user_agent \$newsline_agent_class \{.*?"~\*([^"]+)" bot;', conf, re.S
    )
    assert found is not None
    # nginx's copy groups the words by first letter ("b(?:ot|ingpreview)|crawl|..."):
    # spelled out, they are the app's words, no more, no fewer.
    words: list[str] = []
    depth, start, parts = 0, 0, []
    pattern = found.group(1)
    for n, ch in enumerate(pattern + "|"):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            parts.append(pattern[start:n])
            start = n + 1
    for part in parts:
        grouped = re.fullmatch(r"([^()|]*)\(\?:([^()]*)\)", part)
        if grouped:
            words += [grouped[1] + rest for rest in grouped[2].split("|")]
        else:
            assert re.fullmatch(r"[^()|?*+\[\]]+", part), part
            words.append(part)
    assert sorted(words) == sorted(_BOT.pattern.split("|"))
    assert len(words) == len(set(words))
    assert _BOT.flags & re.IGNORECASE  # nginx's ~* is case-insensitive too
    nginx = re.compile(pattern, re.IGNORECASE)
    for word in words:
        agent = f"Mozilla/5.0 (compatible; X{word.upper()}Y/1.0)"
        assert nginx.search(agent) and _BOT.search(agent), agent
    browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
    assert not nginx.search(browser) and not _BOT.search(browser)


def test_deploy_nginx_adds_the_apps_security_headers() -> None:
    import re

    from newsline.web.middleware import SECURITY_HEADERS
    from tests.support import PROJECT_ROOT

    conf = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    wanted = {(name.decode(), value.decode()) for name, value in SECURITY_HEADERS}
    for location in ("/", "/img/"):
        block = re.search(
            r"\n    location " + re.escape(location) + r" \{(.*?)\n    \}", conf, re.S
        )
        assert block is not None, location
        added = {
            (name.lower(), value.strip('"'))
            for name, value in re.findall(r"add_header (\S+) (\"[^\"]*\"|\S+) always;", block[1])
        }
        assert wanted <= added, (location, wanted - added)


def _nginx_browser_shortcut() -> str:
    import re

    from tests.support import PROJECT_ROOT

    conf = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    found = re.search(r'map \$http_user_agent [^{]*\{[^}]*?"~(\^[^"]+)" human;', conf)
    assert found is not None, "deploy/nginx.conf has no browser shortcut in its agent map"
    return found.group(1)


BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",  # bench/wrk.py's
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.7 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Android 15; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
]
# Bots that dress as browsers: the shortcut must leave them to the word search.
DRESSED_BOTS = [
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0 BingPreview/1.0b",
]


def test_nginx_browser_shortcut_takes_todays_browsers_and_no_bot() -> None:
    import re

    shortcut = re.compile(_nginx_browser_shortcut())
    for agent in BROWSERS:
        assert shortcut.fullmatch(agent) and not is_bot(agent), agent
    for agent in DRESSED_BOTS:
        assert not shortcut.fullmatch(agent) and is_bot(agent), agent


def test_nothing_the_nginx_browser_shortcut_takes_is_a_bot_to_the_app() -> None:
    # The shortcut answers "human" before the word search runs: were a bot word ever inside
    # a string it matches, nginx would file that bot's page as a human's. Proved, not
    # sampled: the two regexes as automata, their intersection empty.
    import interegular

    from newsline.community.presence import _BOT

    shortcut = _nginx_browser_shortcut()
    assert shortcut.startswith("^") and shortcut.endswith("$")
    browsers = interegular.parse_pattern(shortcut[1:-1]).to_fsm()
    bots = interegular.parse_pattern(f"(?i:.*(?:{_BOT.pattern}).*)").to_fsm()
    assert bots.accepts("Mozilla/5.0 (compatible; GoogleBOT/2.1)")  # case as the app's
    assert browsers.accepts(BROWSERS[0])
    assert (browsers & bots).empty()
    # A shortcut with a free letter run in it would not be: the check can fail.
    loose = shortcut[1:-1].replace("Mobile/[0-9]+[A-Z][0-9]+ ", "Mobile/[0-9A-Za-z]+ ")
    assert loose != shortcut[1:-1]
    assert not (interegular.parse_pattern(loose).to_fsm() & bots).empty()


def test_fts5_query_quotes_terms() -> None:
    assert terms_of('gull "AND" NEAR(x) -y*') == ["gull", "AND", "NEAR", "x", "y"]
    assert fts5_query(["gull", "tides"]) == '"gull" "tides"*'
    assert fts5_query(["ab"]) == '"ab"'


@pytest.mark.parametrize(
    "agent,bot",
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", False),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0 Safari/537.36", True),
        ("python-httpx/0.28", True),
        ("curl/8.0", True),
        ("facebookexternalhit/1.1", True),
        ("", True),
        (None, True),
    ],
)
def test_is_bot(agent: str | None, bot: bool) -> None:
    assert is_bot(agent) is bot


def test_etag_and_date_validators() -> None:
    assert _etag_matches('"abc"', '"abc"')
    assert _etag_matches('W/"abc", "def"', '"abc"')
    assert _etag_matches("*", '"abc"')
    assert not _etag_matches('"abd"', '"abc"')
    stamp = "Fri, 25 Jul 2025 15:30:00 GMT"
    assert _not_modified_since(stamp, stamp)
    assert _not_modified_since("Fri, 25 Jul 2025 16:00:00 GMT", stamp)
    assert not _not_modified_since("Fri, 25 Jul 2025 15:00:00 GMT", stamp)
    assert not _not_modified_since("garbage", stamp)


def _entries() -> list[feeds_out.FeedEntry]:
    return [
        feeds_out.FeedEntry(
            id="https://s.example/news/topic/a/one",
            url="https://s.example/news/topic/a/one",
            title="One <b>bold</b> & \x0bcontrol",
            published=NOW,
            author="Ann",
            summary="First & foremost.",
            content_html="<p>Body <em>one</em></p>",
            external_url="https://a.example/one",
            image_url="https://img.example/1.jpg",
            tags=["#politics"],
        ),
        feeds_out.FeedEntry(
            id="https://s.example/news/topic/a/two",
            url="https://s.example/news/topic/a/two",
            title="Two",
            published=NOW - timedelta(hours=1),
        ),
    ]


INFO = feeds_out.FeedInfo(
    title="Channel & Co",
    home_url="https://s.example/news/newsline",
    feed_url="https://s.example/news/feed.xml",
    description="All the news",
)


@pytest.mark.parametrize("kind,version", [("rss", "rss20"), ("atom", "atom10"), ("json", "json11")])
def test_feeds_out_parse_cleanly(kind: str, version: str) -> None:
    document = feeds_out.render(kind, INFO, _entries())
    parsed = feedparser.parse(document)
    if kind != "json":
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.version == version
        first = parsed.entries[0]
        # Text, not markup: RSS titles are HTML (escaped text), Atom's are type="text".
        if first.title_detail.type == "text/html":
            assert first.title == "One &lt;b&gt;bold&lt;/b&gt; &amp; control"
        else:
            assert first.title == "One <b>bold</b> & control"
        assert first.content[0].value == "<p>Body <em>one</em></p>"
        assert first.author == "Ann"
        assert [t.term for t in first.tags] == ["#politics"]
    else:
        import json

        data = json.loads(document)
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert data["items"][0]["content_html"] == "<p>Body <em>one</em></p>"
        assert data["items"][1]["content_text"] == ""
    assert feeds_out.render(kind, INFO, []).startswith(("<?xml", "{"))


def test_feeds_out_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown feed format"):
        feeds_out.render("rdf", INFO, [])


def test_sitemap_documents() -> None:
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    urlset = ET.fromstring(
        sitemap.urlset([("https://s.example/a?x=1&y=2", NOW), ("https://s.example/b", None)])
    )
    assert [u.findtext(f"{ns}loc") for u in urlset] == [
        "https://s.example/a?x=1&y=2",
        "https://s.example/b",
    ]
    assert urlset[0].findtext(f"{ns}lastmod") == "2025-07-25T15:30:00Z"
    index = ET.fromstring(sitemap.sitemap_index([("https://s.example/s-1.xml", None)]))
    assert index.tag == f"{ns}sitemapindex"
    assert sitemap.page_count(0) == 1 and sitemap.page_count(50_000) == 1
    assert sitemap.page_count(50_001) == 2
    robots = sitemap.robots_txt(["https://s.example/news/sitemap.xml"], ["/api/"])
    assert robots.splitlines() == [
        "User-agent: *",
        "Disallow: /api/",
        "",
        "Sitemap: https://s.example/news/sitemap.xml",
    ]


@pytest.mark.postgres
def test_presence_counts_recent_visitors_once(database_url: str, make_settings: Any) -> None:
    from newsline.db.channels import sync_channels
    from newsline.db.engine import session_scope

    settings = make_settings()
    with session_scope(database_url) as session:
        channel_id = sync_channels(session, settings)["news"].id
    with session_scope(database_url) as session:
        heartbeat(session, channel_id, "visitor-aaaa", NOW - timedelta(seconds=40))
        heartbeat(session, channel_id, "visitor-bbbb", NOW - timedelta(seconds=20))
        heartbeat(session, channel_id, "visitor-cccc", NOW - timedelta(seconds=5))
        heartbeat(session, channel_id, "visitor-cccc", NOW)  # the same reader again
    with session_scope(database_url) as session:
        assert online_count(session, channel_id, NOW) == 2
        assert online_count(session, channel_id, NOW + timedelta(seconds=15)) == 1
        heartbeat(session, channel_id, "visitor-dddd", NOW + timedelta(hours=1))  # forgets old rows
    with session_scope(database_url) as session:
        from sqlalchemy import func, select

        from newsline.db.models import Presence

        assert session.scalar(select(func.count()).select_from(Presence)) == 1
    with session_scope(database_url) as session, pytest.raises(ValueError):
        heartbeat(session, channel_id, "<script>", NOW)


def test_scheduler_registers_the_fetch_job(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from newsline.workers import scheduler as sched

    settings = make_settings(scheduler={"fetch_every_seconds": 77})
    jobs = BackgroundScheduler(timezone="UTC")
    ids = sched.register_jobs(jobs, settings)
    assert ids == ["fetch", "digest"]
    job = jobs.get_job("fetch")
    assert job is not None and job.trigger.interval == timedelta(seconds=77)
    # The job runs the real pipeline: with no sources it checks nothing, and says so.
    with caplog.at_level("INFO", logger="newsline.workers.scheduler"):
        sched.fetch_job(settings)
    assert "0 feeds checked" in caplog.text

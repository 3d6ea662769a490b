"""The ingest pipeline end to end: feeds and pages replayed on loopback, stored in a real DB.

Runs on SQLite and, when the test command started one, on PostgreSQL too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsline.cli import app
from newsline.db.engine import session_scope
from newsline.db.models import Feed, FetchLog, Item, Publication
from newsline.ingest.publications import import_opml
from newsline.testing.corpus import CorpusWriter
from newsline.testing.replay import ReplayServer, replay_in_thread
from newsline.workers.pipeline import run_pass

pytestmark = pytest.mark.postgres

NOW = datetime.now(UTC).replace(microsecond=0)

PARAGRAPHS = [
    "The county board approved a new flood barrier for the river district on Tuesday after a long public hearing.",
    "Engineers said the barrier would protect about 1,200 homes that were damaged when the river rose last spring.",
    "Construction is expected to begin in March and to take two years, the board's chairwoman told reporters.",
    "Residents who spoke at the hearing mostly supported the plan, though several asked how it would be paid for.",
    "The state has promised to cover half of the cost, with the rest coming from a bond measure approved in 2023.",
    "Opponents argued that the money would be better spent moving homes out of the flood plain altogether.",
]


def article_html(
    title: str, canonical: str, paragraphs: list[str], *, image: str = "/img/lead.jpg"
) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title} | Gazette</title>
<link rel="canonical" href="{canonical}">
<meta property="og:title" content="{title}"><meta property="og:site_name" content="The Gazette">
<meta property="og:image" content="https://gazette.example{image}">
<meta name="author" content="Dana Reporter">
<meta property="article:published_time" content="{NOW.isoformat()}">
</head><body><header><nav><a href="/">Home</a> <a href="/sports">Sports</a></nav></header>
<article><h1>{title}</h1>
<figure><img src="{image}" alt="The river at dusk"><figcaption>The river at dusk. Photo: Staff</figcaption></figure>
{body}
<p>Sign up for our newsletter to get the latest news in your inbox.</p>
</article><footer>Copyright The Gazette</footer></body></html>""".encode()


def rss(title: str, link: str, entries: list[dict[str, Any]]) -> bytes:
    items = "".join(
        f"""<item><title>{e["title"]}</title><link>{e["link"]}</link><guid isPermaLink="false">{e["guid"]}</guid>
<pubDate>{format_datetime(e.get("published", NOW))}</pubDate>
<description>&lt;p&gt;{e.get("summary", "Teaser of " + e["title"])}&lt;/p&gt;</description></item>"""
        for e in entries
    )
    return f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>
<link>{link}</link>{items}</channel></rss>""".encode()


def build_corpus(root: Path) -> Path:
    w = CorpusWriter(root)
    g = "https://gazette.example"
    entries = [
        {
            "title": "Board approves flood barrier",
            "link": f"{g}/news/flood-barrier?utm_source=rss",
            "guid": "g-1",
        },
        {
            "title": "Missing page keeps feed text",
            "link": f"{g}/news/gone",
            "guid": "g-2",
            "summary": "Only the feed knows this.",
        },
        {
            "title": "Members only story",
            "link": f"{g}/private/members",
            "guid": "g-3",
            "summary": "Robots keep us out.",
        },
        {
            "title": "Barrier story, AMP edition",
            "link": f"{g}/news/flood-barrier.amp.html",
            "guid": "g-4",
        },
        {
            "title": "A PDF, not a page",
            "link": f"{g}/files/report.pdf",
            "guid": "g-5",
            "summary": "Report.",
        },
        {
            "title": "Old news",
            "link": f"{g}/news/old",
            "guid": "g-6",
            "published": NOW - timedelta(days=40),
        },
    ]
    w.add(
        f"{g}/feed.xml",
        rss("The Gazette", g, entries),
        content_type="application/rss+xml; charset=utf-8",
    )
    w.add(f"{g}/robots.txt", b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    # Served where the feed points (with its tracking parameter), as a real site would.
    w.add(
        f"{g}/news/flood-barrier?utm_source=rss",
        article_html("Board approves flood barrier", f"{g}/news/flood-barrier", PARAGRAPHS),
        content_type="text/html; charset=utf-8",
    )
    w.add(
        f"{g}/news/old",
        article_html(
            "Old news", f"{g}/news/old", [p.replace("barrier", "levee") for p in PARAGRAPHS]
        ),
        content_type="text/html; charset=utf-8",
    )
    # The AMP page declares the article as canonical: the same item, stored once.
    w.add(
        f"{g}/news/flood-barrier.amp.html",
        article_html("Board approves flood barrier", f"{g}/news/flood-barrier", PARAGRAPHS),
        content_type="text/html",
    )
    w.add(f"{g}/files/report.pdf", b"%PDF-1.4 not html", content_type="application/pdf")
    t = "https://tribune.example"
    # A syndicated copy: the same body on another site.
    w.add(
        f"{t}/rss",
        rss(
            "The Tribune",
            t,
            [{"title": "Flood barrier approved", "link": f"{t}/wire/flood", "guid": "t-1"}],
        ),
        content_type="application/rss+xml",
    )
    w.add(
        f"{t}/wire/flood",
        article_html("Flood barrier approved", f"{t}/wire/flood", PARAGRAPHS),
        content_type="text/html",
    )
    w.add(
        "https://broken.example/feed",
        b"<rss><channel><item><title>unclosed",
        content_type="application/rss+xml",
    )
    w.add("https://busy.example/feed", None, fault="http-503-retry-after")
    w.add(
        "https://html.example/feed",
        b"<!DOCTYPE html><html><head><title>Home</title></head><body>Hi</body></html>",
        content_type="text/html",
    )
    # Home pages that announce no feed: one links to it, one keeps it where Jekyll does.
    for site, home, feed in [
        (
            "https://anchors.example",
            b'<a href="/about">About</a> <a href="/news.rss">RSS</a>',
            "/news.rss",
        ),
        ("https://quiet.example", b"<p>Our news</p>", "/feed.xml"),
    ]:
        w.add(
            f"{site}/",
            b"<!DOCTYPE html><html><body>" + home + b"</body></html>",
            content_type="text/html",
        )
        w.add(f"{site}{feed}", rss(site, site, []), content_type="application/rss+xml")
    return w.finish()


OPML = """<?xml version="1.0"?><opml version="2.0" xmlns:newsline="https://newsline.dev/ns/opml"><head/><body>
<outline text="Gazette" xmlUrl="https://gazette.example/feed.xml" newsline:tag="gazette" newsline:republish="full"/>
<outline text="Tribune" xmlUrl="https://tribune.example/rss" newsline:tag="tribune"/>
<outline text="Broken" xmlUrl="https://broken.example/feed" newsline:tag="broken"/>
<outline text="Busy" xmlUrl="https://busy.example/feed" newsline:tag="busy"/>
<outline text="Not a feed" xmlUrl="https://html.example/feed" newsline:tag="htmlsite"/>
</body></opml>"""


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[ReplayServer]:
    with replay_in_thread(build_corpus(tmp_path / "corpus")) as server:
        yield server


def settings_for(make_settings: Any, server: ReplayServer) -> Any:
    fetch = server.fetch_settings() | {
        "min_host_delay": 0.0,
        "retries": 1,
        "backoff_base": 0.1,
        "max_retry_after": 1,
    }
    return make_settings(fetch=fetch)


def test_one_run_stores_items_links_duplicates_and_records_failures(
    make_settings: Any, replay: ReplayServer
) -> None:
    settings = settings_for(make_settings, replay)
    with session_scope(settings.database_url) as s:
        assert import_opml(s, settings, OPML.encode()) == (5, 0)

    report = run_pass(settings, enrich=False, publish=False)

    assert report.feeds_checked == 5 and report.feeds_failed == 3
    with session_scope(settings.database_url) as s:
        items = {i.guid: i for i in s.scalars(select(Item).where(Item.feed_id.is_not(None)))}
        feeds = {f.publication.tag: f for f in s.scalars(select(Feed))}
        assert set(items) == {"g-1", "g-2", "g-3", "g-4", "g-5", "g-6", "t-1"}

        main = items["g-1"]
        assert main.state == "ready" and main.content_source == "page", main.extract_error
        assert main.canonical_url == "https://gazette.example/news/flood-barrier"
        assert main.url == "https://gazette.example/news/flood-barrier"  # utm_* dropped
        assert main.slug == "board-approves-flood-barrier"
        assert "1,200 homes" in main.body_text and "newsletter" not in main.body_text.lower()
        assert main.image_url == "https://gazette.example/img/lead.jpg"
        assert main.language == "en"
        assert main.published_at is not None and main.published_at.tzinfo is not None

        # 404 page and robots.txt-disallowed page: the feed's own content is kept.
        for guid, text, reason in (
            ("g-2", "Only the feed knows this.", "404"),
            ("g-3", "Robots keep us out.", "robots"),
        ):
            item = items[guid]
            assert item.state == "ready" and item.content_source == "feed"
            assert item.body_text == text
            assert reason in (item.extract_error or "")
        assert "not an HTML page" in (items["g-5"].extract_error or "")

        # The AMP variant normalizes to the article's URL: one item, not two.
        assert items["g-4"].state == "duplicate" and items["g-4"].duplicate_of_id == main.id
        # The syndicated copy on another site is linked to the first.
        copy = items["t-1"]
        assert copy.state == "ready"
        assert (copy.duplicate_of_id, main.duplicate_of_id) in ((main.id, None), (None, copy.id))
        # Sorting never puts future or missing dates ahead of what we saw.
        assert items["g-6"].sort_at < main.sort_at

        assert feeds["gazette"].status == "ok" and feeds["gazette"].etag
        assert feeds["broken"].status == "error"
        assert "not well-formed" in (feeds["broken"].last_error or "")
        assert feeds["busy"].status == "error" and "503" in (feeds["busy"].last_error or "")
        assert feeds["htmlsite"].status == "error" and "HTML page" in (
            feeds["htmlsite"].last_error or ""
        )
        for tag in ("broken", "busy", "htmlsite"):
            assert feeds[tag].consecutive_failures == 1
            assert feeds[tag].next_fetch_at is not None and feeds[tag].next_fetch_at > datetime.now(
                UTC
            )
        logged = s.scalar(select(func.count()).select_from(FetchLog))
        assert logged is not None and logged >= 10


def test_second_run_gets_304s_and_adds_nothing(make_settings: Any, replay: ReplayServer) -> None:
    settings = settings_for(make_settings, replay)
    with session_scope(settings.database_url) as s:
        import_opml(s, settings, OPML.encode())
    run_pass(settings, enrich=False, publish=False)
    with session_scope(settings.database_url) as s:
        before = s.scalar(select(func.count()).select_from(Item))
    again = run_pass(settings, force=True, enrich=False, publish=False)
    assert again.new_items == 0
    assert again.feeds_not_modified == 2  # gazette and tribune answer 304 to their ETags
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Item)) == before
        # Failing feeds keep failing, and count it.
        busy = s.scalar(select(Feed).join(Publication).where(Publication.tag == "busy"))
        assert busy is not None and busy.consecutive_failures == 2


def test_cli_sources_fetch_and_items(
    make_settings: Any, replay: ReplayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(make_settings, replay)
    config = tmp_path / "newsline.toml"
    config.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    monkeypatch.setenv("NEWSLINE_FETCH__CONNECT_TO", ",".join(replay.connect_to))
    monkeypatch.setenv("NEWSLINE_FETCH__CA_BUNDLE", str(replay.ca_file))
    monkeypatch.setenv("NEWSLINE_FETCH__MIN_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSLINE_FETCH__MAX_RETRY_AFTER", "1")
    runner = CliRunner()
    cli = ["--config", str(config)]

    added = runner.invoke(
        app,
        [
            *cli,
            "publications",
            "add",
            "https://tribune.example/rss",
            "--tag",
            "trib",
            "--republish",
            "full",
        ],
    )
    assert added.exit_code == 0, added.output
    bad = runner.invoke(app, [*cli, "publications", "add", "https://html.example/feed"])
    assert bad.exit_code == 1 and "announces no feed" in bad.output
    # A home page without <link rel=alternate>: its link to a feed, else a well-known path.
    for home, tag in [("https://anchors.example/", "anchors"), ("https://quiet.example/", "quiet")]:
        found = runner.invoke(app, [*cli, "publications", "add", home, "--tag", tag])
        assert found.exit_code == 0, found.output

    fetched = runner.invoke(app, [*cli, "fetch", "--once", "--no-enrich"])
    assert fetched.exit_code == 0, fetched.output
    assert "1 new items" in fetched.output

    listed = runner.invoke(app, [*cli, "items", "list", "--json"])
    rows = json.loads(listed.stdout)
    assert [r["publication"] for r in rows] == ["trib"]
    assert rows[0]["canonical_url"] == "https://tribune.example/wire/flood"
    assert "1,200 homes" in rows[0]["text"]

    health = json.loads(runner.invoke(app, [*cli, "publications", "list", "--json"]).stdout)
    by_tag = {row["tag"]: row for row in health}
    assert by_tag["trib"]["status"] == "ok"
    feeds = {tag: row["feed_url"] for tag, row in by_tag.items()}
    assert feeds["anchors"] == "https://anchors.example/news.rss"
    assert feeds["quiet"] == "https://quiet.example/feed.xml"

    exported = runner.invoke(app, [*cli, "publications", "export-opml"]).stdout
    assert 'newsline:tag="trib"' in exported and 'newsline:republish="full"' in exported
    # A publication with items is never removed silently with them: the operator chooses.
    refused = runner.invoke(app, [*cli, "publications", "remove", "trib"])
    assert refused.exit_code == 1 and "--hide-items" in refused.output
    removed = runner.invoke(app, [*cli, "publications", "remove", "trib", "--hide-items"])
    assert removed.exit_code == 0, removed.output
    assert "1 of its items unpublished" in removed.output
    left = json.loads(runner.invoke(app, [*cli, "items", "list", "--json"]).stdout)
    assert [r["state"] for r in left if r["publication"] == "trib"] in ([], ["unpublished"])


def test_a_feed_that_moved_for_good_is_fetched_at_its_new_address(
    make_settings: Any, tmp_path: Path
) -> None:
    """301/308 to a working feed: the feed's address is updated; a temporary redirect (302)
    or a move onto another feed's address leaves it as it is."""
    w = CorpusWriter(tmp_path / "corpus")
    moves = {
        "https://old.example/rss": (301, "https://new.example/feed.xml"),
        "https://lent.example/rss": (302, "https://elsewhere.example/feed.xml"),
        "https://twin.example/rss": (308, "https://gazette.example/feed.xml"),
    }
    for old, (status, new) in moves.items():
        w.add(old, None, status=status, headers={"Location": new})
        w.add(new, rss(new, new, []), content_type="application/rss+xml")
    corpus = w.finish()
    opml = "".join(
        f'<outline text="{n}" xmlUrl="{url}"/>'
        for n, url in enumerate([*moves, "https://gazette.example/feed.xml"])
    )
    with replay_in_thread(corpus) as server:
        settings = settings_for(make_settings, server)
        with session_scope(settings.database_url) as s:
            import_opml(s, settings, f"<opml><body>{opml}</body></opml>".encode())
        report = run_pass(settings, enrich=False, publish=False)
    assert report.feeds_checked == 4 and report.feeds_failed == 0
    with session_scope(settings.database_url) as s:
        urls = set(s.scalars(select(Feed.url)))
    assert urls == {
        "https://new.example/feed.xml",
        "https://lent.example/rss",
        "https://twin.example/rss",
        "https://gazette.example/feed.xml",
    }

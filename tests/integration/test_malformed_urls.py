"""Malformed URLs from publishers never stop ingestion (issue 16, items 2, 5 and 8).

One pass over a loopback replay of feeds and pages, each hostile in its own way, beside a
healthy feed: the pass ends normally, every healthy item is finished, and every bad feed,
entry and page has its error recorded where ``publications list`` and ``items list``
show it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsline.cli import app
from newsline.db.engine import session_scope
from newsline.db.models import Item, Publication
from newsline.ingest.publications import import_opml
from newsline.testing.corpus import CorpusWriter
from newsline.testing.replay import ReplayServer, replay_in_thread
from newsline.workers.pipeline import run_pass

pytestmark = pytest.mark.postgres

NOW = datetime.now(UTC).replace(microsecond=0)

PARAGRAPHS = [
    "The harbour authority opened the new ferry terminal on Monday after three years of work.",
    "Passengers will be able to board from two covered platforms instead of the old open pier.",
    "The terminal cost about 40 million and was paid for by the port and the regional government.",
    "Ferry operators said they expect the number of daily crossings to grow by a third next year.",
    "Local shops near the old pier worry that fewer travellers will walk past their windows now.",
]


def article(title: str, *, canonical: str | None = None, extra: str = "") -> bytes:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title>{link}<meta property="og:title" content="{title}">
</head><body><article><h1>{title}</h1>{extra}{body}</article></body></html>""".encode()


def rss(link: str, entries: list[tuple[str, str, str]]) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{href}</link><guid>{guid}</guid>"
        f"<pubDate>{format_datetime(NOW)}</pubDate>"
        f"<description>Teaser of {title}</description></item>"
        for guid, title, href in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{link}</title><link>{link}</link>{items}</channel></rss>"
    ).encode()


HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml"


def build_corpus(root: Path) -> Path:
    w = CorpusWriter(root)
    # The healthy neighbour: both items must be finished from their pages.
    h = "https://healthy.example"
    w.add(
        f"{h}/feed.xml",
        rss(h, [("h-1", "Ferry terminal opens", f"{h}/a"), ("h-2", "Second story", f"{h}/b")]),
        content_type=RSS,
    )
    w.add(f"{h}/a", article("Ferry terminal opens"), content_type=HTML)
    w.add(f"{h}/b", article("Second story"), content_type=HTML)

    # Feeds redirecting to URLs that cannot be parsed.
    w.add("https://bracket.example/feed", None, status=302, headers={"Location": "http://[::1"})
    w.add(
        "https://badport.example/feed",
        None,
        status=302,
        headers={"Location": "https://badport.example:99999/feed"},
    )

    # A JSON Feed: an unparseable item URL, script and data URLs, a URL too long to store,
    # NUL and lone surrogates (which PostgreSQL refuses in text), and one good item.
    j = "https://json.example"
    json_feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON",
        "home_page_url": "javascript:alert(1)",
        "items": [
            {"id": "j-1", "url": "http://[::1", "title": "Bracket", "content_text": "x"},
            {"id": "j-2", "url": "javascript:alert(1)", "title": "Script", "content_text": "x"},
            {"id": "j-3", "url": "data:text/html,<b>x</b>", "title": "Data", "content_text": "x"},
            {"id": "j-4", "url": f"{j}/ok", "title": "Good JSON item", "content_text": "ok"},
            {"id": "j-5", "url": f"{j}/{'x' * 2100}", "title": "Long", "content_text": "x"},
            {"id": "j-6", "url": f"{j}/nul\u0000x", "title": "Nul", "content_text": "x"},
            {
                "id": "j-7",
                "url": f"{j}/nul-title",
                "title": "Nul\u0000 title\ud800",
                "content_text": "a\u0000b",
            },
        ],
    }
    w.add(f"{j}/feed.json", json.dumps(json_feed).encode(), content_type="application/feed+json")
    w.add(f"{j}/ok", article("Good JSON item"), content_type=HTML)

    # An Atom feed with a link on port 99999 beside a good one.
    a = "https://atom.example"
    updated = NOW.isoformat()
    w.add(
        f"{a}/atom.xml",
        f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><id>urn:atom</id>
<updated>{updated}</updated>
<entry><title>Port out of range</title><id>urn:a-1</id><updated>{updated}</updated>
<link rel="alternate" href="{a}:99999/bad"/></entry>
<entry><title>Good Atom item</title><id>urn:a-2</id><updated>{updated}</updated>
<link rel="alternate" href="{a}/good"/></entry></feed>""".encode(),
        content_type="application/atom+xml",
    )
    w.add(f"{a}/good", article("Good Atom item"), content_type=HTML)

    # Pages declaring canonical URLs that cannot be parsed; a page with a form feed in a
    # paragraph; a page with no article text at all; an RSS item linking to script.
    c = "https://canon.example"
    w.add(
        f"{c}/feed.xml",
        rss(
            c,
            [
                ("c-1", "Bracket canonical", f"{c}/bracket"),
                ("c-2", "Port canonical", f"{c}/port"),
                ("c-3", "Form feed", f"{c}/formfeed"),
                ("c-4", "Nothing to read", f"{c}/empty"),
                ("c-5", "Script link", "javascript:alert(1)"),
            ],
        ),
        content_type=RSS,
    )
    w.add(f"{c}/bracket", article("Bracket canonical", canonical="http://[::1/"), content_type=HTML)
    w.add(
        f"{c}/port",
        article("Port canonical", canonical=f"{c}:99999/port"),
        content_type=HTML,
    )
    w.add(f"{c}/formfeed", article("Form feed", extra="<p>a\x0cb</p>"), content_type=HTML)
    w.add(
        f"{c}/empty",
        b"<!DOCTYPE html><html><head><title>Nothing</title></head><body></body></html>",
        content_type=HTML,
    )
    return w.finish()


OPML = """<?xml version="1.0"?><opml version="2.0" xmlns:newsline="https://newsline.dev/ns/opml"><head/><body>
<outline text="Healthy" xmlUrl="https://healthy.example/feed.xml" newsline:tag="healthy"/>
<outline text="Bracket" xmlUrl="https://bracket.example/feed" newsline:tag="bracket"/>
<outline text="Bad port" xmlUrl="https://badport.example/feed" newsline:tag="badport"/>
<outline text="JSON" xmlUrl="https://json.example/feed.json" newsline:tag="json"/>
<outline text="Atom" xmlUrl="https://atom.example/atom.xml" newsline:tag="atom"/>
<outline text="Canon" xmlUrl="https://canon.example/feed.xml" newsline:tag="canon"/>
</body></opml>"""


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[ReplayServer]:
    with replay_in_thread(build_corpus(tmp_path / "corpus")) as server:
        yield server


def cli_json(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_malformed_urls_are_recorded_and_the_pass_goes_on(
    make_settings: Any, replay: ReplayServer, tmp_path: Path
) -> None:
    fetch = replay.fetch_settings() | {"min_host_delay": 0.0, "retries": 0}
    settings = make_settings(fetch=fetch)
    with session_scope(settings.database_url) as s:
        assert import_opml(s, settings, OPML.encode()) == (6, 0)

    report = run_pass(settings, enrich=False, publish=False)

    assert report.feeds_checked == 6 and report.feeds_failed == 2
    with session_scope(settings.database_url) as s:
        items = {i.title: i for i in s.scalars(select(Item))}
        # The healthy feed's items, and every good item beside a bad one, are finished.
        for title in ("Ferry terminal opens", "Second story", "Good JSON item", "Good Atom item"):
            assert items[title].state == "ready", title
            assert items[title].content_source == "page", items[title].extract_error
        # No unparseable or non-web link was stored: such entries are refused, or kept
        # without a link (the feed's content, on our item page).
        for title in (
            "Bracket",
            "Script",
            "Data",
            "Long",
            "Nul",
            "Port out of range",
            "Script link",
        ):
            assert title not in items or items[title].link == "", items[title].link
        for item in items.values():
            assert item.url.startswith(("https://", "urn:newsline:")), item.url
            assert item.link == "" or item.link.startswith("https://"), item.link
        # NUL and lone surrogates are dropped from stored text (PostgreSQL takes neither).
        cleaned = items["Nul title"]
        assert cleaned.state == "ready" and cleaned.body_text == "ab", cleaned.extract_error
        publication = s.scalar(select(Publication).where(Publication.tag == "json"))
        assert publication is not None and publication.home_url != "javascript:alert(1)"

        # An unparseable canonical URL is ignored; the page is still used.
        for title, path in (("Bracket canonical", "bracket"), ("Port canonical", "port")):
            item = items[title]
            assert item.state == "ready" and item.content_source == "page", item.extract_error
            assert item.canonical_url == f"https://canon.example/{path}"
        # A form feed inside a paragraph no longer empties the extraction.
        formfeed = items["Form feed"]
        assert formfeed.content_source == "page", formfeed.extract_error
        assert "ferry terminal" in formfeed.body_text and "a b" in formfeed.body_text
        # A page with no article text: the feed's content, and the reason recorded.
        empty = items["Nothing to read"]
        assert empty.state == "ready" and empty.content_source == "feed"
        assert "no article text" in (empty.extract_error or "")

    config = tmp_path / "newsline.toml"
    config.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    feeds = {row["tag"]: row for row in cli_json(config, "publications", "list", "--json")}
    assert feeds["healthy"]["status"] == "ok" and feeds["healthy"]["last_error"] is None
    for tag in ("bracket", "badport"):
        assert feeds[tag]["status"] == "error"
        assert "invalid" in feeds[tag]["last_error"] and "\n" not in feeds[tag]["last_error"]
    assert "http://[::1" in feeds["bracket"]["last_error"]
    assert feeds["json"]["status"] == "ok" and feeds["atom"]["status"] == "ok"
    assert "'Long' refused, URL longer than 2000 characters" in feeds["json"]["last_error"]
    assert "'Nul' refused, control characters in URL" in feeds["json"]["last_error"]
    rows = {r["url"]: r for r in cli_json(config, "items", "list", "--json", "--state", "all")}
    assert "no article text" in rows["https://canon.example/empty"]["extract_error"]

    # Every rerun goes on too: nothing is left half-done for the next pass to trip over.
    again = run_pass(settings, force=True, enrich=False, publish=False)
    assert again.feeds_checked == 6 and again.feeds_failed == 2


class FailingReporter:
    """A progress reporter that breaks on one feed: bookkeeping around a unit can fail too."""

    def __init__(self) -> None:
        self.advanced: list[str] = []

    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, message: str | None = None) -> None:
        if message and message.startswith("https://healthy.example/"):
            raise RuntimeError("progress display broke")
        self.advanced.append(name)


def test_a_failure_around_one_unit_never_stops_the_others(
    make_settings: Any, replay: ReplayServer
) -> None:
    fetch = replay.fetch_settings() | {"min_host_delay": 0.0, "retries": 0}
    settings = make_settings(fetch=fetch)
    with session_scope(settings.database_url) as s:
        import_opml(s, settings, OPML.encode())
    reporter = FailingReporter()

    report = run_pass(settings, reporter=reporter, enrich=False, publish=False)

    assert reporter.advanced.count("feeds") == 5  # every other feed was reported
    assert any(
        e.startswith("feed https://healthy.example/feed.xml: unexpected error (RuntimeError)")
        for e in report.errors
    ), report.errors
    with session_scope(settings.database_url) as s:
        states = {i.title: i.state for i in s.scalars(select(Item))}
    assert states["Ferry terminal opens"] == states["Second story"] == "ready"
    assert states["Good JSON item"] == "ready"

"""Ingest races between workers on PostgreSQL, settled by the database (issue 15)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.pg import PG_URL, migrated_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("these races need PostgreSQL: NEWSLINE_TEST_PG_URL is not set")
    with migrated_database("nl_races") as url:
        yield url


def _wait_for_a_lock_wait(url: str) -> None:
    """Until a session of the database waits for a lock (the racing writer is blocked)."""
    from sqlalchemy import text

    from newsline.db.engine import session_scope

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with session_scope(url) as session:
            waiting = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the second writer never waited for the first")


def test_two_entries_of_one_article_finished_at_once_store_it_once(
    tmp_path: Path, pg_url: str
) -> None:
    """Two workers finish two entries (two feeds, two links) whose pages name one canonical
    URL, at the same time: neither sees the other's uncommitted item, the unique index lets
    one win, and the other item becomes its duplicate. It used to fail with an
    IntegrityError, and the unit then stored the item again from its feed content: the
    article twice on the site."""
    from newsline.config import load_settings
    from newsline.db.engine import session_scope
    from newsline.db.models import Feed, Item
    from newsline.ingest import store
    from newsline.ingest.extract.model import Extracted
    from newsline.ingest.feeds import FeedEntry, ParsedFeed
    from newsline.ingest.publications import import_opml

    settings = load_settings(None, database_url=pg_url, data_dir=str(tmp_path))
    opml = (
        b'<?xml version="1.0"?><opml version="2.0"><body>'
        b'<outline type="rss" text="World" xmlUrl="http://paper.example/world.xml"/>'
        b'<outline type="rss" text="Europe" xmlUrl="http://paper.example/europe.xml"/>'
        b"</body></opml>"
    )
    with session_scope(pg_url) as session:
        import_opml(session, settings, opml)
    canonical = "http://paper.example/2026/11/30/summit-ends"
    links = ["http://paper.example/world/summit-ends", "http://paper.example/europe/summit-ends"]
    with session_scope(pg_url) as session:
        feeds = list(session.query(Feed).order_by(Feed.url))
        for feed, link in zip(feeds, links, strict=True):
            entry = FeedEntry(link, link, "Summit ends", None, None, "<p>Teaser.</p>", "", None)
            parsed = ParsedFeed("Paper", "http://paper.example/", "rss20", [entry])
            headers = store.FeedHeaders(200, None, None)
            assert store.store_feed(session, feed.id, parsed, headers, settings.fetch) == 1
    with session_scope(pg_url) as session:
        ids = {url: id_ for id_, url in session.query(Item.id, Item.url)}
    first, second = ids[links[0]], ids[links[1]]

    def page(url: str) -> Extracted:
        text = "The summit ended with an agreement on the border crossings and trade rules."
        return Extracted(
            url=url,
            canonical_url=canonical,
            title="Summit ends",
            author=None,
            published=datetime(2026, 11, 30, 9, tzinfo=UTC),
            modified=None,
            site_name="Paper",
            description=None,
            language="en",
            image_url=None,
            image_caption=None,
            text=text,
            html=f"<p>{text}</p>",
        )

    outcome: dict[str, object] = {}

    def second_worker() -> None:
        try:
            with session_scope(pg_url) as session:
                outcome["state"] = store.finish_item(session, second, page(links[1]), None)
        except Exception as exc:  # what the unit would have seen
            outcome["error"] = exc

    with session_scope(pg_url) as session:
        assert store.finish_item(session, first, page(links[0]), None) == "ready"
        session.flush()  # the canonical URL is taken, not yet committed
        racer = threading.Thread(target=second_worker)
        racer.start()
        _wait_for_a_lock_wait(pg_url)
    racer.join(30)
    assert not racer.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["state"] == "duplicate"
    with session_scope(pg_url) as session:
        rows = {i.id: i for i in session.query(Item)}
        assert rows[first].state == "ready" and rows[first].canonical_url == canonical
        assert rows[second].state == "duplicate" and rows[second].duplicate_of_id == first
        assert rows[second].canonical_url is None
        assert rows[second].attempts == 1


def test_two_feeds_with_the_same_entries_in_another_order_do_not_deadlock(
    tmp_path: Path, pg_url: str
) -> None:
    """Two workers store two feeds carrying the same two entries in opposite orders, each
    pausing after its first new item until the other has stored one (or 3 s have passed).
    Each held one item's unique URL and waited for the other's: PostgreSQL found the
    deadlock and aborted one refresh. Now the entries' URLs are locked in one order first,
    so the second waits for the first to commit and finds both entries known."""
    from sqlalchemy import event

    from newsline.config import load_settings
    from newsline.db.engine import engine_for, session_scope
    from newsline.db.models import Feed, Item
    from newsline.ingest import store
    from newsline.ingest.feeds import FeedEntry, ParsedFeed
    from newsline.ingest.publications import import_opml

    settings = load_settings(None, database_url=pg_url, data_dir=str(tmp_path))
    opml = (
        b'<?xml version="1.0"?><opml version="2.0"><body>'
        b'<outline type="rss" text="Wire" xmlUrl="http://wire.example/top.xml"/>'
        b'<outline type="rss" text="Wire" xmlUrl="http://wire.example/latest.xml"/>'
        b"</body></opml>"
    )
    with session_scope(pg_url) as session:
        import_opml(session, settings, opml)
    with session_scope(pg_url) as session:
        feed_ids = [f.id for f in session.query(Feed).order_by(Feed.url)]
    links = ["http://wire.example/news/one", "http://wire.example/news/two"]
    entries = [
        FeedEntry(link, link, f"Story {n}", None, None, "<p>Teaser.</p>", "", None)
        for n, link in enumerate(links)
    ]
    inserted = {name: threading.Event() for name in ("a", "b")}
    other = {"a": "b", "b": "a"}

    def after_insert(conn: object, cursor: object, statement: str, *args: object) -> None:
        name = threading.current_thread().name
        first = name in inserted and not inserted[name].is_set()
        if first and statement.lstrip().upper().startswith("INSERT INTO ITEM "):
            inserted[name].set()
            inserted[other[name]].wait(3)

    errors: dict[str, Exception] = {}
    stored: dict[str, int] = {}

    def refresh(name: str, feed_id: int, order: list[FeedEntry]) -> None:
        try:
            with session_scope(pg_url) as session:
                parsed = ParsedFeed("Wire", "http://wire.example/", "rss20", order)
                headers = store.FeedHeaders(200, None, None)
                stored[name] = store.store_feed(session, feed_id, parsed, headers, settings.fetch)
        except Exception as exc:  # what the unit would have seen
            errors[name] = exc

    engine = engine_for(pg_url)
    event.listen(engine, "after_cursor_execute", after_insert)
    try:
        workers = [
            threading.Thread(target=refresh, name="a", args=("a", feed_ids[0], entries)),
            threading.Thread(target=refresh, name="b", args=("b", feed_ids[1], entries[::-1])),
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    finally:
        event.remove(engine, "after_cursor_execute", after_insert)
    assert not errors, errors
    assert sorted(stored.values()) == [0, 2]
    with session_scope(pg_url) as session:
        assert sorted(url for (url,) in session.query(Item.url)) == links

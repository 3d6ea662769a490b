"""The publication's own section labels reach the hashtags (issue 11).

A real feed (The Guardian's RSS, from the shared feed corpus) is parsed and stored on real
SQLite; its ``<category>`` labels must arrive on the stored items, and enrichment must read
them: with the labels cleared and the items enriched again, hashtags change.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, ItemHashtag
from newsline.enrich.stage import enrich_pending
from newsline.ingest.feeds import parse_feed
from newsline.ingest.publications import add_publication
from newsline.ingest.store import FeedHeaders, finish_item, store_feed
from tests.support.corpora import CORPORA

GUARDIAN = CORPORA / "feeds" / "rss-parser" / "input" / "guardian.rss"
FEED_URL = "https://www.theguardian.com/us/rss"

pytestmark = pytest.mark.skipif(
    not GUARDIAN.is_file(), reason=f"shared feed corpus not available ({GUARDIAN} missing)"
)


def primaries(settings: Settings) -> dict[str, str]:
    with session_scope(settings.database_url) as s:
        rows = s.execute(
            select(Item.title, ItemHashtag.hashtag)
            .join(ItemHashtag, ItemHashtag.item_id == Item.id)
            .where(ItemHashtag.rank == 0)
        )
        return {title: tag for title, tag in rows}


def test_feed_categories_are_stored_and_steer_the_hashtags(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    with session_scope(settings.database_url) as s:
        add_publication(s, settings, FEED_URL, tag="guardian", name="The Guardian")
        feed_id = s.scalar(select(Feed.id).where(Feed.url == FEED_URL))
        assert feed_id is not None
        parsed = parse_feed(GUARDIAN.read_bytes(), FEED_URL)
        assert store_feed(s, feed_id, parsed, FeedHeaders(200, None, None), settings.fetch) == 55
        for item_id in s.scalars(select(Item.id)).all():
            finish_item(s, item_id, None, None)  # the feed's own content, as without a page
    with session_scope(settings.database_url) as s:
        stored = {i.title: i.sections for i in s.scalars(select(Item))}
    glee = "Glee actor Mark Salling found dead aged 35"
    assert stored[glee] == [
        *("Television", "Glee", "Culture", "Television & radio", "US news", "US television"),
        "World news",
    ]
    assert all(stored.values()), "every Guardian entry has categories"

    enrich_pending(settings)
    with_labels = primaries(settings)
    assert with_labels[glee] == "culture"

    with session_scope(settings.database_url) as s:
        s.execute(update(Item).values(sections=None))
    enrich_pending(settings, rebuild=True)
    without = primaries(settings)
    assert set(without) == set(with_labels)
    changed = {t for t in with_labels if with_labels[t] != without[t]}
    # The labels decide several items, the Glee obituary among them (its text alone reads
    # as a police report).
    assert glee in changed and len(changed) >= 5

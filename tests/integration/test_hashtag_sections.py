"""The publication's own section labels reach the hashtags (issue 11).

A real feed (The Guardian's RSS, from the shared feed corpus) is parsed and stored on real
SQLite; its ``<category>`` labels must arrive on the stored items, and enrichment must read
them: with the labels cleared and the items enriched again, hashtags change. Editors'
corrections teach a channel what a publication's own labels mean.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, ItemHashtag
from newsline.enrich.stage import enrich_pending, retag
from newsline.ingest.feeds import parse_feed
from newsline.ingest.publications import add_publication
from newsline.ingest.store import FeedHeaders, finish_item, store_feed
from tests.support.corpora import CORPORA

GUARDIAN = CORPORA / "feeds" / "rss-parser" / "input" / "guardian.rss"
FEED_URL = "https://www.theguardian.com/us/rss"

needs_guardian = pytest.mark.skipif(
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


@needs_guardian
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


def json_feed(items: list[tuple[str, str, str, str]]) -> bytes:
    """A JSON Feed of (id, title, text, section label) items."""
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Tagesblatt",
            "items": [
                {
                    "id": key,
                    "url": f"https://tagesblatt.example/{key}",
                    "title": title,
                    "content_text": text,
                    "tags": [label, "Nachrichten"],
                }
                for key, title, text, label in items
            ],
        }
    ).encode()


def test_corrections_teach_the_channel_what_a_publication_label_means(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    url = "https://tagesblatt.example/feed.json"
    with session_scope(settings.database_url) as s:
        add_publication(s, settings, url, tag="tagesblatt", name="Tagesblatt")
        feed_id = s.scalar(select(Feed.id).where(Feed.url == url))
    assert feed_id is not None

    def publish(items: list[tuple[str, str, str, str]]) -> None:
        with session_scope(settings.database_url) as s:
            store_feed(
                s,
                feed_id,
                parse_feed(json_feed(items), url),
                FeedHeaders(200, None, None),
                settings.fetch,
            )
            for item_id in s.scalars(select(Item.id).where(Item.state == "pending")).all():
                finish_item(s, item_id, None, None)
        enrich_pending(settings)

    # Editors file this paper's "Kultur" items under #culture and "Sport" under #sports.
    publish(
        [
            (f"k{i}", f"Neue Ausstellung {i}", "Die Galerie zeigt Bilder.", "Kultur")
            for i in range(4)
        ]
        + [
            (f"s{i}", f"Pokal Runde {i}", "Die Mannschaft spielt am Samstag.", "Sport")
            for i in range(4)
        ]
    )
    with session_scope(settings.database_url) as s:
        corrected = {i.guid: i.id for i in s.scalars(select(Item))}
    for guid, item_id in corrected.items():
        retag(settings, item_id, "culture" if guid.startswith("k") else "sports")

    # The same words, as if they had no section: a sports reading (record crowds, final day).
    words = "Thousands came on the last day and the organisers said the numbers beat every year."
    publish(
        [
            ("late-kultur", "Record crowds for the final day", words, "Kultur"),
            ("late-sport", "Record crowds for the final day", words, "Sport"),
        ]
    )
    tags = {}
    with session_scope(settings.database_url) as s:
        for guid, tag in s.execute(
            select(Item.guid, ItemHashtag.hashtag)
            .join(ItemHashtag, ItemHashtag.item_id == Item.id)
            .where(ItemHashtag.rank == 0, Item.guid.like("late-%"))
        ):
            tags[guid] = tag
    assert tags == {"late-kultur": "culture", "late-sport": "sports"}

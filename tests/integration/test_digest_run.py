"""run_digest / publish_due on a real database: windows, caps, memory, catch-up, storage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import func, select

from newsline.config import DEFAULT_HASHTAGS, Settings
from newsline.db.channels import UnknownChannel
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item, Publication
from newsline.publish.digest import publish_due, run_digest
from tests.support.digest_seed import Seeder

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)  # 10:30 AM CDT


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(web={"base_url": "https://news.example"})


@pytest.fixture
def seed(settings: Settings) -> Seeder:
    return Seeder(settings)


def counts(url: str) -> tuple[int, int]:
    with session_scope(url) as s:
        digests = s.scalar(select(func.count()).select_from(Digest)) or 0
        own = (
            s.scalar(
                select(func.count())
                .select_from(Item)
                .join(Publication, Publication.id == Item.publication_id)
                .where(Publication.is_channel_own.is_(True))
            )
            or 0
        )
    return digests, own


@pytest.mark.postgres
def test_publishes_one_digest_item_and_row_then_is_idempotent(
    settings: Settings, seed: Seeder
) -> None:
    story = seed.story(2)
    a = seed.item("alpha", SLOT - timedelta(minutes=20), story_id=story, body_words=30)
    b = seed.item("beta", SLOT - timedelta(minutes=10), story_id=story, body_words=120)
    c = seed.item("gamma", SLOT - timedelta(minutes=5), hashtag="economy", image=False)
    seed.item("gamma", SLOT + timedelta(minutes=1))  # next slot's
    seed.item("gamma", SLOT - timedelta(minutes=3), state="pending")  # not ready

    result = run_digest(settings, "news", at=SLOT + timedelta(minutes=2))
    assert result.status == "published"
    assert result.title == "The Digest, 7/25/2025 @1030AM, CDT"
    assert result.entries == 2 and result.considered == 3

    with session_scope(settings.database_url) as s:
        digest = s.scalars(select(Digest)).one()
        item = s.get(Item, digest.item_id)
        assert item is not None
        assert item.slug == item.guid == "the-digest-7252025-1030am-cdt"
        assert item.url == "https://news.example/news/topic/news/the-digest-7252025-1030am-cdt"
        assert item.state == "ready" and item.title == result.title
        assert item.publication.is_channel_own and item.publication.tag == "news"
        assert digest.slot_at == SLOT and digest.window_start == SLOT - timedelta(hours=24)
        keys = [e["key"] for e in digest.entries]
        assert keys == [f"story:{story}", f"item:{c}"]
        assert digest.entries[0]["item_id"] == b  # the more complete copy leads
        assert digest.entries[0]["item_ids"] == [a, b]
        body = item.body_html
        overview = item.summary or ""
        b_url = s.get(Item, b).url  # type: ignore[union-attr]

    page = LexborHTMLParser(body)
    assert [h.text() for h in page.css("section h2")] == ["#politics", "#economy", "#sponsor"]
    lead = page.css_first("section#politics article h3 a")
    assert lead is not None and lead.attributes["href"] == b_url
    assert lead.text().startswith("BETA: ")
    also = page.css_first("section#politics .digest-also a")
    assert also is not None and also.text() == "ALPHA"
    assert page.css_first("section#politics img.digest-thumb") is not None
    assert page.css_first("section#economy img") is None  # that item has no image
    assert page.css_first("p.digest-overview") is None  # it is the item's summary instead
    assert 0 < len(overview) <= 1000

    again = run_digest(settings, "news", at=SLOT + timedelta(minutes=29))
    assert again.status == "exists" and again.digest_id == result.digest_id
    assert counts(settings.database_url) == (1, 1)


def test_empty_window_publishes_nothing(settings: Settings, seed: Seeder) -> None:
    seed.item("alpha", SLOT - timedelta(hours=30))  # older than the 24 h window
    result = run_digest(settings, "news", at=SLOT)
    assert result.status == "empty" and result.digest_id is None
    assert counts(settings.database_url) == (0, 0)


def test_dry_run_writes_nothing(settings: Settings, seed: Seeder) -> None:
    seed.item("alpha", SLOT - timedelta(minutes=1))
    result = run_digest(settings, "news", at=SLOT, dry_run=True)
    assert result.status == "dry-run" and result.entries == 1
    assert result.composed is not None and "ALPHA:" in result.composed.body_text
    assert counts(settings.database_url) == (0, 0)


def test_unknown_channel(settings: Settings) -> None:
    with pytest.raises(UnknownChannel, match="unknown channel"):
        run_digest(settings, "nope", at=SLOT)


def test_only_the_channels_newsline_and_never_its_own_digests(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        channels=[
            {"slug": "news", "display_name": "News", "publications": ["alpha"]},
            {"slug": "sport", "display_name": "Sport"},
        ]
    )
    seed = Seeder(settings)
    seed.item("alpha", SLOT - timedelta(minutes=9))
    seed.item("beta", SLOT - timedelta(minutes=8))  # not carried by "news"
    first = run_digest(settings, "news", at=SLOT)
    assert first.entries == 1 and first.composed is not None
    assert "BETA" not in first.composed.body_text
    # The next slot sees the digest item of "news" (first seen at the slot) but skips it.
    seed.item("alpha", SLOT + timedelta(minutes=5))
    second = run_digest(settings, "news", at=SLOT + timedelta(minutes=30))
    assert second.entries == 1 and second.window_start == SLOT
    assert second.composed is not None and "The Digest" not in second.composed.body_html


def test_hundreds_of_items_across_all_hashtags(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        channels=[
            {
                "slug": "news",
                "display_name": "News",
                "digest": {"max_entries_per_group": 4, "max_entries": 30},
            }
        ]
    )
    seed = Seeder(settings)
    tags = [t for t, _ in DEFAULT_HASHTAGS]
    pubs = [f"pub{i}" for i in range(12)]
    for p in pubs:
        seed.publication(p)
    stories = [seed.story(n) for n in (2, 3, 4, 5)]
    specs: list[dict[str, Any]] = []
    for n in range(720):
        spec: dict[str, Any] = {
            "pub": pubs[n % len(pubs)],
            "seen": SLOT - timedelta(minutes=29) + timedelta(seconds=n * 2),
            "hashtag": tags[n % len(tags)],
        }
        if n % 97 == 0:
            spec["story_id"] = stories[(n // 97) % len(stories)]
        specs.append(spec)
    seed.items(specs)

    result = run_digest(settings, "news", at=SLOT)
    assert result.status == "published" and result.considered == 720
    assert result.entries == 30
    with session_scope(settings.database_url) as s:
        entries = s.scalars(select(Digest.entries)).one()
    shown = [e["hashtag"] for e in entries]
    # Channel order, each group contiguous, at most 4 per group.
    order = [t for t in tags if t in shown]
    assert shown == sorted(shown, key=order.index)
    assert max(shown.count(t) for t in order) <= 4
    # Every multi-source story made it (coverage ranks first), as one entry each.
    story_keys = {e["key"] for e in entries if e["key"].startswith("story:")}
    assert story_keys == {f"story:{sid}" for sid in stories}
    for tag in order:
        group = [e for e in entries if e["hashtag"] == tag]
        ranks = [(e["sources"], e["latest"]) for e in group]
        assert ranks == sorted(ranks, reverse=True)


def test_memory_brings_a_story_back_only_with_new_sources(settings: Settings, seed: Seeder) -> None:
    story = seed.story(2)
    seed.item("alpha", SLOT - timedelta(minutes=10), story_id=story)
    seed.item("beta", SLOT - timedelta(minutes=9), story_id=story)
    assert run_digest(settings, "news", at=SLOT).entries == 1

    # Next slot: another alpha item on the same story, no new source -> nothing new.
    seed.item("alpha", SLOT + timedelta(minutes=10), story_id=story)
    quiet = run_digest(settings, "news", at=SLOT + timedelta(minutes=30))
    assert quiet.status == "empty" and quiet.remembered == 1

    # A third publication covers it: the story returns, marked as an update.
    with session_scope(settings.database_url) as s:
        from newsline.db.models import Story

        row = s.get(Story, story)
        assert row is not None
        row.publication_count = 3
    seed.item("gamma", SLOT + timedelta(minutes=40), story_id=story)
    update = run_digest(settings, "news", at=SLOT + timedelta(minutes=60))
    assert update.status == "published" and update.composed is not None
    (entry,) = update.composed.entries
    assert entry.update and entry.sources == 3
    assert "Update:" in update.composed.body_html

    # After the memory window (24 h), the story may be told afresh.
    seed.item("delta", SLOT + timedelta(hours=25, minutes=5), story_id=story)
    later = run_digest(settings, "news", at=SLOT + timedelta(hours=25, minutes=30))
    assert later.composed is not None and not later.composed.entries[0].update


def test_catch_up_after_a_long_outage_runs_one_digest(settings: Settings, seed: Seeder) -> None:
    seed.item("alpha", SLOT - timedelta(minutes=5))
    assert run_digest(settings, "news", at=SLOT).status == "published"
    # Three days down; items kept arriving (the fetcher of another node, say).
    for hours in (1, 20, 50, 70):
        seed.item("beta", SLOT + timedelta(hours=hours))
    back = SLOT + timedelta(hours=72, minutes=7)
    ticks = [publish_due(settings, now=back + timedelta(seconds=s)) for s in (0, 60, 600)]
    published = [r for tick in ticks for r in tick if r.status == "published"]
    assert len(published) == 1  # one catch-up digest, not 144
    (catch_up,) = published
    assert catch_up.slot_at == SLOT + timedelta(hours=72)
    assert catch_up.window_start == catch_up.slot_at - timedelta(hours=24)  # at most 24 h
    assert catch_up.entries == 2  # the items of hours 50 and 70
    assert counts(settings.database_url) == (2, 2)


def test_tick_waits_for_the_slot_to_settle(settings: Settings, seed: Seeder) -> None:
    seed.item("alpha", SLOT - timedelta(minutes=5))
    assert publish_due(settings, now=SLOT + timedelta(seconds=10)) == []
    (result,) = publish_due(settings, now=SLOT + timedelta(seconds=61))
    assert result.status == "published"


def test_item_without_summary_gets_one_from_its_text(settings: Settings, seed: Seeder) -> None:
    seed.item("alpha", SLOT - timedelta(minutes=5), summary=None, body_words=120)
    result = run_digest(settings, "news", at=SLOT)
    assert result.composed is not None
    (entry,) = result.composed.entries
    assert entry.summary and len(entry.summary) <= 280


def test_an_item_still_pending_at_its_slot_comes_in_the_next_digest(
    settings: Settings, seed: Seeder
) -> None:
    seed.item("alpha", SLOT - timedelta(minutes=3))
    late = seed.item("beta", SLOT - timedelta(minutes=1), state="pending", title="Late one")
    first = run_digest(settings, "news", at=SLOT)
    assert first.entries == 1 and first.composed is not None
    assert first.composed.pending_ids == [late]
    with session_scope(settings.database_url) as s:  # extraction finishes after the slot
        item = s.get(Item, late)
        assert item is not None
        item.state = "ready"
    second = run_digest(settings, "news", at=SLOT + timedelta(minutes=30))
    assert second.status == "published" and second.composed is not None
    assert [e.title for e in second.composed.entries] == ["Late one"]
    third = run_digest(settings, "news", at=SLOT + timedelta(minutes=60))
    assert third.status == "empty"  # shown once, not again

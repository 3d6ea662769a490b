"""The enrichment stage on a real database: hashtags, summaries, near-duplicates, stories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from newsline.cli import app
from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Item, ItemHashtag, Story
from newsline.enrich.stage import RetagError, enrich_pending, retag
from tests.support.enrich_seed import T0, WIRE, report_item, seed_reports


@pytest.mark.postgres
def test_enrich_tags_summarizes_links_copies_and_clusters(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    ids = seed_reports(settings)
    report = enrich_pending(settings)
    assert report.enriched == 7
    with session_scope(settings.database_url) as session:
        items = {i.id: i for i in session.scalars(select(Item))}
        assert items[ids["pending"]].enriched_at is None
        for key, item_id in ids.items():
            item = items[item_id]
            if key == "pending":
                continue
            assert item.enriched_at is not None
            assert item.summary and len(item.summary) <= 280
            tags = session.scalars(
                select(ItemHashtag).where(ItemHashtag.item_id == item_id).order_by(ItemHashtag.rank)
            ).all()
            assert tags and tags[0].rank == 0 and tags[0].source == "auto"
        merger = [ItemHashtag.hashtag]
        primary_tag = session.scalar(
            select(*merger).where(ItemHashtag.item_id == ids["merger1"], ItemHashtag.rank == 0)
        )
        assert primary_tag == "economy"

        # The longer wire text is primary; the shorter copy points at it.
        assert items[ids["copy"]].near_duplicate_of_id == ids["wire"]
        assert items[ids["wire"]].near_duplicate_of_id is None

        flood = {items[ids[k]].story_id for k in ("flood0", "flood2", "flood4", "wire", "copy")}
        merger_ids = {items[ids[k]].story_id for k in ("merger1", "merger3")}
        assert len(flood) == 1 and len(merger_ids) == 1 and flood != merger_ids
        story = session.get(Story, flood.pop())
        assert story is not None
        assert story.item_count == 5
        assert story.publication_count == 4  # alpha, beta, gamma, wire
        assert story.first_seen_at == T0
        assert story.title in {
            items[ids[k]].title for k in ("flood0", "flood2", "flood4", "wire", "copy")
        }

    # Idempotent: nothing left to do, nothing changes.
    again = enrich_pending(settings)
    assert again.enriched == 0
    with session_scope(settings.database_url) as session:
        assert session.query(Story).count() == 2


def test_incremental_runs_join_existing_stories(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    ids = seed_reports(settings)
    first = enrich_pending(settings, limit=3)  # flood0, merger1, flood2
    assert first.enriched == 3
    second = enrich_pending(settings)
    assert second.enriched == 4
    with session_scope(settings.database_url) as session:
        story = {k: session.get(Item, ids[k]).story_id for k in ids if k != "pending"}  # type: ignore[union-attr]
    assert story["flood4"] == story["flood0"] == story["wire"]
    assert story["merger3"] == story["merger1"]


def test_editor_corrections_survive_rebuild_and_train(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    ids = seed_reports(settings)
    enrich_pending(settings)
    assert retag(settings, ids["flood0"], "#Outdoors") == "news"
    with pytest.raises(RetagError, match="not a hashtag"):
        retag(settings, ids["flood0"], "nosuchtag")
    with pytest.raises(RetagError, match="no item"):
        retag(settings, 999999, "outdoors")
    with pytest.raises(RetagError, match="no channel"):
        retag(settings, ids["flood0"], "outdoors", channel="elsewhere")

    report = enrich_pending(settings, rebuild=True)
    assert report.enriched == 7
    with session_scope(settings.database_url) as session:
        rows = session.scalars(
            select(ItemHashtag).where(ItemHashtag.item_id == ids["flood0"])
        ).all()
        assert [(r.hashtag, r.source) for r in rows] == [("outdoors", "editor")]
        assert session.query(Story).count() == 2


def test_channels_get_their_own_tags_and_the_smallest_summary(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        channels=[
            {"slug": "news", "display_name": "News"},
            {
                "slug": "biz",
                "display_name": "Biz",
                "publications": ["beta"],
                "summary_max_chars": 120,
                "hashtags": [
                    {"tag": "deals", "keywords": ["buy", "deal", "takeover", "offer"]},
                    {"tag": "other"},
                ],
            },
        ]
    )
    ids = seed_reports(settings)
    enrich_pending(settings)
    with session_scope(settings.database_url) as session:
        channels = {c.slug: c.id for c in sync_channels(session, settings).values()}
        merger = session.get(Item, ids["merger1"])  # a beta item: both channels carry it
        assert merger is not None and merger.summary and len(merger.summary) <= 120
        biz = session.scalars(
            select(ItemHashtag.hashtag).where(
                ItemHashtag.item_id == ids["merger1"], ItemHashtag.channel_id == channels["biz"]
            )
        ).all()
        assert biz == ["deals"]
        alpha = session.scalars(
            select(ItemHashtag.channel_id).where(ItemHashtag.item_id == ids["flood0"])
        ).all()
        assert set(alpha) == {channels["news"]}  # biz does not carry alpha


def test_cli_enrich_and_retag(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    ids = seed_reports(settings)
    config = tmp_path / "newsline.toml"
    config.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(config), "enrich"])
    assert result.exit_code == 0, result.output
    assert "enriched 7 items" in result.output
    result = runner.invoke(
        app, ["--config", str(config), "items", "retag", str(ids["merger1"]), "culture"]
    )
    assert result.exit_code == 0, result.output
    bad = runner.invoke(
        app, ["--config", str(config), "items", "retag", str(ids["merger1"]), "zzz"]
    )
    assert bad.exit_code == 1 and "not a hashtag of channel 'news'" in bad.output
    rebuilt = runner.invoke(app, ["--config", str(config), "enrich", "--rebuild"])
    assert rebuilt.exit_code == 0 and "enriched 7 items" in rebuilt.output
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(ItemHashtag.hashtag, ItemHashtag.source).where(
                ItemHashtag.item_id == ids["merger1"]
            )
        ).all()
    assert [tuple(r) for r in rows] == [("culture", "editor")]


def test_a_more_complete_copy_becomes_primary(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    ids = seed_reports(settings)
    enrich_pending(settings)
    with session_scope(settings.database_url) as session:
        wire = session.get(Item, ids["wire"])
        assert wire is not None
        fuller = report_item(
            wire.publication_id,
            "fuller",
            wire.title,
            WIRE + " Officials said the roads would reopen on Monday once crews had checked them.",
            T0 + timedelta(hours=9),
        )
        session.add(fuller)
        session.flush()
        fuller_id = fuller.id
    assert enrich_pending(settings).near_duplicates == 1
    with session_scope(settings.database_url) as session:
        links = {
            k: session.get(Item, i).near_duplicate_of_id  # type: ignore[union-attr]
            for k, i in (("wire", ids["wire"]), ("copy", ids["copy"]), ("fuller", fuller_id))
        }
        stories = {
            session.get(Item, i).story_id  # type: ignore[union-attr]
            for i in (ids["wire"], ids["copy"], fuller_id)
        }
    assert links == {"wire": fuller_id, "copy": fuller_id, "fuller": None}
    assert len(stories) == 1


def test_merged_stories_move_their_items(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import newsline.enrich.stage as stage
    from newsline.enrich.stories import StoryIndex

    # Joining is impossible, so every item starts its own story; the batch's merge step
    # must then bring each event's stories together and move the items in the database.
    monkeypatch.setattr(
        stage, "StoryIndex", functools.partial(StoryIndex, threshold=2.0, merge_bar=0.12)
    )
    settings = make_settings()
    ids = seed_reports(settings)
    report = enrich_pending(settings)
    assert report.stories_new == 6  # one per item, the copy joins its original's story
    assert report.stories_merged == 4
    with session_scope(settings.database_url) as session:
        story_of = {k: session.get(Item, i).story_id for k, i in ids.items()}  # type: ignore[union-attr]
        rows = {s.id: s for s in session.scalars(select(Story))}
    assert len(rows) == 2
    flood = story_of["flood0"]
    assert {story_of[k] for k in ("flood2", "flood4", "wire", "copy")} == {flood}
    assert story_of["merger1"] == story_of["merger3"] != flood
    assert rows[flood].item_count == 5 and rows[flood].publication_count == 4
    assert rows[story_of["merger1"]].item_count == 2


def test_warm_indexes_are_reused_until_the_database_moves(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsline.enrich.stage as stage

    warmed: list[int] = []
    real_warm = stage._Run.warm

    def counting_warm(self: stage._Run, since: datetime, pending: list[int]) -> None:
        warmed.append(len(pending))
        real_warm(self, since, pending)

    monkeypatch.setattr(stage._Run, "warm", counting_warm)
    settings = make_settings()
    ids = seed_reports(settings)
    enrich_pending(settings, limit=3)
    enrich_pending(settings, limit=2)  # same process, nothing else wrote: reuses the indexes
    assert len(warmed) == 1
    with session_scope(settings.database_url) as session:
        # Another writer (a second worker, a restore) changes the stories: warm again.
        session.execute(update(Item).values(story_id=None))
        session.execute(delete(Story))
    enrich_pending(settings)
    assert len(warmed) == 2
    with session_scope(settings.database_url) as session:
        story = {k: session.get(Item, i).story_id for k, i in ids.items() if k != "pending"}  # type: ignore[union-attr]
    assert story["wire"] == story["copy"]
    enrich_pending(settings, rebuild=True)
    assert len(warmed) == 3

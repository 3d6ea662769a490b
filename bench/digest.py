"""Digest composition cost against merely loading its window's items.

Usage:
  .venv/bin/python bench/digest.py [--items 2000] [--repeat 7] [--db PATH]

Builds a SQLite file (WAL, as in production) with ``--items`` enriched items first seen in
one half-hour window (a busy slot): 40 publications, every default hashtag, summaries, lead
images, ~3 KB bodies, about a fifth of the items in multi-source stories and some
near-duplicate copies, plus the 47 earlier digests of that day (memory: some of their
entries are stories of this window). Then it
times, on the same file and warm cache:

* load (reference): ``select(Item)`` of the window's items as ORM objects with their
  publication — what merely loading those items from the database costs;
* load, core columns: the same rows as plain tuples, every column (a faster reference);
* compose: ``run_digest(..., dry_run=True)`` — query, collapse near-duplicates and
  stories, apply memory, group by hashtag, rank, cap, overview, render HTML and text.

Each is the median of ``--repeat`` runs; peak memory is tracemalloc's peak of one run.
Target: compose <= 3x load. The synthetic text is our own (no publisher text).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from newsline.config import DEFAULT_HASHTAGS, Settings, load_settings
from newsline.db.channels import sync_channels
from newsline.db.engine import dispose_all, session_scope
from newsline.db.migrate import upgrade
from newsline.db.models import Digest, Item, ItemHashtag, Publication, Story
from newsline.publish.digest import run_digest

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)
WORDS = [
    "council",
    "budget",
    "river",
    "bridge",
    "school",
    "board",
    "vote",
    "storm",
    "harvest",
    "market",
    "rail",
    "port",
    "hospital",
    "court",
    "festival",
    "museum",
    "league",
    "bank",
    "drought",
    "senate",
    "treaty",
    "rocket",
    "vaccine",
    "ferry",
    "harbor",
    "library",
    "tariff",
    "union",
    "strike",
    "pier",
    "county",
    "mayor",
    "election",
    "airport",
    "wildfire",
    "flood",
]


def _sentence(rng: random.Random, words: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def build(url: str, settings: Settings, n_items: int, seed: int = 7) -> None:
    """Fill the database with the window's items and the day's earlier digests."""
    rng = random.Random(seed)
    tags = [t for t, _ in DEFAULT_HASHTAGS]
    with session_scope(url) as s:
        pubs = [Publication(tag=f"pub{i}", name=f"Publication {i}") for i in range(40)]
        s.add_all(pubs)
        s.flush()
        channel = sync_channels(s, settings)["news"]
        stories = [
            Story(key=f"s{i}", title="", item_count=k, publication_count=k)
            for i, k in enumerate(rng.choice((2, 2, 3, 4, 6)) for _ in range(n_items // 12))
        ]
        s.add_all(stories)
        s.flush()
        items: list[Item] = []
        for n in range(n_items):
            seen = SLOT - timedelta(seconds=rng.uniform(1, 30 * 60 - 1))
            body = " ".join(_sentence(rng) for _ in range(30))
            story = rng.choice(stories) if rng.random() < 0.2 else None
            item = Item(
                publication_id=pubs[n % len(pubs)].id,
                guid=f"g{n}",
                url=f"https://pub{n % 40}.example/a/{n}",
                state="ready",
                title=_sentence(rng, 9)[:-1],
                published_at=seen - timedelta(minutes=3),
                first_seen_at=seen,
                sort_at=seen - timedelta(minutes=3),
                image_url=f"https://pub{n % 40}.example/i/{n}.jpg" if n % 4 else None,
                teaser=_sentence(rng),
                summary=_sentence(rng) + "\n\n" + _sentence(rng),
                body_html=f"<p>{body}</p>",
                body_text=body,
                slug=f"a{n}",
                story_id=story.id if story else None,
                enriched_at=seen,
            )
            if items and rng.random() < 0.05:
                item.near_duplicate_of_id = None  # set after flush (needs an id)
                item.extra = {"copy_of": len(items) - 1 - rng.randrange(min(len(items), 50))}
            items.append(item)
        s.add_all(items)
        s.flush()
        for item in items:
            if "copy_of" in item.extra:
                item.near_duplicate_of_id = items[item.extra["copy_of"]].id
            s.add(
                ItemHashtag(
                    item_id=item.id, channel_id=channel.id, hashtag=rng.choice(tags), rank=0
                )
            )
        # The day's 47 earlier digests (memory), one per slot: 40 entries each, some of them
        # stories that are in this window too (those come back only with new sources).
        for k in range(1, 48):
            entries = []
            for j in range(40):
                story = stories[(k * 40 + j) % len(stories)] if j % 4 == 0 else None
                key = f"story:{story.id}" if story else f"item:{10_000_000 + k * 100 + j}"
                entries.append(
                    {
                        "key": key,
                        "hashtag": rng.choice(tags),
                        "item_id": 10_000_000 + k * 100 + j,
                        "sources": story.publication_count if story else 1,
                        "publication_ids": [pubs[j % 40].id],
                        "item_ids": [10_000_000 + k * 100 + j],
                        "latest": SLOT.isoformat(),
                    }
                )
            s.add(
                Digest(
                    channel_id=channel.id,
                    slot_at=SLOT - timedelta(minutes=30 * k),
                    window_start=SLOT - timedelta(minutes=30 * (k + 1)),
                    entries=entries,
                )
            )


def load_orm(url: str) -> int:
    """Reference: the window's items as ORM objects with their publications."""
    start = SLOT - timedelta(minutes=30)
    with session_scope(url) as s:
        rows = s.scalars(
            select(Item)
            .options(joinedload(Item.publication))
            .where(Item.state == "ready", Item.first_seen_at >= start, Item.first_seen_at < SLOT)
        ).all()
        return len(rows)


def load_core(url: str) -> int:
    """Faster reference: the same rows, every column, as plain tuples."""
    start = SLOT - timedelta(minutes=30)
    with session_scope(url) as s:
        rows = s.execute(
            select(Item.__table__).where(
                Item.state == "ready", Item.first_seen_at >= start, Item.first_seen_at < SLOT
            )
        ).all()
        return len(rows)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: temp)")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    db = args.db or folder / "digest.db"
    url = f"sqlite:///{db}"
    settings = load_settings(None, database_url=url, data_dir=str(folder))
    t0 = time.perf_counter()
    upgrade(url)
    build(url, settings, args.items)
    print(f"built {args.items} items + 47 earlier digests in {time.perf_counter() - t0:.1f} s")

    def compose() -> Any:
        return run_digest(settings, "news", at=SLOT, dry_run=True)

    # Warm-up (page cache, imports, statement caches) for all three.
    loaded = load_orm(url)
    load_core(url)
    result = compose()
    assert loaded == args.items, f"loaded {loaded} of {args.items}"
    assert result.considered == args.items and result.entries > 0

    t_orm, _ = timed(lambda: load_orm(url), args.repeat)
    t_core, _ = timed(lambda: load_core(url), args.repeat)
    t_comp, _ = timed(compose, args.repeat)
    m_orm, m_core, m_comp = peak(lambda: load_orm(url)), peak(lambda: load_core(url)), peak(compose)

    print(
        f"\nwindow: {result.considered} items -> {result.entries} entries "
        f"(collapsed, capped {settings.channels[0].digest.max_entries_per_group}/group, "
        f"{settings.channels[0].digest.max_entries} total); median of {args.repeat}\n"
    )
    rows = [
        ("load: ORM Item objects + publication (reference)", t_orm, m_orm, 1.0),
        ("load: core rows, all columns", t_core, m_core, t_core / t_orm),
        ("compose: run_digest(dry_run=True)", t_comp, m_comp, t_comp / t_orm),
    ]
    print(f"| {'step':<50} | {'seconds':>8} | {'peak MiB':>8} | {'x load':>6} |")
    print(f"| {'-' * 50} | {'-' * 8}: | {'-' * 8}: | {'-' * 6}: |")
    for name, t, m, ratio in rows:
        print(f"| {name:<50} | {t:8.3f} | {m / 2**20:8.1f} | {ratio:6.2f} |")
    print(f"\ncompose / core load = {t_comp / t_core:.2f}x")
    verdict = "meets" if t_comp <= 3 * t_orm else "MISSES"
    print(f"target compose <= 3x load: {verdict} ({t_comp / t_orm:.2f}x)")
    dispose_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

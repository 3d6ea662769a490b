"""Enrichment in parallel (issue 15): hashtags and summaries by several units at once, each
item's once; near-duplicates and stories in one ordered stream, as the single process makes
them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.pg import PG_URL, migrated_database

REDIS_URL = os.environ.get("NEWSLINE_TEST_REDIS_URL", "")

needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="NEWSLINE_TEST_REDIS_URL is not set (scripts/test starts redis-server)"
)


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, int]]:
    """Two PostgreSQL databases holding the same ready items, none enriched (the second a
    copy of the first, so ids match): their URLs and the number of ready items."""
    if not PG_URL:
        pytest.skip("parallel enrichment needs PostgreSQL: NEWSLINE_TEST_PG_URL is not set")
    import psycopg
    from sqlalchemy import func, select

    from newsline.config import load_settings
    from newsline.db.engine import dispose_all, session_scope
    from newsline.db.models import Item
    from newsline.ingest.publications import import_opml
    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus
    from newsline.workers.pipeline import run_pass

    corpus = write_scale_corpus(tmp_path / "corpus", hosts=12, feeds_per_host=4)
    with migrated_database("nl_enrich") as first:
        with replay_in_thread(corpus.directory) as server:
            for name, value in server.settings_env().items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("NEWSLINE_FETCH__MIN_HOST_DELAY", "0")
            settings = load_settings(None, database_url=first, data_dir=str(tmp_path))
            with session_scope(first) as session:
                import_opml(session, settings, corpus.opml.read_bytes())
            run_pass(settings, enrich=False, publish=False)
        with session_scope(first) as session:
            ready = int(session.scalar(select(func.count()).where(Item.state == "ready")) or 0)
        dispose_all()  # a template database must have no connections
        second = f"nl_enrich_copy_{uuid.uuid4().hex[:12]}"
        admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{second}" TEMPLATE "{first.rpartition("/")[2]}"')
        try:
            yield first, f"{PG_URL.rpartition('/')[0]}/{second}", ready
        finally:
            dispose_all()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{second}" WITH (FORCE)')


def _enrichment(url: str) -> list[tuple[Any, ...]]:
    """Per item: what enrichment wrote (summary, hashtags, near-duplicate, and its story as
    its first member's URL and its title: story keys are random)."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from newsline.db.engine import session_scope
    from newsline.db.models import Item, ItemHashtag, Story

    original = aliased(Item)
    with session_scope(url) as session:
        tags: dict[int, list[tuple[Any, ...]]] = {}
        for tag in session.execute(
            select(
                ItemHashtag.item_id, ItemHashtag.channel_id, ItemHashtag.hashtag, ItemHashtag.rank
            )
        ):
            tags.setdefault(tag[0], []).append(tuple(tag[1:]))
        rows = session.execute(
            select(Item.id, Item.url, Item.summary, original.url, Story.id, Story.title)
            .outerjoin(original, original.id == Item.near_duplicate_of_id)
            .outerjoin(Story, Story.id == Item.story_id)
            .where(Item.state == "ready")
            .order_by(Item.url)
        ).all()
    first: dict[int, str] = {}
    for row in rows:  # in URL order: the first seen is the story's first member
        if row[4] is not None:
            first.setdefault(row[4], row[1])
    return [
        (row[1], row[2], row[3], first.get(row[4]), row[5], sorted(tags.get(row[0], [])))
        for row in rows
    ]


FIELDS = ("url", "summary", "near-duplicate of", "story", "story title", "hashtags")


def _same(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Assert two databases' enrichment is the same, naming the items and fields that differ."""
    assert [row[0] for row in got] == [row[0] for row in expected]
    differ = [
        f"{mine[0]} {name}: {value!r:.120} != {theirs[n]!r:.120}"
        for mine, theirs in zip(got, expected, strict=True)
        for n, (name, value) in enumerate(zip(FIELDS, mine, strict=True))
        if value != theirs[n]
    ]
    assert not differ, "\n".join(differ)


def _unfinished(url: str) -> tuple[int, int]:
    """Ready items without tagged_at, and without enriched_at."""
    from sqlalchemy import func, select

    from newsline.db.engine import session_scope
    from newsline.db.models import Item

    with session_scope(url) as session:
        ready = select(func.count()).where(Item.state == "ready")
        return (
            int(session.scalar(ready.where(Item.tagged_at.is_(None))) or 0),
            int(session.scalar(ready.where(Item.enriched_at.is_(None))) or 0),
        )


def test_tagging_units_at_once_tag_every_item_once_and_stories_match_one_process(
    tmp_path: Path, seeded: tuple[str, str, int]
) -> None:
    """Four threads tag the pending set at once, a few items per call: each item is tagged
    by exactly one of them (the counts add up to the items), then the ordered stream places
    them as :func:`enrich_pending` alone does on a copy of the same items."""
    from newsline.config import load_settings
    from newsline.enrich.stage import enrich_pending, forget_warm_indexes, tag_pending

    reference, parallel, ready = seeded
    assert ready >= 40
    forget_warm_indexes()
    alone = enrich_pending(load_settings(None, database_url=reference, data_dir=str(tmp_path)))
    assert alone.enriched == ready

    settings = load_settings(None, database_url=parallel, data_dir=str(tmp_path))
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def tagger() -> None:
        try:
            start.wait(30)
            while True:
                done = tag_pending(settings, limit=3).enriched
                if not done:
                    return
                counts.append(done)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=tagger) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert sum(counts) == ready  # none tagged twice, none left out
    assert _unfinished(parallel) == (0, ready)
    forget_warm_indexes()
    placed = enrich_pending(settings)
    assert placed.enriched == ready
    assert placed.summaries == 0  # written by the tagging calls, not again
    assert _unfinished(parallel) == (0, 0)
    _same(_enrichment(parallel), _enrichment(reference))


@needs_redis
def test_two_worker_processes_enrich_as_one_process_does(
    tmp_path: Path, seeded: tuple[str, str, int]
) -> None:
    """Two worker processes run a pass's enrichment: its tagging units (several, at once)
    tag every item exactly once, the ordered batches place them all, and hashtags,
    summaries, near-duplicates and stories are those of the single-process run."""
    import redis

    from newsline.config import load_settings
    from newsline.enrich.stage import TAG_BATCH
    from newsline.workers.distributed import run_distributed_pass
    from newsline.workers.queue import Outcomes

    reference, parallel, ready = seeded
    assert ready > 2 * TAG_BATCH  # several tagging units
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLINE_")}
    env.update(
        NEWSLINE_CONFIG=str(tmp_path / "absent.toml"),
        NEWSLINE_DATA_DIR=str(tmp_path),
    )
    alone = subprocess.run(
        [sys.executable, "-m", "newsline.cli", "enrich"],
        env={**env, "NEWSLINE_DATABASE_URL": reference},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alone.returncode == 0, alone.stderr[-3000:]

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    env.update(NEWSLINE_DATABASE_URL=parallel, NEWSLINE_QUEUE_URL=REDIS_URL)
    log = (tmp_path / "workers.log").open("wb")
    workers = subprocess.Popen(
        [sys.executable, "-m", "newsline.cli", "worker", "--processes", "2", "--threads", "4"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        settings = load_settings(
            None, database_url=parallel, queue_url=REDIS_URL, data_dir=str(tmp_path)
        )
        report = run_distributed_pass(settings, publish=False)
    finally:
        workers.send_signal(signal.SIGTERM)
        try:
            workers.wait(60)
        except subprocess.TimeoutExpired:
            workers.kill()
            workers.wait(10)
    assert report.enriched == ready, (tmp_path / "workers.log").read_text()[-3000:]
    runs = [key.decode() for key in client.scan_iter("newsline:run:*:tag")]
    assert len(runs) == 1
    tagged = Outcomes(client).since(runs[0].split(":")[2], "tag", 0)
    assert len(tagged) == -(-ready // TAG_BATCH)
    assert sum(int(o.data["tagged"]) for o in tagged) == ready  # each item once
    assert _unfinished(parallel) == (0, 0)
    _same(_enrichment(parallel), _enrichment(reference))


@needs_redis
def test_the_scheduler_queues_tagging_units_beside_the_ordered_batch(
    tmp_path: Path, seeded: tuple[str, str, int]
) -> None:
    """A scheduler tick queues as many tagging units as the untagged items need (each under
    its slot's marker, so the next tick queues none again) and the enrichment batch; a
    worker running them all at once tags every item once, places them all, and gives the
    single run's result (the batch waits for a tagging unit holding some of its items)."""
    import dramatiq
    import redis

    from newsline.config import load_settings
    from newsline.enrich.stage import TAG_BATCH, enrich_pending, forget_warm_indexes
    from newsline.workers.actors import declare
    from newsline.workers.distributed import schedule_once
    from newsline.workers.queue import make_broker

    reference, parallel, ready = seeded
    forget_warm_indexes()
    enrich_pending(load_settings(None, database_url=reference, data_dir=str(tmp_path)))
    forget_warm_indexes()

    redis.Redis.from_url(REDIS_URL).flushdb()
    settings = load_settings(
        None, database_url=parallel, queue_url=REDIS_URL, data_dir=str(tmp_path)
    )
    broker = make_broker(settings)
    actors = declare(broker, settings)
    client = redis.Redis.from_url(REDIS_URL)
    first = schedule_once(settings, actors, client)
    again = schedule_once(settings, actors, client)
    assert (first.tagging, first.enrich) == (-(-ready // TAG_BATCH), True)
    assert (again.tagging, again.enrich) == (0, False)
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while _unfinished(parallel) != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        broker.join("newsline", timeout=60_000)
    finally:
        worker.stop()
        broker.close()
    assert _unfinished(parallel) == (0, 0)
    _same(_enrichment(parallel), _enrichment(reference))

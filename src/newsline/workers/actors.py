"""The units of distributed mode as Dramatiq actors: the pipeline's own stage functions,
called one unit at a time.

========================  =====================================  ===========================
actor                     calls                                  keyed by
========================  =====================================  ===========================
``refresh_feeds``         :func:`newsline.ingest.refresh.refresh_feed`   each feed id (advisory lock)
``finish_items``          :func:`newsline.ingest.refresh.finish_item`    each item id (advisory lock)
``tag_batch``             :func:`newsline.enrich.stage.tag_pending`      items (``SKIP LOCKED``)
``enrich_batch``          :func:`newsline.enrich.stage.enrich_pending`   the ``ingest`` lease
``publish_digest``        :func:`newsline.publish.digest.run_digest`     channel + slot (unique)
``send_mail``             :func:`newsline.publish.mailer.deliver_digests`  channel (claims)
``websub_due``            :func:`newsline.ingest.websub.run_due`         (idempotent)
========================  =====================================  ===========================

A pass and the scheduler send feeds (pages) up to 20 a message, a host's together and
several hosts' while they fit (:func:`host_batches`): one message handled, one round trip
for their locks, one read, one fetch-log write and one outcome write for all of them. A
feed (page) is sent in a message of its own when it is sent again (its lease was held, or
a waiting pass resends it); each is still reported, and recorded when it fails for good,
as the unit ``refresh_feed`` / ``finish_item`` under its id.

Every unit re-reads its row and does nothing when the work is already done (a feed no
longer due, an item no longer pending, a slot already published), so a message delivered
twice (a retry, a redelivery after a worker died, a pass and the scheduler both asking) does
the work once. Fetching and extraction run on the worker process's event loop with one
:class:`~newsline.ingest.fetch.Fetcher` per process whose politeness is shared through Redis
(:class:`~newsline.ingest.politeness.RedisPoliteness`); parsing and extraction run on the
loop's own thread (a process is one of N for N cores; see ``refresh.off_loop``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Middleware
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from newsline.config import Settings
from newsline.db.channels import effective_settings
from newsline.db.lease import LeaseHeld, lease
from newsline.db.models import Feed, Item, utcnow
from newsline.enrich.stage import TAG_BATCH, EnrichReport, enrich_pending, tag_pending
from newsline.ingest import websub
from newsline.ingest.fetch import Fetcher
from newsline.ingest.politeness import RedisPoliteness
from newsline.ingest.refresh import (
    Bookkeeping,
    DueFeed,
    FeedOutcome,
    PendingItem,
    finish_item,
    refresh_feed,
)
from newsline.publish.digest import DigestResult, run_digest
from newsline.publish.mailer import DeliveryReport, deliver_digests
from newsline.workers.queue import (
    LOCK_FEED,
    LOCK_ITEM,
    PREFIX,
    QUEUE,
    Outcomes,
    UnitBusy,
    unit_locks,
)

log = logging.getLogger(__name__)

#: Items one enrichment unit takes at most (the next unit takes the rest).
ENRICH_BATCH = 1000
#: How long the enrichment lease is held at most (a worker killed mid-batch frees it then,
#: or at once on the same host).
ENRICH_LEASE = timedelta(minutes=15)
#: Retry policy (milliseconds): a unit that raised is tried again with exponential back-off.
RETRIES = {"max_retries": 6, "min_backoff": 1_000, "max_backoff": 60_000}
#: Feed and item units record their own failures and raise only when their lease is held
#: elsewhere (or the database is away): they come back many times.
BUSY_RETRIES = {"max_retries": 40, "min_backoff": 2_000, "max_backoff": 30_000}


def queued_key(kind: str, key: object) -> str:
    """The scheduler's "already in the queue" marker of one unit (see distributed.py)."""
    return f"{PREFIX}:queued:{kind}:{key}"


#: Held by a process's tagging and enrichment units while they work: CPU-bound Python, of
#: which a process runs one at a time (its GIL runs one anyway). Its threads running several
#: at once contended for it, each item costing more CPU (docs/benchmarks.md, wave 8).
_MODEL_WORK = threading.Lock()

#: Feeds or pages one message carries at most (see host_batches).
UNITS_PER_MESSAGE = 20
#: A unit of a batch whose lease was held elsewhere is sent again on its own this much later.
BUSY_DELAY_MS = 2_000
#: How long a message of several units may run (Dramatiq's default is 10 minutes): a host's
#: requests are spaced by up to 30 s (a robots.txt Crawl-delay) and each may take up to
#: fetch.total_timeout, so 20 of them can take longer than 10 minutes.
BATCH_TIME_LIMIT_MS = 3_600_000

#: Feed URLs the process's bookkeeping remembers at most (to name feeds in the fetch log).
BOOK_FEEDS = 10_000

#: What a feed unit reads of its feed (one feed, or a message's several), on its lock's
#: connection.
DUE_FEED = select(
    Feed.id,
    Feed.url,
    Feed.etag,
    Feed.last_modified,
    Feed.interval_seconds,
    Feed.next_fetch_at,
)


class _Process:
    """What a worker process keeps between units: the fetcher, its politeness, and the
    bookkeeping of its HTTP attempts (the fetch log), written by each unit as it ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._fetcher: Fetcher | None = None
        self._politeness: RedisPoliteness | None = None
        self.book = Bookkeeping(settings)

    def flush(self, conn: Connection) -> None:
        """Write the HTTP attempts and 304s collected so far, on a unit's connection."""
        try:
            self.book.flush(connection=conn)
        except SQLAlchemyError:
            # Bookkeeping (see Bookkeeping): dropped, so that it cannot fail every unit.
            log.exception("could not write the fetch log; %d rows dropped", len(self.book.attempts))
            self.book.attempts.clear()
            self.book.unchanged.clear()
        if len(self.book.feed_ids) > BOOK_FEEDS:
            self.book.feed_ids.clear()

    async def fetcher(self) -> Fetcher:
        """The process's fetcher, made on first use inside the worker's event loop."""
        if self._fetcher is None:
            self._politeness = RedisPoliteness(self.settings.queue_url)
            fetcher = Fetcher(
                self.settings.fetch, politeness=self._politeness, on_attempt=self.book.attempt
            )
            await fetcher.__aenter__()
            self._fetcher = fetcher
        return self._fetcher

    async def close(self) -> None:
        """Close the fetcher and Redis connections (worker shutdown)."""
        if self._fetcher is not None:
            await self._fetcher.__aexit__(None, None, None)
            self._fetcher = None
        if self._politeness is not None:
            await self._politeness.close()
            self._politeness = None


@dataclass
class Actors:
    """The declared actors of one broker, and what their processes share."""

    broker: RedisBroker
    refresh_feeds: dramatiq.Actor[..., Any]
    finish_items: dramatiq.Actor[..., Any]
    tag_batch: dramatiq.Actor[..., Any]
    enrich_batch: dramatiq.Actor[..., Any]
    publish_digest: dramatiq.Actor[..., Any]
    send_mail: dramatiq.Actor[..., Any]
    websub_due: dramatiq.Actor[..., Any]
    process: _Process


def declare(broker: RedisBroker, settings: Settings) -> Actors:
    """Declare newsline's actors on `broker`, working on `settings`' database."""
    db = settings.database_url
    outcomes = Outcomes(broker.client)
    process = _Process(settings)
    # After AsyncIO in the list: "after" hooks run in reverse, so ours runs first.
    broker.add_middleware(_CloseProcess(process), after=AsyncIO)

    def done(kind: str, key: object) -> None:
        broker.client.delete(queued_key(kind, key))

    async def refresh_feeds_unit(
        feed_ids: list[int], *, run: str = "", force: bool = False
    ) -> None:
        # Several feeds (a host's together) in one message: one message handled, one round
        # trip to lock them all, one to read them, one fetch-log write and one outcome
        # write, where one message a feed paid each of those per feed. Politeness is per
        # host. A message of one feed is the feed sent again on its own (see _again).
        with unit_locks(db, LOCK_FEED, feed_ids) as (conn, held):
            _wait_alone(LOCK_FEED, feed_ids, held)
            rows = {row.id: row for row in conn.execute(DUE_FEED.where(Feed.id.in_(held)))}
            now = utcnow()
            results: dict[int, FeedOutcome] = {}
            todo: list[DueFeed] = []
            for feed_id in held:
                feed = rows.get(feed_id)
                if feed is None:
                    results[feed_id] = FeedOutcome(f"feed {feed_id}", "unchanged")
                elif force or feed.next_fetch_at is None or feed.next_fetch_at <= now:
                    todo.append(
                        DueFeed(
                            feed.id, feed.url, feed.etag, feed.last_modified, feed.interval_seconds
                        )
                    )
                else:  # refreshed meanwhile by another message
                    results[feed_id] = FeedOutcome(feed.url, "unchanged")
            if todo:
                fetcher = await process.fetcher()
                done = await asyncio.gather(
                    *(
                        refresh_feed(settings, fetcher, unit, process.book, pool=None)
                        for unit in todo
                    )
                )
                results.update((unit.id, outcome) for unit, outcome in zip(todo, done, strict=True))
                process.flush(conn)
        outcomes.put_many(
            run,
            "feeds",
            [(str(k), asdict(v)) for k, v in results.items()],
            done=[queued_key("feed", k) for k in results],
        )
        _again(actors.refresh_feeds, feed_ids, held, run=run, force=force)

    async def finish_items_unit(item_ids: list[int], *, run: str = "") -> None:
        # Several pages (a host's together) in one message, as refresh_feeds_unit.
        with unit_locks(db, LOCK_ITEM, item_ids) as (conn, held):
            _wait_alone(LOCK_ITEM, item_ids, held)
            rows = {
                row.id: row
                for row in conn.execute(
                    select(Item.id, Item.state, Item.link, Item.url, Item.content_source).where(
                        Item.id.in_(held)
                    )
                )
            }
            results: dict[int, dict[str, Any]] = {}
            todo: list[PendingItem] = []
            for item_id in held:
                row = rows.get(item_id)
                if row is None:
                    results[item_id] = {"url": f"item {item_id}", "state": "missing"}
                    results[item_id]["from_page"] = False
                elif row.state != "pending":  # finished meanwhile by another message
                    results[item_id] = {"url": row.link or row.url, "state": row.state}
                    results[item_id]["from_page"] = row.content_source == "page"
                else:
                    todo.append(PendingItem(item_id, row.link or row.url))
            if todo:
                fetcher = await process.fetcher()
                done = await asyncio.gather(
                    *(finish_item(settings, fetcher, item, pool=None) for item in todo)
                )
                results.update((item.id, asdict(o)) for item, o in zip(todo, done, strict=True))
                process.flush(conn)
        outcomes.put_many(
            run,
            "items",
            [(str(k), v) for k, v in results.items()],
            done=[queued_key("item", k) for k in results],
        )
        _again(actors.finish_items, item_ids, held, run=run)

    def tag_batch_unit(*, run: str = "", seq: int = 0, slot: int = -1) -> None:
        # Any unit takes any untagged items (claimed in the database), so a pass sends as
        # many as it needs and a lost one costs nothing: enrich_batch tags what is left.
        with _MODEL_WORK:
            report = tag_pending(effective_settings(settings), limit=TAG_BATCH)
        outcomes.put(
            run,
            "tag",
            str(seq),
            {"tagged": report.enriched},
            done=queued_key("tag", slot) if slot >= 0 else None,
        )

    def enrich_batch_unit(*, run: str = "", seq: int = 0) -> None:
        with _MODEL_WORK:
            report = enrich_unit(settings)
        outcomes.put(run, "enrich", str(seq), {"enriched": report.enriched})
        done("enrich", "batch")

    def publish_digest_unit(channel: str, slot: str, *, run: str = "") -> None:
        result = digest_unit(settings, channel, slot)
        data = asdict(result)
        data.pop("composed", None)
        outcomes.put(run, "digests", f"{channel}@{slot}", _jsonable(data))

    def send_mail_unit(channel: str, *, run: str = "") -> None:
        report = mail_unit(settings, channel)
        outcomes.put(run, "mail", channel, asdict(report))
        done("mail", channel)

    def websub_due_unit(*, run: str = "") -> None:
        report = websub.run_due(settings)
        outcomes.put(run, "websub", "all", asdict(report))
        done("websub", "all")

    def make(fn: Any, name: str, priority: int, **options: Any) -> dramatiq.Actor[..., Any]:
        decorate = dramatiq.actor(
            actor_name=name,
            queue_name=QUEUE,
            priority=priority,  # lower runs first: finish what was started
            broker=broker,
            **options,
        )
        return decorate(fn)

    actors = Actors(
        broker=broker,
        refresh_feeds=make(
            refresh_feeds_unit, "refresh_feeds", 20, time_limit=BATCH_TIME_LIMIT_MS, **BUSY_RETRIES
        ),
        finish_items=make(
            finish_items_unit, "finish_items", 10, time_limit=BATCH_TIME_LIMIT_MS, **BUSY_RETRIES
        ),
        tag_batch=make(tag_batch_unit, "tag_batch", 25, **RETRIES),
        enrich_batch=make(enrich_batch_unit, "enrich_batch", 30, **BUSY_RETRIES),
        publish_digest=make(publish_digest_unit, "publish_digest", 0, **RETRIES),
        send_mail=make(send_mail_unit, "send_mail", 0, **RETRIES),
        websub_due=make(websub_due_unit, "websub_due", 40, **RETRIES),
        process=process,
    )
    return actors


def _wait_alone(kind: int, keys: list[int], held: list[int]) -> None:
    """A message of one unit whose lease another worker holds waits for it: UnitBusy,
    retried with back-off (it reports once it has run, or as failed after its last retry)."""
    if len(keys) == 1 and not held:
        raise UnitBusy(f"unit {kind:x}:{keys[0]} is being worked on by another worker")


def _again(
    actor: dramatiq.Actor[..., Any], keys: list[int], held: list[int], **kwargs: Any
) -> None:
    """Send a message of its own for each unit of several whose lease another worker held:
    it waits for the lease there (see _wait_alone) and reports then."""
    if len(keys) == 1:
        return
    taken = set(held)
    for key in keys:
        if key not in taken:
            actor.send_with_options(args=([key],), kwargs=kwargs, delay=BUSY_DELAY_MS)


def host_batches(
    units: Sequence[tuple[int, str]], size: int = UNITS_PER_MESSAGE
) -> list[list[int]]:
    """The messages of :func:`refresh_feeds` / :func:`finish_items`: at most `size` ids
    each, a host's ids together (its politeness stays within one process), and several
    hosts' in one message while they fit, in the order first seen.

    A message of one host is as long as that host's requests spaced by its delay, whatever
    the worker's CPU; several hosts in it run side by side on the worker's event loop
    (as the single-process runner runs every host at once), and its handling, locks, row
    read, fetch-log write and outcome write are shared by more units."""
    by_host: dict[str, list[int]] = {}
    for key, url in units:
        by_host.setdefault((urlsplit(url).hostname or "").lower(), []).append(key)
    messages: list[list[int]] = []
    for ids in by_host.values():
        for n in range(0, len(ids), size):
            part = ids[n : n + size]
            if messages and len(messages[-1]) + len(part) <= size:
                messages[-1].extend(part)
            else:
                messages.append(part)
    return messages


# -- the units' work, without the queue (a pass of run_pass does the same, in one process) ---
# Each applies the console's channel settings as they are now, through the same function as
# :func:`newsline.workers.pipeline.run_pass`: a hashtag list, schedule or name saved in the
# console reaches the workers at their next unit, not at their restart.


def enrich_unit(settings: Settings) -> EnrichReport:
    """One enrichment batch under the ``ingest`` lease (:class:`UnitBusy` while it is held)."""
    try:
        with lease(settings.database_url, "ingest", ENRICH_LEASE):
            return enrich_pending(effective_settings(settings), limit=ENRICH_BATCH)
    except LeaseHeld as exc:
        raise UnitBusy(str(exc)) from exc


def digest_unit(settings: Settings, channel: str, slot: str) -> DigestResult:
    """Publish `channel`'s Digest of the slot starting at `slot` (ISO 8601), once."""
    return run_digest(effective_settings(settings), channel, at=datetime.fromisoformat(slot))


def mail_unit(settings: Settings, channel: str) -> DeliveryReport:
    """Send `channel`'s newest Digest to the subscribers who have not had it."""
    return deliver_digests(effective_settings(settings), channel)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


class _CloseProcess(Middleware):
    """Closes the worker process's fetcher on its event loop, once the units are done and
    before the loop stops."""

    def __init__(self, process: _Process) -> None:
        self.process = process

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        try:
            if thread is not None:
                thread.run_coroutine(self.process.close())
            else:
                asyncio.run(self.process.close())
        except Exception:
            log.exception("closing the worker's fetcher failed")

"""Distributed mode's three roles: a pass that waits for its units, the scheduler, workers.

- :func:`run_distributed_pass` (``newsline fetch --once`` with ``queue_url`` set): the same
  stages as :func:`newsline.workers.pipeline.run_pass`, each enqueued unit by unit and
  waited for, then the same :class:`~newsline.workers.pipeline.PassReport`. Units that
  report nothing for ``stall_seconds`` (their message lost with a killed worker), and all
  those not yet reported when Redis restarted (its queue lost), are enqueued again: units
  are idempotent, so nothing is done twice, and nothing is lost.
- :func:`run_scheduler` (``newsline scheduler``): every tick, enqueue the due feeds, the
  pending items, enrichment, due digest slots, mail and WebSub upkeep. Exactly one
  scheduler is active: it holds the ``scheduler`` lease, renewed each tick; a standby takes
  it over when the holder dies (at once on the same host, else when the lease expires).
- :func:`run_workers` (``newsline worker``): N processes of M threads consuming units.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import redis
from sqlalchemy import exists, select

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import dispose_all, session_scope, size_pool
from newsline.db.lease import acquire, release
from newsline.db.models import Item
from newsline.enrich.stage import TAG_BATCH, untagged
from newsline.ingest import store
from newsline.ingest.refresh import FeedOutcome, ItemOutcome, due_feeds, pending_items
from newsline.publish import websub_ping
from newsline.publish.digest import DigestResult, due_slots
from newsline.publish.mailer import DeliveryReport
from newsline.workers.actors import ENRICH_BATCH, Actors, declare, host_batches, queued_key
from newsline.workers.pipeline import PassReport, warm_up
from newsline.workers.progress import LogReporter, Reporter
from newsline.workers.queue import (
    WORKER_BEAT,
    DistributedModeError,
    Outcome,
    Outcomes,
    live_workers,
    make_broker,
    redis_client,
    renew_lease,
    worker_alive,
)

log = logging.getLogger(__name__)

#: A pass enqueues again the units that reported nothing for this long.
STALL_SECONDS = 30.0
#: How long a waiting pass waits for a unit's report before it looks around (a Redis
#: restart, a stall, no worker alive); a report wakes it at once.
POLL_SECONDS = 0.2
#: A pass gives up, saying so, when no worker process has been alive for this long.
NO_WORKER_SECONDS = 60.0
#: The scheduler's lease: renewed every tick, lost (and taken over) when not renewed.
SCHEDULER_LEASE = "scheduler"
SCHEDULER_TTL = timedelta(seconds=30)
#: How long the scheduler considers a unit it enqueued still queued (then enqueues it again).
QUEUED_TTL = 600
#: Tagging units (hashtags, summaries) the scheduler keeps queued at most.
TAG_SLOTS = 16


class Waiter:
    """Sends a stage's units and collects their outcomes, resending what goes missing."""

    def __init__(
        self,
        client: redis.Redis,
        run: str,
        stage: str,
        reporter: Reporter,
        *,
        stall_seconds: float,
        label: str | None = None,
    ) -> None:
        self.client = client
        self.label = label or stage  # the reporter's name for the stage
        self.outcomes = Outcomes(client)
        self.run = run
        self.stage = stage
        self.reporter = reporter
        self.stall = stall_seconds

    def wait(
        self,
        units: dict[str, Callable[[], Any]],
        groups: list[tuple[list[str], Callable[[], Any]]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Send every unit (key -> send function); return their outcomes, by key.

        `groups` (keys, send function) send several units in one message at first; what
        is sent again (after a Redis restart, or a stall) goes one unit a message."""
        got: dict[str, dict[str, Any]] = {}
        unsent = set(units)
        first = list(groups or [])
        offset = 0
        server: str | None = None
        progress = last_worker = time.monotonic()
        self.reporter.stage(self.label, len(units))
        while len(got) < len(units):
            try:
                identity = str(self.client.info("server").get("run_id"))
                if server is not None and identity != server:
                    # Redis restarted: its queue is gone. Send again what is not done.
                    log.warning("the queue's Redis restarted; enqueueing %s again", self.stage)
                    unsent |= set(units) - set(got)
                    offset = 0
                server = identity
                while first:
                    keys, send = first[0]
                    if unsent.issuperset(keys):
                        send()
                        unsent.difference_update(keys)
                    first.pop(0)
                for key in sorted(unsent):
                    units[key]()
                    unsent.discard(key)
                new = self.outcomes.since(self.run, self.stage, offset)
                if live_workers(self.client):
                    last_worker = time.monotonic()
            except redis.RedisError as exc:
                if time.monotonic() - last_worker > NO_WORKER_SECONDS:
                    raise DistributedModeError(
                        f"the queue (queue_url) has been unreachable for "
                        f"{NO_WORKER_SECONDS:.0f} s: {exc}"
                    ) from exc
                log.warning("the queue is unreachable (%s); waiting", exc)
                time.sleep(1.0)
                continue
            offset += len(new)
            for outcome in new:
                if outcome.key in units and outcome.key not in got:
                    got[outcome.key] = outcome.data
                    self.reporter.advance(self.label, _message(outcome))
                    progress = time.monotonic()
            if time.monotonic() - last_worker > NO_WORKER_SECONDS:
                raise DistributedModeError(
                    f"no worker has been running for {NO_WORKER_SECONDS:.0f} s "
                    f"({len(units) - len(got)} {self.label} units waiting): start "
                    "`newsline worker` with the same queue_url and database_url"
                )
            if len(got) < len(units) and time.monotonic() - progress > self.stall:
                missing = set(units) - set(got)
                log.warning(
                    "%s: %d units reported nothing for %.0fs; enqueueing them again",
                    self.stage,
                    len(missing),
                    self.stall,
                )
                unsent |= missing
                progress = time.monotonic()
            if len(got) < len(units):
                try:
                    self.outcomes.wait_for_new(self.run, self.stage, POLL_SECONDS)
                except redis.RedisError:
                    time.sleep(POLL_SECONDS)
        with contextlib.suppress(redis.RedisError):  # else it expires
            self.client.delete(Outcomes.signal_key(self.run, self.stage))
        return got


def _message(outcome: Outcome) -> str | None:
    data = outcome.data
    if "gave_up" in data:
        return f"{outcome.key}: {data['gave_up']}"
    if data.get("error"):
        return f"{data.get('url', outcome.key)}: {data['error']}"
    return None


def run_distributed_pass(
    settings: Settings,
    *,
    publication: str | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    enrich: bool = True,
    publish: bool = True,
    now: datetime | None = None,
    stall_seconds: float = STALL_SECONDS,
) -> PassReport:
    """One pass, done by the workers: enqueue each stage's units, wait for them, report."""
    reporter = reporter or LogReporter()
    broker = make_broker(settings)
    actors = declare(broker, settings)
    client = redis_client(settings)
    run = uuid.uuid4().hex
    report = PassReport()
    started = datetime.now(UTC)

    def waiter(stage: str, label: str | None = None) -> Waiter:
        return Waiter(client, run, stage, reporter, stall_seconds=stall_seconds, label=label)

    with session_scope(settings.database_url) as session:
        sync_channels(session, settings)
        store.prune_fetch_log(session)
        feeds = due_feeds(session, publication=publication, force=force)
    sends = {str(f.id): _sender(actors.refresh_feeds, [f.id], run=run, force=force) for f in feeds}
    groups = [
        ([str(k) for k in ids], _sender(actors.refresh_feeds, ids, run=run, force=force))
        for ids in host_batches([(f.id, f.url) for f in feeds])
    ]
    for key, data in waiter("feeds").wait(sends, groups).items():
        if "gave_up" in data:
            report.count_feed(FeedOutcome(key, "failed", error=data["gave_up"]))
        else:
            report.count_feed(FeedOutcome(**data))

    with session_scope(settings.database_url) as session:
        pending = pending_items(session, publication=publication)
    sends = {str(i.id): _sender(actors.finish_items, [i.id], run=run) for i in pending}
    groups = [
        ([str(k) for k in ids], _sender(actors.finish_items, ids, run=run))
        for ids in host_batches([(i.id, i.url) for i in pending])
    ]
    for key, data in waiter("items", "pages").wait(sends, groups).items():
        if "gave_up" in data:
            report.count_item(ItemOutcome(key, "pending", from_page=False, error=data["gave_up"]))
        else:
            report.count_item(ItemOutcome(**data))

    done = waiter("websub").wait({"all": _sender(actors.websub_due, run=run)})["all"]
    report.websub_requests += int(done.get("subscribed", 0)) + int(done.get("unsubscribed", 0))
    report.errors.extend(done.get("errors", []))

    if enrich:
        # Hashtags and summaries first, by as many units at once as there are free threads
        # (each claims its own items); then the ordered rest, one batch after another.
        with session_scope(settings.database_url) as session:
            waiting = untagged(session)
        count = -(-waiting // TAG_BATCH)
        sends = {str(n): _sender(actors.tag_batch, run=run, seq=n) for n in range(count)}
        tagged = waiter("tag", "tagging").wait(sends)
        for key, data in sorted(tagged.items()):
            if "gave_up" in data:  # its items are tagged by enrich_batch below
                log.warning("tagging unit %s gave up: %s", key, data["gave_up"])
        seq = 0
        while True:
            data = waiter("enrich").wait({str(seq): _sender(actors.enrich_batch, run=run, seq=seq)})
            enriched = int(data[str(seq)].get("enriched", 0))
            report.enriched += enriched
            if "gave_up" in data[str(seq)]:
                report.errors.append(f"enrichment: {data[str(seq)]['gave_up']}")
            if enriched < ENRICH_BATCH:
                break
            seq += 1

    if publish:
        moment = now or datetime.now(UTC)
        sends = {}
        for slug, slot in due_slots(settings, moment):
            key = f"{slug}@{slot.isoformat()}"
            sends[key] = _sender(actors.publish_digest, slug, slot.isoformat(), run=run)
        for key, data in waiter("digests").wait(sends).items():
            if "gave_up" in data:
                report.errors.append(f"digest {key}: {data['gave_up']}")
                continue
            data["slot_at"] = datetime.fromisoformat(data["slot_at"])
            if data.get("window_start"):
                data["window_start"] = datetime.fromisoformat(data["window_start"])
            report.digests.append(DigestResult(**data))
        if settings.email.enabled:
            sends = {c.slug: _sender(actors.send_mail, c.slug, run=run) for c in settings.channels}
            for key, data in waiter("mail").wait(sends).items():
                if "gave_up" in data:
                    report.errors.append(f"mail {key}: {data['gave_up']}")
                else:
                    report.mail.append(DeliveryReport(**data))
    report.errors.extend(websub_ping.ping_changed(settings, since=started))
    client.close()
    broker.close()
    return report


def _sender(actor: dramatiq.Actor[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """A function sending one message of `actor` (called again to resend it)."""
    return lambda: actor.send_with_options(args=args, kwargs=kwargs)


# -- the scheduler --------------------------------------------------------------------------


@dataclass
class Tick:
    """What one scheduler tick enqueued."""

    feeds: int = 0
    items: int = 0
    enrich: bool = False
    tagging: int = 0
    digests: int = 0
    mail: int = 0


def schedule_once(
    settings: Settings, actors: Actors, client: redis.Redis, now: datetime | None = None
) -> Tick:
    """Enqueue every unit that is due and not already queued."""
    now = now or datetime.now(UTC)
    tick = Tick()

    def claim(kind: str, key: object, ttl: int = QUEUED_TTL) -> bool:
        return bool(client.set(queued_key(kind, key), 1, nx=True, ex=ttl))

    def claim_many(kind: str, keys: list[int]) -> list[int]:
        """The keys not already queued (now marked queued): one round trip per batch."""
        claimed: list[int] = []
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            pipe = client.pipeline(transaction=False)
            for key in batch:
                pipe.set(queued_key(kind, key), 1, nx=True, ex=QUEUED_TTL)
            claimed.extend(k for k, ok in zip(batch, pipe.execute(), strict=True) if ok)
        return claimed

    with session_scope(settings.database_url) as session:
        feeds = due_feeds(session)
        items = pending_items(session)
        unenriched = bool(
            session.scalar(
                select(exists().where(Item.state == "ready", Item.enriched_at.is_(None)))
            )
        )
        waiting = untagged(session) if unenriched else 0
    # Several feeds (pages) a message, a host's together; each keeps its own "queued" marker.
    claimed = set(claim_many("feed", [f.id for f in feeds]))
    for ids in host_batches([(f.id, f.url) for f in feeds if f.id in claimed]):
        actors.refresh_feeds.send(ids)
        tick.feeds += len(ids)
    claimed = set(claim_many("item", [i.id for i in items]))
    for ids in host_batches([(i.id, i.url) for i in items if i.id in claimed]):
        actors.finish_items.send(ids)
        tick.items += len(ids)
    # Tagging units (run before enrich_batch: a higher priority), each under a slot's
    # marker so that at most TAG_SLOTS are queued at once.
    for tag_slot in range(min(-(-waiting // TAG_BATCH), TAG_SLOTS)):
        if claim("tag", tag_slot, ttl=QUEUED_TTL):
            actors.tag_batch.send(slot=tag_slot)
            tick.tagging += 1
    if unenriched and claim("enrich", "batch"):
        actors.enrich_batch.send()
        tick.enrich = True
    for slug, slot in due_slots(settings, now):
        if claim("digest", f"{slug}@{slot.isoformat()}", ttl=86_400):
            actors.publish_digest.send(slug, slot.isoformat())
            tick.digests += 1
    for cfg in settings.channels:
        if settings.email.enabled and claim("mail", cfg.slug, ttl=60):
            actors.send_mail.send(cfg.slug)
            tick.mail += 1
    if claim("websub", "all", ttl=max(60, settings.scheduler.fetch_every_seconds)):
        actors.websub_due.send()
    if claim("prune", "fetch-log", ttl=3600):
        with session_scope(settings.database_url) as session:
            store.prune_fetch_log(session)
    return tick


def run_scheduler(
    settings: Settings,
    *,
    tick_seconds: float = 5.0,
    stop: threading.Event | None = None,
) -> None:
    """Schedule units until `stop` is set (or SIGTERM/SIGINT), while holding the lease."""
    stop = stop or _stop_on_signals()
    broker = make_broker(settings)
    actors = declare(broker, settings)
    client = redis_client(settings)
    with session_scope(settings.database_url) as session:
        sync_channels(session, settings)
    db = settings.database_url
    holder: str | None = None
    log.info("scheduler %d started; waiting for the %r lease", os.getpid(), SCHEDULER_LEASE)
    try:
        while not stop.is_set():
            try:
                if holder is None:
                    holder = acquire(db, SCHEDULER_LEASE, SCHEDULER_TTL)
                    if holder is not None:
                        log.info("scheduler %d is the active scheduler (%s)", os.getpid(), holder)
                elif not renew_lease(db, SCHEDULER_LEASE, holder, SCHEDULER_TTL):
                    log.warning("scheduler %d lost the lease; standing by", os.getpid())
                    holder = None
                if holder is not None:
                    done = schedule_once(settings, actors, client)
                    if done.feeds or done.items or done.digests:
                        log.info(
                            "enqueued %d feeds, %d items, %d digests",
                            done.feeds,
                            done.items,
                            done.digests,
                        )
            except Exception:  # the database or Redis is away: try again next tick
                log.exception("scheduler tick failed")
            stop.wait(tick_seconds)
    finally:
        if holder is not None:
            try:
                release(db, SCHEDULER_LEASE, holder)
            except Exception:
                log.exception("could not release the scheduler lease")
        client.close()
        broker.close()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


# -- workers --------------------------------------------------------------------------------


def pool_size_for(threads: int) -> int:
    """PostgreSQL connections one worker process needs: per thread, its unit's lease
    connection and a session, plus the event loop's."""
    return 2 * threads + 2


def serve_worker(settings: Settings, threads: int, stop: threading.Event | None = None) -> None:
    """One worker process: consume units with `threads` threads until stopped."""
    stop = stop or _stop_on_signals()
    dispose_all()  # nothing inherited: this process's own pool, sized for its threads
    size_pool(pool_size_for(threads))
    warm_up(settings)  # before the first unit: its first units do not pay for it
    broker = make_broker(settings)
    declare(broker, settings)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=500)
    # No backlog beyond the threads (Dramatiq's default holds twice as many): a message
    # carries up to 20 feeds or pages (see actors.host_batches), and one that waits in a
    # busy process is one another process, idle at the end of a pass, cannot take.
    worker.queue_prefetch = threads
    worker.start()
    log.info("worker %d: %d threads on %s", os.getpid(), threads, "the newsline queue")
    client = redis_client(settings)
    name = f"{socket.gethostname()}:{os.getpid()}"
    try:
        while not stop.is_set():
            try:
                worker_alive(client, name)
            except redis.RedisError as exc:
                log.warning("worker %d: the queue is unreachable (%s)", os.getpid(), exc)
            stop.wait(WORKER_BEAT)
    finally:
        client.close()
        log.info("worker %d stopping", os.getpid())
        worker.stop(timeout=30_000)
        broker.close()


def _child(settings: Settings, threads: int, level: int) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    serve_worker(settings, threads)


def run_workers(settings: Settings, *, processes: int = 1, threads: int = 8) -> None:
    """``newsline worker``: `processes` worker processes; one that dies is started again."""
    if processes <= 1:
        serve_worker(settings, threads)
        return
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    stop = _stop_on_signals()

    def start() -> multiprocessing.process.BaseProcess:
        child = context.Process(
            target=_child, args=(settings, threads, level), name="newsline-worker"
        )
        child.start()
        return child

    children = [start() for _ in range(processes)]
    log.info("started %d worker processes: %s", processes, [c.pid for c in children])
    try:
        while not stop.is_set():
            for n, child in enumerate(children):
                if not child.is_alive() and not stop.is_set():
                    log.error(
                        "worker process %d ended (exit code %s); starting another",
                        child.pid,
                        child.exitcode,
                    )
                    children[n] = start()
            stop.wait(1.0)
    finally:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join(40)
            if child.is_alive():
                child.kill()

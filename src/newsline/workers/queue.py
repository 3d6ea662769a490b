"""Distributed mode's plumbing: the Dramatiq broker on Redis, unit locks, outcomes, dead letters.

Distributed mode is on when ``queue_url`` is set (docs/scaling.md). The database stays the
source of truth: a message says only *which* feed, item, batch or slot to work on; the unit
re-reads its row and does nothing when another worker already did the work. A lost message
(a Redis restart, a worker killed with its prefetched messages) is therefore harmless: the
scheduler's next tick, or the waiting ``newsline fetch --once``, enqueues it again.

- :func:`make_broker`: the Redis broker, its retry policy and our middleware.
- :func:`unit_locks`: per-feed / per-item leases, PostgreSQL advisory locks held on their own
  connection for the units' duration, so two workers never refresh one feed at once; they
  die with the connection, so a worker killed with ``kill -9`` holds nothing.
- :class:`Outcomes`: units report what they did to the pass that enqueued them (a Redis
  list per pass and stage), for the report ``newsline fetch`` prints.
- :class:`DeadLetters`: a unit that failed its last retry is recorded where the operator
  looks: a feed's or an item's own error in the database (``newsline publications list``
  shows the feed's), every such unit — digest slots (``channel@slot``), a channel's mail,
  enrichment batches too — in a bounded list that ``newsline dead-letters`` prints, an ERROR
  log line, and the pass that enqueued it hears of it under the key it waits for. Digest
  slots, enrichment and mail are still done eventually: their state is in the database (a
  slot without its digest, items not enriched, subscribers not mailed), which the
  scheduler's next tick turns into messages again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dramatiq
import redis
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import Retry
from dramatiq.middleware import AsyncIO, Middleware, Retries
from sqlalchemy import Connection, text, update

from newsline.config import Settings
from newsline.db.engine import engine_for, session_scope
from newsline.db.models import Lease, utcnow
from newsline.errors import NewslineError
from newsline.ingest import store

log = logging.getLogger(__name__)

#: The one queue every unit goes through (priorities order them, see actors.py).
QUEUE = "newsline"
#: Redis key prefix of everything newsline keeps there (Dramatiq's own keys included).
PREFIX = "newsline"
#: A worker that has not been heard of for this long is dead: its messages go back.
HEARTBEAT_TIMEOUT_MS = 15_000
#: Out of a million Redis commands, how many also run the broker's maintenance (which
#: gives a dead worker's messages back): often enough that a kill is noticed in seconds.
MAINTENANCE_CHANCE = 50_000
#: How long a pass's outcomes stay in Redis.
OUTCOME_TTL = 86_400
#: The units that failed for good, newest first, kept for ``newsline dead-letters``.
DEAD_LETTERS = f"{PREFIX}:dead-letters"
DEAD_LETTERS_KEPT = 10_000
#: Advisory lock classes (the first key of ``pg_try_advisory_lock``): one per kind of unit.
LOCK_FEED = 0x4E4C0001
LOCK_ITEM = 0x4E4C0002


class DistributedModeError(NewslineError):
    """Distributed mode is misconfigured or its queue cannot be reached."""


class UnitBusy(Retry):
    """Another worker holds this unit's lease right now: retried later (with back-off, and
    without a traceback in the log: it is not a failure)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def require_distributed(settings: Settings) -> None:
    """Raise :class:`DistributedModeError` unless distributed mode can run on `settings`."""
    if not settings.queue_url:
        raise DistributedModeError(
            "distributed mode needs queue_url (redis://HOST:PORT/DB) in the config "
            "or NEWSLINE_QUEUE_URL"
        )
    if settings.database_url.startswith("sqlite"):
        raise DistributedModeError(
            "distributed mode needs a PostgreSQL database_url, not SQLite "
            "(postgresql+psycopg://USER@HOST/DB)"
        )


#: How long an idle worker waits at most before it looks for messages again (milliseconds):
#: the first message of a pass's stage waits for it (Dramatiq's default of up to the worker
#: timeout, 0.25-0.5 s, was paid at the start of every stage).
IDLE_POLL_MS = 100


class _PromptConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, taking the next message as soon as a thread is free.

    Dramatiq's consumer, with as many messages out as it may prefetch (every thread busy),
    sleeps an exponential back-off, up to its timeout, before it looks again: a thread that
    finished its message sat idle for that long (0.12-0.16 s a message, median, in
    bench/scale.py's 1-worker run) while messages waited in Redis. This one waits for a
    message to be acknowledged instead, and an idle one polls the queue at most
    IDLE_POLL_MS apart. It leans on the Redis consumer's own attributes (``message_cache``,
    ``outstanding_message_count``, Dramatiq 2.x); tests/integration/test_distributed_units.py
    checks it against the installed Dramatiq."""

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, min(timeout, IDLE_POLL_MS))
        self._freed = threading.Event()

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)
        finally:
            self._freed.set()

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)
        finally:
            self._freed.set()

    def __next__(self) -> MessageProxy | None:
        if not self.message_cache and self.outstanding_message_count >= self.prefetch:
            # Every thread is busy: wait for one to finish its message (or the timeout,
            # for the worker to look at its delayed messages and whether it is stopping).
            self._freed.clear()
            if self.outstanding_message_count >= self.prefetch:
                self._freed.wait(self.timeout / 1000)
            return None
        return super().__next__()


class _Broker(RedisBroker):
    """Dramatiq's Redis broker with :class:`_PromptConsumer` on the work queue (the delay
    queue keeps Dramatiq's own: its messages wait seconds anyway)."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if queue_name == QUEUE:
            return _PromptConsumer(self, queue_name, prefetch, timeout)
        return super().consume(queue_name, prefetch, timeout)


def make_broker(settings: Settings, *, middleware: list[Middleware] | None = None) -> RedisBroker:
    """The Redis broker of `settings.queue_url`, with our retry policy and dead letters."""
    require_distributed(settings)
    broker = _Broker(
        url=settings.queue_url,
        namespace=PREFIX,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    broker.add_middleware(AsyncIO())
    # Before Retries in the list: "after" hooks run in reverse, so Retries has decided
    # (message.failed) by the time DeadLetters looks.
    broker.add_middleware(DeadLetters(settings), before=Retries)
    for extra in middleware or []:
        broker.add_middleware(extra)
    return broker


def redis_client(settings: Settings) -> redis.Redis:
    """A plain Redis client on the queue's server (outcomes, scheduler bookkeeping)."""
    return redis.Redis.from_url(settings.queue_url, socket_timeout=10, socket_connect_timeout=5)


# -- which workers are alive ---------------------------------------------------------------

#: Sorted set of live worker processes (host:pid -> last seen, epoch seconds).
WORKERS = f"{PREFIX}:workers"
#: A worker process says it is alive this often; silent for WORKER_TTL, it is gone.
WORKER_BEAT = 5.0
WORKER_TTL = 30.0


def worker_alive(client: redis.Redis, name: str) -> None:
    """Record that worker process `name` is alive now."""
    now = time.time()
    pipe = client.pipeline()
    pipe.zadd(WORKERS, {name: now})
    pipe.zremrangebyscore(WORKERS, 0, now - WORKER_TTL)
    pipe.execute()


def live_workers(client: redis.Redis) -> int:
    """How many worker processes were heard of within WORKER_TTL."""
    return int(client.zcount(WORKERS, time.time() - WORKER_TTL, "+inf"))


# -- unit leases ----------------------------------------------------------------------------


@contextmanager
def unit_locks(url: str, kind: int, keys: list[int]) -> Iterator[tuple[Connection, list[int]]]:
    """Hold the leases of units of one kind (feeds, items) for the block: yields a
    connection and the keys whose lease it got (another worker holds the rest).

    A PostgreSQL session advisory lock per unit, all taken in one round trip and released
    in one, on a connection of its own: released at the end, or by the server when the
    worker dies (``kill -9`` leaves nothing held). The connection is in autocommit (never
    idle in a transaction while the units fetch) and is yielded: the units read their rows
    on it rather than checking out a second connection (each checkout is pinged)."""
    engine = engine_for(url)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    held: list[int] = []
    try:
        held = list(
            conn.scalars(
                text(
                    "SELECT k FROM unnest(CAST(:keys AS integer[])) AS k "
                    "WHERE pg_try_advisory_lock(:kind, k)"
                ),
                {"keys": keys, "kind": kind},
            )
        )
        yield conn, held
    finally:
        try:
            if held:
                conn.execute(
                    text(
                        "SELECT pg_advisory_unlock(:kind, k) "
                        "FROM unnest(CAST(:keys AS integer[])) AS k"
                    ),
                    {"keys": held, "kind": kind},
                )
        except Exception:  # a broken connection: closing it releases the locks
            log.warning(
                "could not release %d unit locks of %x; dropping the connection", len(held), kind
            )
            conn.invalidate()
        conn.close()


# -- the scheduler's lease ------------------------------------------------------------------


def renew_lease(url: str, name: str, holder: str, ttl: timedelta) -> bool:
    """Extend a lease we hold; False when we no longer hold it (it expired and was taken)."""
    with session_scope(url) as session:
        done = session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=utcnow() + ttl)
        )
        return bool(getattr(done, "rowcount", 0) == 1)


# -- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one unit did, for the pass that enqueued it."""

    key: str
    data: dict[str, Any]


class Outcomes:
    """Units report here; the pass waiting for them reads what is new."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def key(run: str, stage: str) -> str:
        return f"{PREFIX}:run:{run}:{stage}"

    @staticmethod
    def signal_key(run: str, stage: str) -> str:
        """A list a unit pushes to as it reports, which the waiting pass blocks on."""
        return f"{PREFIX}:run:{run}:{stage}:new"

    def wait_for_new(self, run: str, stage: str, seconds: float) -> None:
        """Return when a unit has reported since the last call, or after `seconds`."""
        self.client.blpop([self.signal_key(run, stage)], timeout=seconds)

    def put(
        self, run: str, stage: str, key: str, data: dict[str, Any], *, done: str | None = None
    ) -> None:
        """Record a unit's outcome (nothing when no pass waits: the scheduler's units), and
        delete the key `done` (the unit's "queued" marker) in the same round trip."""
        pipe = self.client.pipeline(transaction=False)
        if run:
            self._push(pipe, run, stage, [json.dumps({"key": key, "data": data})])
        if done:
            pipe.delete(done)
        if len(pipe):
            pipe.execute()

    def put_many(
        self, run: str, stage: str, outcomes: list[tuple[str, dict[str, Any]]], done: list[str]
    ) -> None:
        """Record several units' outcomes and delete their "queued" markers, in one round
        trip (a message of several units, see actors.py)."""
        pipe = self.client.pipeline(transaction=False)
        if run and outcomes:
            self._push(pipe, run, stage, [json.dumps({"key": k, "data": d}) for k, d in outcomes])
        if done:
            pipe.delete(*done)
        if len(pipe):
            pipe.execute()

    def _push(self, pipe: Any, run: str, stage: str, values: list[str]) -> None:
        name, signal = self.key(run, stage), self.signal_key(run, stage)
        pipe.rpush(name, *values)
        pipe.expire(name, OUTCOME_TTL)
        pipe.rpush(signal, 1)  # wakes the waiting pass now, not at its next poll
        pipe.expire(signal, OUTCOME_TTL)

    def since(self, run: str, stage: str, offset: int) -> list[Outcome]:
        """The outcomes recorded after the first `offset`."""
        raw = self.client.lrange(self.key(run, stage), offset, -1)
        out = []
        for value in raw:
            item = json.loads(value)
            out.append(Outcome(str(item["key"]), item["data"]))
        return out


# -- dead letters ---------------------------------------------------------------------------


def record_dead_letter(client: redis.Redis, unit: str, key: str, error: str) -> None:
    """Add a unit that failed its last retry to the list ``newsline dead-letters`` shows."""
    entry = {"at": utcnow().isoformat(timespec="seconds"), "unit": unit, "key": key, "error": error}
    pipe = client.pipeline()
    pipe.lpush(DEAD_LETTERS, json.dumps(entry))
    pipe.ltrim(DEAD_LETTERS, 0, DEAD_LETTERS_KEPT - 1)
    pipe.execute()


def dead_letters(client: redis.Redis, limit: int = 100) -> list[dict[str, str]]:
    """The newest units that failed for good."""
    raw = client.lrange(DEAD_LETTERS, 0, limit - 1)
    return [json.loads(v) for v in raw]


class DeadLetters(Middleware):
    """After a unit's last retry: its failure goes in the database and to its pass."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed:
            return
        error = store.one_line(exception, 1000) or type(exception).__name__
        attempts = int(message.options.get("retries", 0))
        line = f"gave up after {attempts} attempts: {error}"
        log.error("%s%s: %s", message.actor_name, message.args, line)
        run = str(message.kwargs.get("run", ""))
        # A message of several feeds or pages fails as each of them (see BATCH_OF).
        for unit, args in members(message.actor_name, tuple(message.args)):
            key = unit_key(unit, args, dict(message.kwargs))
            try:
                fail_unit(self.settings, unit, args, line)
            except Exception:
                log.exception("could not record the failure of %s%s", unit, args)
            try:
                record_dead_letter(broker.client, unit, key, line)  # type: ignore[attr-defined]
            except redis.RedisError:
                log.exception("could not add %s%s to the dead letters", unit, args)
            stage = STAGE_OF.get(unit)
            if run and stage:
                try:
                    Outcomes(broker.client).put(run, stage, key, {"gave_up": line})  # type: ignore[attr-defined]
                except redis.RedisError:
                    log.warning("could not tell pass %s that %s%s failed", run, unit, args)


#: Actors whose message carries one or more units (a list of ids, its first argument) ->
#: the name each of those units is reported and recorded under (``refresh_feed 12``).
BATCH_OF = {"refresh_feeds": "refresh_feed", "finish_items": "finish_item"}


def members(actor: str, args: tuple[Any, ...]) -> list[tuple[str, tuple[Any, ...]]]:
    """The units of one message, each as (its unit's name, its arguments)."""
    single = BATCH_OF.get(actor)
    if single is None:
        return [(actor, args)]
    return [(single, (int(key),)) for key in (args[0] if args else [])]


def unit_key(unit: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The key a unit reports its outcome under (the waiting pass expects exactly that key:
    a digest slot is ``channel@slot``, an enrichment batch its number in the pass)."""
    if unit == "publish_digest" and len(args) >= 2:
        return f"{args[0]}@{args[1]}"
    if unit in ("enrich_batch", "tag_batch"):
        return str(kwargs.get("seq", 0))
    if unit == "websub_due":
        return "all"
    return str(args[0]) if args else ""


#: The pass stage each unit reports to.
STAGE_OF = {
    "refresh_feed": "feeds",
    "finish_item": "items",
    "tag_batch": "tag",
    "enrich_batch": "enrich",
    "publish_digest": "digests",
    "send_mail": "mail",
    "websub_due": "websub",
}


def fail_unit(settings: Settings, unit: str, args: tuple[Any, ...], line: str) -> None:
    """Where the operator already looks: the feed's error, the item's."""
    if unit == "refresh_feed" and args:
        with session_scope(settings.database_url) as session:
            store.record_feed_failure(session, int(args[0]), UnitGaveUp(line), None, settings.fetch)
    elif unit == "finish_item" and args:
        with session_scope(settings.database_url) as session:
            store.record_item_failure(session, int(args[0]), line)


class UnitGaveUp(NewslineError):
    """A unit failed its last retry (the message says why)."""

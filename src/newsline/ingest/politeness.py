"""Per-host politeness the fetcher obeys: concurrency, spacing, Retry-After, robots.txt cache.

:class:`~newsline.ingest.fetch.Fetcher` asks a :class:`Politeness` for a *turn* on a host
before every request. Two implementations keep the same promises:

- :class:`LocalPoliteness` (the default): one process's memory, as a single ``newsline
  fetch`` or ``newsline serve`` needs;
- :class:`RedisPoliteness`: shared through Redis by every worker process on every machine
  of a distributed install, so N workers are exactly as polite to a host as one process.
  A turn is granted by one Lua script (atomic in Redis, timed by Redis's own clock): at
  most ``concurrency`` turns held per host, none before a ``Retry-After`` the host asked
  for, and starts at least ``delay`` seconds apart *as the host sees them*: the next turn
  is granted only ``delay`` after the previous one reported its request's headers sent
  (:meth:`Turn.started`, called by the fetcher once they are on the wire), so however late
  a busy process sends after its grant, the host never sees two requests closer than
  ``delay``. A held turn carries an expiry, so a worker killed mid-request frees its turn
  after ``turn_ttl`` seconds rather than never (and a grant never reported started frees
  the host after ``start_ttl``).

The robots.txt cache is shared too: what one process learnt about a site's robots.txt
the others read instead of fetching it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: How long a granted turn stays held at most (a worker killed mid-request frees it then).
DEFAULT_TURN_TTL = 180.0
#: How long a granted turn may take to send its request before the host is free again.
DEFAULT_START_TTL = 30.0
#: How long a waiting fetcher sleeps at most between asking Redis for a turn again.
MAX_POLL = 0.25
#: How long a fetcher waits before asking again when Redis cannot be reached.
REDIS_RETRY = 0.5


@dataclass(frozen=True)
class RobotsRecord:
    """What a site's robots.txt said: its text, or that everything is (dis)allowed."""

    text: str | None  # None: no robots.txt to parse
    disallow_all: bool = False


class Turn(Protocol):
    """One granted turn on a host, held for one request."""

    async def started(self) -> None:
        """The request's headers are sent (the next turn's delay counts from now)."""
        ...


class _LocalTurn:
    async def started(self) -> None:
        return None  # one process: spacing is counted from the grant, as it always was


class Politeness(Protocol):
    """Per-host limits and the robots.txt cache, shared by whoever shares the instance."""

    def turn(
        self, host: str, *, concurrency: int, delay: float
    ) -> AbstractAsyncContextManager[Turn]:
        """Wait for, then hold, a turn to send one request to `host`."""
        ...

    async def hold_off(self, host: str, seconds: float) -> None:
        """No turn on `host` for `seconds` (its ``Retry-After``) for the other processes
        sharing this politeness; the fetcher that was told sleeps itself."""
        ...

    async def robots_get(self, origin: str) -> RobotsRecord | None:
        """The cached robots.txt of `origin`, if still fresh."""
        ...

    async def robots_put(self, origin: str, record: RobotsRecord, ttl: float) -> None:
        """Cache the robots.txt of `origin` for `ttl` seconds."""
        ...


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    next_start: float = 0.0


class LocalPoliteness:
    """Politeness within one process (one event loop)."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._sleep = sleep
        self._gates: dict[str, _Gate] = {}
        self._robots: dict[str, tuple[RobotsRecord, float]] = {}

    def _gate(self, host: str, concurrency: int) -> _Gate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _Gate(asyncio.Semaphore(max(1, concurrency)))
        return gate

    @asynccontextmanager
    async def turn(self, host: str, *, concurrency: int, delay: float) -> AsyncIterator[Turn]:
        gate = self._gate(host, concurrency)
        async with gate.semaphore:
            now = time.monotonic()
            start = max(now, gate.next_start)
            gate.next_start = start + max(delay, 0.0)
            if start > now:
                await self._sleep(start - now)
            yield _LocalTurn()

    async def hold_off(self, host: str, seconds: float) -> None:
        # Within one process the fetcher that was told to wait sleeps itself, and the
        # others keep their spacing, as newsline has always done.
        return None

    async def robots_get(self, origin: str) -> RobotsRecord | None:
        cached = self._robots.get(origin)
        if cached is None or cached[1] < time.monotonic():
            return None
        return cached[0]

    async def robots_put(self, origin: str, record: RobotsRecord, ttl: float) -> None:
        self._robots[origin] = (record, time.monotonic() + ttl)


# KEYS[1] turns held (sorted set: token -> expiry ms), KEYS[2] next start allowed (ms),
# KEYS[3] when this Redis's politeness state began (ms), KEYS[4] the host's Retry-After hold
# (a key of its own, expiring with it: a grant's placeholder or a start report in KEYS[2]
# must not shorten it).
# ARGV: token, concurrency, start ttl ms, turn ttl ms, delay ms. Returns 0 when granted, else
# ms to wait (while a grant awaits its start report, the delay: the soonest the next start can
# be). A grant holds the host until the turn reports its start (_STARTED), at most start ttl. A Redis restarted without persistence has forgotten every host's next start and
# every grant still on its way out (a worker's event loop may take a while to send it): no
# host gets a turn sooner than start ttl (at least its delay) after the state began again,
# the bound a grant holds a host for, so whatever was granted before the restart has left
# and is followed by the delay.
_TAKE_TURN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local began = tonumber(redis.call('GET', KEYS[3]) or '0')
if began == 0 then
  redis.call('SET', KEYS[3], now)
  began = now
end
local guard = math.max(tonumber(ARGV[3]), tonumber(ARGV[5]))
if now < began + guard then
  return began + guard - now
end
local held = redis.call('PTTL', KEYS[4])
if held > 0 then
  return held
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.min(250, tonumber(first[2]) - now))
end
if nxt > now then
  if redis.call('EXISTS', KEYS[2] .. ':pending') == 1 then
    -- A grant has not reported its start yet: the next start is at least the delay after
    -- that report, which Redis has not had, so no sooner than now + delay (not the
    -- placeholder's start ttl, which made a waiter sleep its longest poll each time).
    return math.max(1, math.min(nxt - now, math.max(5, tonumber(ARGV[5]))))
  end
  return nxt - now
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) + 1000)
redis.call('SET', KEYS[2], now + tonumber(ARGV[3]), 'PX', tonumber(ARGV[3]) + 1000)
redis.call('SET', KEYS[2] .. ':pending', ARGV[1], 'PX', tonumber(ARGV[3]) + 1000)
return 0
"""

# KEYS[1] next start allowed (ms); ARGV[1] delay ms, ARGV[2] the turn's token: the next start
# no sooner than now + delay. Only the grant awaiting its start (KEYS[1]:pending) replaces
# the placeholder its grant set; any other report (a turn reporting again, or late) only
# pushes the next start later, never brings a pending grant's hold forward.
_STARTED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = now + tonumber(ARGV[1])
local pending = KEYS[1] .. ':pending'
if redis.call('GET', pending) == ARGV[2] then
  redis.call('SET', KEYS[1], want, 'PX', tonumber(ARGV[1]) + 1000)
  redis.call('DEL', pending)
elseif want > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], want, 'PX', tonumber(ARGV[1]) + 1000)
end
return 0
"""

# KEYS[1] the host's Retry-After hold; ARGV[1] how long to hold off (ms), unless it is
# already held longer.
_HOLD_OFF = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PX', tonumber(ARGV[1]))
end
return 0
"""


class _RedisTurn:
    """A turn granted by Redis; :meth:`started` sets when the next one may start."""

    def __init__(
        self, script: Any, key: str, delay_ms: int, token: str, local: asyncio.Future[float]
    ) -> None:
        self._script = script
        self._token = token
        self._key = key
        self._delay_ms = delay_ms
        self._local = local
        self.reported = False

    async def started(self) -> None:
        # Each call stamps again: a request aiohttp sends a second time within the turn (it
        # retries a GET once on a keep-alive connection the server closed) counts from then.
        self.reported = True
        try:
            await self._script(keys=[self._key], args=[self._delay_ms, self._token])
        except RedisError as exc:
            # The request goes on; the host stays held until the grant's start expiry (or
            # Redis, restarting, forgets it): more polite, never less.
            log.warning("politeness: could not report a request started (%s)", exc)
        if not self._local.done():
            # Taken once Redis has stamped the start: this process's next turn on the host,
            # asking `delay` after this, finds the delay over in Redis too.
            self._local.set_result(time.monotonic())


@dataclass
class _HostChain:
    """This process's requests to one host: at most `concurrency` ask Redis at once, and
    each asks only once the previous one has reported its start and the delay has passed."""

    gate: asyncio.Semaphore
    users: int = 0
    #: Resolves to when this process's latest turn on the host reported its start
    #: (monotonic), or to the one before it when it never got a turn.
    last: asyncio.Future[float] | None = None


def _raise_if_cancelled() -> None:
    """Raise the cancellation a Redis command swallowed. redis-py can lose a cancellation
    that arrives during a command (the command then returns as if none had come), so a
    turn whose fetch was cancelled went on polling, and took the host when granted: up to
    a pending grant's start ttl later (30 s), for a request nobody waits for."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class RedisPoliteness:
    """Politeness shared through Redis (``redis.asyncio``) by every process that uses it.

    Create it inside the event loop that will use it (the client binds to that loop).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "newsline:polite",
        turn_ttl: float = DEFAULT_TURN_TTL,
        start_ttl: float = DEFAULT_START_TTL,
        client: Any = None,
    ) -> None:
        import redis.asyncio as aioredis

        self.client = client or aioredis.Redis.from_url(url)
        self.prefix = prefix
        self.turn_ttl = turn_ttl
        self.start_ttl = start_ttl
        self._take = self.client.register_script(_TAKE_TURN)
        self._started = self.client.register_script(_STARTED)
        self._hold = self.client.register_script(_HOLD_OFF)
        #: host -> this process's requests to it: see turn().
        self._local: dict[str, _HostChain] = {}

    def _keys(self, host: str) -> list[str]:
        return [f"{self.prefix}:turns:{host}", f"{self.prefix}:next:{host}"]

    def _hold_key(self, host: str) -> str:
        return f"{self.prefix}:hold:{host}"

    @asynccontextmanager
    async def turn(self, host: str, *, concurrency: int, delay: float) -> AsyncIterator[Turn]:
        # Within this process at most `concurrency` requests to a host ask Redis at once; the
        # rest wait here without asking (a message of 20 feeds of one host polled Redis 20
        # times where 2 suffice). And a request asks only once this process's previous one
        # has reported its start and the delay has passed since: asked earlier, Redis could
        # only say "not yet" (a round trip each time, on an event loop that other units keep
        # busy, so each came back late). Never less polite: Redis still decides.
        chain = self._local.get(host) or self._local.setdefault(
            host, _HostChain(asyncio.Semaphore(max(1, concurrency)))
        )
        chain.users += 1
        try:
            async with chain.gate:
                previous = chain.last
                mine: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                chain.last = mine
                since = 0.0
                try:
                    since = await self._previous_start(previous)
                    wait = since + max(delay, 0.0) - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    async with self._turn(
                        host, concurrency=concurrency, delay=delay, local=mine
                    ) as turn:
                        yield turn
                finally:
                    if not mine.done():  # no turn granted: the next one waits for ours
                        mine.set_result(since)
        finally:
            chain.users -= 1
            if not chain.users:
                self._local.pop(host, None)

    async def _previous_start(self, previous: asyncio.Future[float] | None) -> float:
        """When this process's previous turn on the host reported its start (0: none)."""
        if previous is None:
            return 0.0
        if previous.done():  # the usual case: no task and timer for wait_for
            return previous.result()
        try:
            return await asyncio.wait_for(asyncio.shield(previous), self.start_ttl)
        except TimeoutError:  # Redis holds the host for it no longer than that either
            return 0.0

    @asynccontextmanager
    async def _turn(
        self, host: str, *, concurrency: int, delay: float, local: asyncio.Future[float]
    ) -> AsyncIterator[Turn]:
        token = uuid.uuid4().hex
        keys = self._keys(host)
        args: list[int | str] = [
            token,
            max(1, concurrency),
            int(self.start_ttl * 1000),
            int(self.turn_ttl * 1000),
            int(max(delay, 0.0) * 1000),
        ]
        while True:
            try:
                wait = int(
                    await self._take(
                        keys=[*keys, f"{self.prefix}:began", self._hold_key(host)], args=args
                    )
                )
            except RedisError as exc:
                _raise_if_cancelled()  # a command cut short by a cancellation it swallowed
                # Redis is away (restarting): no turn without it, so wait rather than fail
                # the fetch. Its state starts afresh when it is back (see docs/scaling.md).
                log.warning("politeness: Redis unavailable (%s); waiting for it", exc)
                await asyncio.sleep(REDIS_RETRY)
                continue
            if wait <= 0:
                break
            _raise_if_cancelled()
            await asyncio.sleep(min(wait / 1000, MAX_POLL))
        turn = _RedisTurn(self._started, keys[1], int(max(delay, 0.0) * 1000), token, local)
        try:
            _raise_if_cancelled()  # granted to a task cancelled meanwhile: given back below
            yield turn
        finally:
            try:
                if not turn.reported:  # failed before sending: the host is free after delay
                    await asyncio.shield(turn.started())
                # Shielded: a cancelled request must still give its turn back (or it expires).
                await asyncio.shield(self.client.zrem(keys[0], token))
            except RedisError:
                log.warning("politeness: could not give back a turn on %s; it expires", host)

    async def hold_off(self, host: str, seconds: float) -> None:
        try:
            await self._hold(keys=[self._hold_key(host)], args=[max(1, int(seconds * 1000))])
        except RedisError as exc:  # the fetcher that was told still waits itself
            log.warning("politeness: could not share a Retry-After of %s (%s)", host, exc)

    async def robots_get(self, origin: str) -> RobotsRecord | None:
        try:
            raw = await self.client.get(f"{self.prefix}:robots:{origin}")
        except RedisError as exc:  # fetched again: a cache miss, not a failure
            log.warning("politeness: robots.txt cache unavailable (%s)", exc)
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return RobotsRecord(data.get("text"), bool(data.get("disallow_all")))

    async def robots_put(self, origin: str, record: RobotsRecord, ttl: float) -> None:
        value = json.dumps({"text": record.text, "disallow_all": record.disallow_all})
        try:
            await self.client.set(
                f"{self.prefix}:robots:{origin}", value, px=max(1, int(ttl * 1000))
            )
        except RedisError as exc:
            log.warning("politeness: robots.txt cache unavailable (%s)", exc)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.client.aclose()

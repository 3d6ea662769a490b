"""Politeness shared through Redis: per-host limits hold across processes (server-counted)."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from newsline.testing.replay import ARRIVAL_RESOLUTION

REDIS_URL = os.environ.get("NEWSLINE_TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="NEWSLINE_TEST_REDIS_URL is not set (scripts/test starts redis-server)"
)
PER_HOST = 2
HOST_DELAY = 0.2
#: Every answer takes this long, longer than HOST_DELAY: requests to a host overlap at the
#: server unless the per-host concurrency limit holds them back.
LATENCY = 0.4
#: A host of the corpus the measured hosts' counters leave out.
WARM_UP = "http://news002.example/articles/00-report.html"


def _fresh_redis_long_up() -> None:
    """An empty Redis whose politeness state began long ago: no restart guard (a Redis
    whose state has just begun grants no turn for start_ttl, docs/scaling.md)."""
    import redis

    from newsline.ingest.politeness import DEFAULT_START_TTL

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    seconds, micros = client.time()
    began = seconds * 1000 + micros // 1000 - int(DEFAULT_START_TTL * 1000) - 1000
    client.set("newsline:polite:began", began)
    client.close()


def _fetch_many(
    urls: list[str], fetch_settings: dict[str, Any], redis_url: str | None, ready: Any
) -> None:
    """A process fetching `urls` concurrently, polite through Redis (or on its own)."""
    from newsline.config import FetchSettings
    from newsline.ingest.fetch import Fetcher
    from newsline.ingest.politeness import RedisPoliteness

    async def main() -> None:
        politeness = RedisPoliteness(redis_url) if redis_url else None
        async with Fetcher(FetchSettings(**fetch_settings), politeness=politeness) as fetcher:
            # A first request elsewhere warms the process up (its first request is slower
            # to leave than the rest, which would blur the spacing the server sees).
            await fetcher.get(WARM_UP, kind="page")
            await asyncio.to_thread(ready.wait, 120)  # all processes start together
            await asyncio.gather(*(fetcher.get(u, kind="page") for u in urls))
        if politeness is not None:
            await politeness.close()

    asyncio.run(main())


def _processes(server: Any, redis_url: str | None, count: int) -> None:
    """`count` processes at once, each fetching the same ten pages on two hosts."""
    settings = {
        **server.fetch_settings(),
        "per_host_concurrency": PER_HOST,
        "min_host_delay": HOST_DELAY,
        "retries": 0,
    }
    urls = [
        f"http://news{h:03d}.example/articles/{p:02d}-report.html"
        for h in range(2)
        for p in range(5)
    ]
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(count)
    procs = [
        context.Process(target=_fetch_many, args=(urls, settings, redis_url, ready))
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0


@needs_redis
def test_redis_politeness_holds_per_host_limits_across_processes(tmp_path: Path) -> None:

    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus

    _fresh_redis_long_up()
    corpus = write_scale_corpus(tmp_path / "corpus", hosts=3, feeds_per_host=1)
    with replay_in_thread(corpus.directory, latency=LATENCY) as server:
        _processes(server, REDIS_URL, 1)  # learns both robots.txt, shares them
        _processes(server, REDIS_URL, 3)
        shared = {h: v for h, v in server.host_load.items() if h != "news002.example"}
        robots = [r for r in server.log if r.url.endswith("/robots.txt") and "news002" not in r.url]
        server.host_load.clear()
        _processes(server, None, 3)  # the control: each process polite on its own only
        alone = {h: v for h, v in server.host_load.items() if h != "news002.example"}
    # 2 hosts x 5 pages x 4 processes, and each robots.txt fetched once for all of them
    assert sum(load.requests for load in shared.values()) == 2 * 5 * 4 + 2
    assert len(robots) == 2
    assert max(load.peak for load in shared.values()) <= PER_HOST
    assert min(load.min_gap or 1.0 for load in shared.values()) >= HOST_DELAY - ARRIVAL_RESOLUTION
    # Without Redis, three processes together exceed what each one respects.
    assert max(load.peak for load in alone.values()) > PER_HOST
    assert min(load.min_gap or 1.0 for load in alone.values()) < HOST_DELAY - ARRIVAL_RESOLUTION


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_request_goes_on_when_redis_goes_away_mid_turn(tmp_path: Path) -> None:
    """Redis stopping between a grant and the request leaving must not fail the fetch
    (found by the distributed scenario: a page fell back to its feed content)."""
    from newsline.ingest.politeness import RedisPoliteness
    from tests.support.ports import free_port, wait_for_port

    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", *args, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )

    async def turn_across_a_stop() -> None:
        politeness = RedisPoliteness(f"redis://127.0.0.1:{port}/0")
        async with politeness.turn("gone.example", concurrency=1, delay=0.1) as turn:
            server.terminate()
            server.wait(30)
            await turn.started()  # the request's headers are out: it goes on
        await politeness.close()

    try:
        wait_for_port(port, server)
        asyncio.run(turn_across_a_stop())
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)


#: How long the slow process below takes to resume after Redis answered it.
RESUME = 0.15


@needs_redis
def test_the_delay_counts_from_when_the_request_left_not_from_before(tmp_path: Path) -> None:
    """A process slow to resume after Redis stamped its turn started must not let another
    process's next request reach the host closer than the delay. The stamp was taken before
    the headers were written (aiohttp calls its headers-sent hook just before writing), so
    the host saw requests ``RESUME`` closer together (found by the distributed scenario:
    hosts saw requests 1-60 ms apart under load)."""

    from newsline.config import FetchSettings
    from newsline.ingest.fetch import Fetcher
    from newsline.ingest.politeness import RedisPoliteness, Turn
    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus

    class SlowTurn:
        def __init__(self, inner: Turn) -> None:
            self.inner = inner

        async def started(self) -> None:
            await self.inner.started()
            await asyncio.sleep(RESUME)  # the process waits for a CPU before going on

    class SlowToResume(RedisPoliteness):
        @asynccontextmanager
        async def turn(self, host: str, *, concurrency: int, delay: float) -> AsyncIterator[Turn]:
            async with super().turn(host, concurrency=concurrency, delay=delay) as inner:
                yield SlowTurn(inner)

    _fresh_redis_long_up()
    corpus = write_scale_corpus(tmp_path / "corpus", hosts=1, feeds_per_host=1)
    urls = [f"http://news000.example/articles/{p:02d}-report.html" for p in range(5)]

    async def main(settings: FetchSettings) -> None:
        slow, prompt = SlowToResume(REDIS_URL), RedisPoliteness(REDIS_URL)
        async with (
            Fetcher(settings, politeness=slow) as a,
            Fetcher(settings, politeness=prompt) as b,
        ):
            await a.get(urls[0], kind="feed")  # connections open, the process warmed up
            await b.get(urls[0], kind="feed")
            server.host_load.clear()
            for _ in range(3):
                await asyncio.gather(
                    *(a.get(u, kind="feed") for u in urls), *(b.get(u, kind="feed") for u in urls)
                )
        await slow.close()
        await prompt.close()

    with replay_in_thread(corpus.directory, latency=LATENCY) as server:
        settings = FetchSettings(
            **{
                **server.fetch_settings(),
                "per_host_concurrency": PER_HOST,
                "min_host_delay": HOST_DELAY,
                "retries": 0,
            }
        )
        asyncio.run(main(settings))
        load = server.host_load["news000.example"]
    assert load.requests == 30
    assert load.peak <= PER_HOST
    assert load.min_gap is not None and load.min_gap >= HOST_DELAY - ARRIVAL_RESOLUTION, load


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_restart_does_not_shorten_the_delay(tmp_path: Path) -> None:
    """Redis restarted without persistence forgets when each host may be asked next; the
    first request after the restart must still wait the delay (it went at once before)."""
    from newsline.config import FetchSettings
    from newsline.ingest.fetch import Fetcher
    from newsline.ingest.politeness import RedisPoliteness
    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus
    from tests.support.ports import free_port, wait_for_port

    delay = 2.0  # far longer than a restart of redis-server takes
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command = [shutil.which("redis-server") or "redis-server", *args, "--dir", str(tmp_path)]
    corpus = write_scale_corpus(tmp_path / "corpus", hosts=1, feeds_per_host=1)
    urls = [f"http://news000.example/articles/{p:02d}-report.html" for p in range(2)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def restart() -> None:
        nonlocal server
        server.terminate()
        server.wait(30)
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_port(port, server)

    async def main(settings: FetchSettings) -> None:
        # A grant holds a host for start_ttl at most; after a restart no host is asked
        # sooner than that (at least the delay): 3 s here rather than 30.
        politeness = RedisPoliteness(f"redis://127.0.0.1:{port}/0", start_ttl=3.0)
        async with Fetcher(settings, politeness=politeness) as fetcher:
            await fetcher.get(urls[0], kind="feed")
            await asyncio.to_thread(restart)
            await fetcher.get(urls[1], kind="feed")
        await politeness.close()

    try:
        wait_for_port(port, server)
        with replay_in_thread(corpus.directory) as replay:
            settings = FetchSettings(
                **{**replay.fetch_settings(), "min_host_delay": delay, "retries": 0}
            )
            asyncio.run(main(settings))
            load = replay.host_load["news000.example"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)
    assert load.requests == 2
    assert load.min_gap is not None and load.min_gap >= delay - ARRIVAL_RESOLUTION, load


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_grant_sent_after_a_redis_restart_is_still_spaced(tmp_path: Path) -> None:
    """A worker granted a turn just before Redis restarts, whose event loop sends the
    request a while after Redis is back (busy with other units' database calls), and another
    worker asking after the restart: the restarted Redis knows nothing of the first grant,
    so it let the second go as soon as the delay after its state began, 0.1 s before the
    first request left (found by the distributed scenario: two requests 1 ms apart). No host
    is asked within start_ttl of the state beginning (the longest a grant holds a host)."""
    from newsline.config import FetchSettings
    from newsline.ingest.fetch import Fetcher
    from newsline.ingest.politeness import RedisPoliteness, Turn
    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus
    from tests.support.ports import free_port, wait_for_port

    delay, start_ttl = 0.5, 3.0
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command = [shutil.which("redis-server") or "redis-server", *args, "--dir", str(tmp_path)]
    corpus = write_scale_corpus(tmp_path / "corpus", hosts=1, feeds_per_host=1)
    urls = [f"http://news000.example/articles/{p:02d}-report.html" for p in range(2)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    granted = asyncio.Event()
    resume = asyncio.Event()

    class BusyAfterItsGrant(RedisPoliteness):
        @asynccontextmanager
        async def turn(self, host: str, *, concurrency: int, delay: float) -> AsyncIterator[Turn]:
            async with super().turn(host, concurrency=concurrency, delay=delay) as inner:
                granted.set()
                await resume.wait()  # the loop is busy elsewhere before the request leaves
                yield inner

    def restart() -> None:
        nonlocal server
        server.terminate()
        server.wait(30)
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_port(port, server)

    async def main(settings: FetchSettings) -> None:
        url = f"redis://127.0.0.1:{port}/0"
        busy = BusyAfterItsGrant(url, start_ttl=start_ttl)
        other = RedisPoliteness(url, start_ttl=start_ttl)
        async with (
            Fetcher(settings, politeness=busy) as a,
            Fetcher(settings, politeness=other) as b,
        ):
            first = asyncio.create_task(a.get(urls[0], kind="feed"))
            await granted.wait()
            await asyncio.to_thread(restart)
            second = asyncio.create_task(b.get(urls[1], kind="feed"))
            await asyncio.sleep(delay + 0.1)
            resume.set()
            await asyncio.gather(first, second)
        await busy.close()
        await other.close()

    try:
        wait_for_port(port, server)
        with replay_in_thread(corpus.directory) as replay:
            settings = FetchSettings(
                **{
                    **replay.fetch_settings(),
                    "min_host_delay": delay,
                    "per_host_concurrency": 2,
                    "retries": 0,
                }
            )
            asyncio.run(main(settings))
            load = replay.host_load["news000.example"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)
    assert load.requests == 2
    assert load.min_gap is not None and load.min_gap >= delay - ARRIVAL_RESOLUTION, load


@needs_redis
def test_a_retry_after_shared_while_another_request_is_in_flight_holds(tmp_path: Path) -> None:
    """A host's Retry-After, shared by one worker while another worker's request to it is on
    its way out, keeps the others off the host. It was kept in the host's next-start key,
    which a pending grant held further ahead (so it was not written) and the request's start
    report then overwrote with only the delay."""
    from newsline.ingest.politeness import RedisPoliteness

    _fresh_redis_long_up()

    async def main() -> None:
        sending, told, third = (RedisPoliteness(REDIS_URL) for _ in range(3))

        async def a_turn() -> None:
            async with third.turn("busy.example", concurrency=2, delay=0.1):
                pass

        async with sending.turn("busy.example", concurrency=2, delay=0.1) as turn:
            await told.hold_off("busy.example", 5.0)  # another worker was told Retry-After: 5
            await turn.started()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(a_turn(), 2.0)
        for politeness in (sending, told, third):
            await politeness.close()

    asyncio.run(main())


@needs_redis
def test_a_late_second_start_report_does_not_free_a_pending_grant(tmp_path: Path) -> None:
    """A turn reporting its start again (aiohttp re-sending within the turn, or a report
    arriving late) while another worker's grant waits for its request to leave: the report
    overwrote that grant's hold with only the delay, so a third turn was granted before the
    pending request left, and the two reached the host together (found by the scenario: two
    requests 0.3 ms apart, mid-run)."""
    from newsline.ingest.politeness import RedisPoliteness

    _fresh_redis_long_up()

    async def main() -> None:
        earlier, pending, third = (RedisPoliteness(REDIS_URL) for _ in range(3))

        async def a_turn() -> None:
            async with third.turn("late.example", concurrency=3, delay=0.1):
                pass

        async with earlier.turn("late.example", concurrency=3, delay=0.1) as first:
            await first.started()
            await asyncio.sleep(0.2)
            async with pending.turn("late.example", concurrency=3, delay=0.1):
                await first.started()  # again, while the second grant's request is not out
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(a_turn(), 1.0)
        for politeness in (earlier, pending, third):
            await politeness.close()

    asyncio.run(main())


@needs_redis
def test_a_cancelled_turn_stops_waiting_when_its_redis_command_swallows_the_cancel() -> None:
    """redis-py can lose a cancellation that arrives while a command is on its way (the
    command returns as if none had come). A turn cancelled by its caller's timeout then went
    on polling and took the host when the grant it waited behind expired: found under load,
    where the test above saw its third turn granted 30 s later instead of timing out. Here
    the command that swallows the cancel is made to last long enough to receive it."""
    from newsline.ingest.politeness import RedisPoliteness

    _fresh_redis_long_up()

    async def main() -> None:
        holder = RedisPoliteness(REDIS_URL, start_ttl=3.0)  # its grant holds the host 3 s
        waiter = RedisPoliteness(REDIS_URL)
        real_take = waiter._take

        async def swallowing_take(**kwargs: Any) -> Any:
            async def slow() -> Any:
                await asyncio.sleep(0.3)
                return await real_take(**kwargs)

            answer = asyncio.ensure_future(slow())
            while True:
                try:
                    return await asyncio.shield(answer)
                except asyncio.CancelledError:
                    continue  # as redis-py can: the answer comes, the cancel is lost

        waiter._take = swallowing_take

        async def a_turn() -> None:
            async with waiter.turn("swallow.example", concurrency=3, delay=0.1):
                pass

        async with holder.turn("swallow.example", concurrency=3, delay=0.1):
            # Without the check the turn is granted once the holder's grant expires (3 s)
            # and wait_for returns its result instead of timing out.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(a_turn(), 0.1)
        for politeness in (holder, waiter):
            await politeness.close()

    asyncio.run(main())


@needs_redis
def test_a_process_alone_on_a_host_asks_redis_once_a_request(tmp_path: Path) -> None:
    """Requests of one process to one host ask Redis for their turn once each: a request
    waits in the process for the previous one's start report and the delay before it asks.
    Asked while another grant waited for its request to leave, Redis could only answer "not
    yet", with its longest poll (0.25 s): in bench/scale.py a host's turns came 0.10-0.14 s
    apart for a delay of 0.05 s. The spacing is still Redis's, checked against its clock."""
    import redis

    from newsline.ingest.politeness import RedisPoliteness

    _fresh_redis_long_up()
    client = redis.Redis.from_url(REDIS_URL)
    starts: list[float] = []

    async def main() -> int:
        politeness = RedisPoliteness(REDIS_URL)
        asked = 0
        take = politeness._take

        async def counted(**kwargs: Any) -> Any:
            nonlocal asked
            asked += 1
            return await take(**kwargs)

        politeness._take = counted

        async def one() -> None:
            async with politeness.turn("once.example", concurrency=PER_HOST, delay=0.05) as turn:
                seconds, micros = client.time()
                starts.append(seconds + micros / 1e6)
                await turn.started()

        await asyncio.gather(*(one() for _ in range(6)))
        await politeness.close()
        return asked

    assert asyncio.run(main()) == 6
    starts.sort()
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.05 - 0.001

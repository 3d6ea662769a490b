"""Distributed mode's edges: its configuration, dead letters, and the systemd units."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.pg import PG_URL, migrated_database

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("NEWSLINE_TEST_REDIS_URL", "")


class Result:
    """A command's exit code and what it printed (stdout and stderr together)."""

    def __init__(self, code: int, output: str) -> None:
        self.returncode = code
        self.stdout = self.stderr = output


def _newsline(env: dict[str, str], cwd: Path, *args: str) -> Result:
    """Run a command in this process (typer's runner), with only `env`'s NEWSLINE_ settings."""
    from typer.testing import CliRunner

    from newsline.cli import app

    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("NEWSLINE_") and k not in env
    }
    here = Path.cwd()
    os.chdir(cwd)
    try:
        done = CliRunner().invoke(app, list(args), env={**unset, **env})
    finally:
        os.chdir(here)
    return Result(done.exit_code, done.output)


def test_distributed_mode_refuses_sqlite_with_a_clear_message(tmp_path: Path) -> None:
    env = {
        "NEWSLINE_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSLINE_DATA_DIR": str(tmp_path),
        "NEWSLINE_QUEUE_URL": "redis://127.0.0.1:1/0",
    }
    for command in (["worker"], ["scheduler"], ["fetch", "--once"]):
        done = _newsline(env, tmp_path, *command)
        assert done.returncode == 1, done
        assert "error:" in done.stderr and "PostgreSQL" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "newsline.db").exists()  # refused before anything was created


def test_queue_url_must_be_a_redis_url(tmp_path: Path) -> None:
    from newsline.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="queue_url: unsupported queue 'amqp'"):
        load_settings(
            None,
            database_url="postgresql+psycopg://u@127.0.0.1/db",
            queue_url="amqp://127.0.0.1/",
        )
    ok = load_settings(
        None, database_url="postgresql+psycopg://u@127.0.0.1/db", queue_url="redis://h:6379/0"
    )
    assert ok.queue_url == "redis://h:6379/0"
    assert load_settings(None, data_dir=str(tmp_path)).queue_url == ""  # off by default


def test_worker_without_queue_url_says_what_to_set(tmp_path: Path) -> None:
    env = {"NEWSLINE_CONFIG": str(tmp_path / "absent.toml"), "NEWSLINE_DATA_DIR": str(tmp_path)}
    done = _newsline(env, tmp_path, "worker")
    assert done.returncode == 1
    assert "queue_url" in done.stderr and "NEWSLINE_QUEUE_URL" in done.stderr


def test_dead_letters_when_the_queue_is_down_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        "NEWSLINE_CONFIG": str(tmp_path / "absent.toml"),
        # Nothing listens on port 1; the database is never opened by this command.
        "NEWSLINE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "NEWSLINE_QUEUE_URL": "redis://127.0.0.1:1/0",
    }
    done = _newsline(env, tmp_path, "dead-letters")
    assert done.returncode == 1
    assert "cannot read the dead letters from queue_url" in done.stderr
    assert "Traceback" not in done.stderr


# -- dead letters ----------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("distributed mode needs PostgreSQL: NEWSLINE_TEST_PG_URL is not set")
    with migrated_database("nl_units") as url:
        yield url


needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="NEWSLINE_TEST_REDIS_URL is not set (scripts/test starts redis-server)"
)


@needs_redis
@pytest.mark.parametrize("failure", ["lease held", "database error"])
def test_feeds_of_a_message_that_fails_its_last_retry_are_recorded_where_the_operator_looks(
    tmp_path: Path, pg_url: str, failure: str
) -> None:
    """A message whose feeds fail their last retry records each feed as failed: on the
    feed (``publications list``), in ``newsline dead-letters`` under its own key, and to the
    waiting pass under its own key. Either a message of one feed whose lease another worker
    holds for good (each attempt finds it busy), or a message of several that fails every
    attempt (an id PostgreSQL's integer cannot hold: a real error from the database, as
    when it is away)."""
    import dramatiq
    import redis

    from newsline.config import load_settings
    from newsline.db.engine import session_scope
    from newsline.db.models import Feed
    from newsline.ingest.publications import import_opml
    from newsline.workers.actors import declare
    from newsline.workers.queue import LOCK_FEED, Outcomes, dead_letters, make_broker, unit_locks

    redis.Redis.from_url(REDIS_URL).flushdb()
    settings = load_settings(None, database_url=pg_url, queue_url=REDIS_URL, data_dir=str(tmp_path))
    opml = (
        b'<?xml version="1.0"?><opml version="2.0"><body>'
        b'<outline type="rss" text="x" xmlUrl="http://stuck.example/feed.xml"/></body></opml>'
    )
    with session_scope(pg_url) as session:
        import_opml(session, settings, opml)
    with session_scope(pg_url) as session:
        feed_id = session.query(Feed.id).scalar()
    ids = [feed_id] if failure == "lease held" else [feed_id, 2**31]
    broker = make_broker(settings)
    actors = declare(broker, settings)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        # "Another worker" holds the feed's lease throughout (for the held case).
        with unit_locks(pg_url, LOCK_FEED, ids if failure == "lease held" else []):
            actors.refresh_feeds.send_with_options(
                args=(ids,), kwargs={"run": "r1"}, max_retries=2, min_backoff=50, max_backoff=100
            )
            deadline = time.monotonic() + 60
            while len(dead_letters(client)) < len(ids) and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        worker.stop()
        broker.close()
    letters = dead_letters(client)
    assert sorted((d["unit"], d["key"]) for d in letters) == sorted(
        ("refresh_feed", str(i)) for i in ids
    )
    assert all("gave up after 3 attempts" in d["error"] for d in letters)
    told = {o.key: o.data for o in Outcomes(client).since("r1", "feeds", 0)}
    assert set(told) == {str(i) for i in ids}
    assert all("gave up after 3 attempts" in d["gave_up"] for d in told.values())
    env = {
        "NEWSLINE_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSLINE_DATABASE_URL": pg_url,
        "NEWSLINE_QUEUE_URL": REDIS_URL,
    }
    listed = _newsline(env, tmp_path, "publications", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "gave up after 3 attempts" in listed.stdout
    shown = _newsline(env, tmp_path, "dead-letters")
    assert f"refresh_feed {feed_id}: gave up after 3 attempts" in shown.stdout


@needs_redis
def test_digest_mail_and_enrichment_units_that_fail_for_good_reach_the_operator_and_the_pass(
    tmp_path: Path, pg_url: str
) -> None:
    """A digest slot, a channel's mail and an enrichment batch that fail their last retry are
    listed by ``newsline dead-letters`` under their own keys, and the pass that enqueued them
    hears of it under the key it waits for (it waited for a digest slot's ``channel@slot``
    and a batch's number, but was told under the channel and under nothing)."""
    from datetime import timedelta

    import dramatiq
    import redis

    from newsline.config import load_settings
    from newsline.db.lease import lease
    from newsline.workers.actors import declare
    from newsline.workers.queue import Outcomes, dead_letters, make_broker

    redis.Redis.from_url(REDIS_URL).flushdb()
    settings = load_settings(None, database_url=pg_url, queue_url=REDIS_URL, data_dir=str(tmp_path))
    broker = make_broker(settings)
    actors = declare(broker, settings)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    client = redis.Redis.from_url(REDIS_URL)
    fast: dict[str, Any] = {"max_retries": 1, "min_backoff": 50, "max_backoff": 100}
    slot = "2026-11-30T12:00:00+00:00"
    try:
        # Another process enriches for good (the batch finds the lease held each time); the
        # channel "gone" was removed from the configuration while its units were queued.
        with lease(pg_url, "ingest", timedelta(minutes=5)):
            actors.enrich_batch.send_with_options(kwargs={"run": "r1", "seq": 4}, **fast)
            actors.publish_digest.send_with_options(
                args=("gone", slot), kwargs={"run": "r1"}, **fast
            )
            actors.send_mail.send_with_options(args=("gone",), kwargs={"run": "r1"}, **fast)
            deadline = time.monotonic() + 60
            while len(dead_letters(client)) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        worker.stop()
        broker.close()
    letters = {(d["unit"], d["key"]): d["error"] for d in dead_letters(client)}
    assert set(letters) == {
        ("enrich_batch", "4"),
        ("publish_digest", f"gone@{slot}"),
        ("send_mail", "gone"),
    }
    assert all("gave up after 2 attempts" in error for error in letters.values())
    assert "ingest" in letters[("enrich_batch", "4")]
    assert "gone" in letters[("publish_digest", f"gone@{slot}")]
    outcomes = Outcomes(client)
    told = {
        stage: {o.key: o.data for o in outcomes.since("r1", stage, 0)}
        for stage in ("enrich", "digests", "mail")
    }
    assert "gave_up" in told["enrich"]["4"]
    assert "gave_up" in told["digests"][f"gone@{slot}"]
    assert "gave_up" in told["mail"]["gone"]
    env = {
        "NEWSLINE_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSLINE_DATABASE_URL": pg_url,
        "NEWSLINE_QUEUE_URL": REDIS_URL,
    }
    shown = _newsline(env, tmp_path, "dead-letters").stdout
    assert f"publish_digest gone@{slot}: gave up after 2 attempts" in shown
    assert "send_mail gone: gave up after 2 attempts" in shown
    assert "enrich_batch 4: gave up after 2 attempts" in shown


@contextmanager
def _worker_on_corpus(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, feeds: int, **env: str
) -> Iterator[tuple[Any, list[tuple[int, str]]]]:
    """A worker (2 threads, in this process) on `feeds` feeds of one host of the scale
    corpus, served on loopback: yields the declared actors and the feeds (id, URL)."""
    import dramatiq
    import redis

    from newsline.config import load_settings
    from newsline.db.engine import session_scope
    from newsline.db.models import Feed
    from newsline.ingest.publications import import_opml
    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus
    from newsline.workers.actors import declare
    from newsline.workers.queue import make_broker

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    # Politeness state dated back past the guard a fresh Redis keeps (docs/scaling.md):
    # the test waited those 30 s for its first request.
    seconds, micros = client.time()
    client.set("newsline:polite:began", seconds * 1000 + micros // 1000 - 3_600_000)
    corpus = write_scale_corpus(tmp_path / "corpus", hosts=1, feeds_per_host=feeds)
    with replay_in_thread(corpus.directory) as server:
        for name, value in {**server.settings_env(), **env}.items():
            monkeypatch.setenv(name, value)
        settings = load_settings(
            None, database_url=pg_url, queue_url=REDIS_URL, data_dir=str(tmp_path)
        )
        with session_scope(pg_url) as session:
            import_opml(session, settings, corpus.opml.read_bytes())
        with session_scope(pg_url) as session:
            rows = [(r.id, r.url) for r in session.query(Feed.id, Feed.url).order_by(Feed.id)]
        broker = make_broker(settings)
        actors = declare(broker, settings)
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
        worker.start()
        try:
            yield actors, rows
        finally:
            worker.stop()
            broker.close()


def _reported(stage: str, count: int) -> dict[str, dict[str, Any]]:
    """The outcomes pass "r1" has of `stage`, once there are `count` (or after 60 s)."""
    import redis

    from newsline.workers.queue import Outcomes

    outcomes = Outcomes(redis.Redis.from_url(REDIS_URL))
    deadline = time.monotonic() + 60
    while len(outcomes.since("r1", stage, 0)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return {o.key: o.data for o in outcomes.since("r1", stage, 0)}


def test_a_message_carries_whole_hosts_several_while_they_fit() -> None:
    """Feeds (pages) go to the workers a host's together, several hosts a message up to
    20 units: a message of one host with 5 pages took as long as that host's spacing,
    its thread idle meanwhile, and paid its handling, locks and writes for 5 units."""
    from newsline.workers.actors import host_batches

    units = [(n, f"http://h{n % 7}.example/{n}") for n in range(7 * 5)]  # 7 hosts, 5 each
    units += [(100 + n, f"http://big.example/{n}") for n in range(23)]  # 1 host of 23
    units += [(200, "http://h0.example/late")]  # a host seen before, listed again
    messages = host_batches(units)
    assert sorted(k for m in messages for k in m) == sorted(k for k, _ in units)
    assert all(len(m) <= 20 for m in messages)
    host = {k: url.split("/")[2] for k, url in units}
    for name in {host[k] for k, _ in units} - {"big.example"}:  # a host's in one message
        assert sum(any(host[k] == name for k in m) for m in messages) == 1, name
    assert sum(any(host[k] == "big.example" for k in m) for m in messages) == 2
    # h0 (6 with the late one), h1, h2: 16, and h3 would make 21; then h3-h6: 20; big: 20 + 3
    assert [len({host[k] for k in m}) for m in messages] == [3, 4, 1, 1]
    assert [len(m) for m in messages] == [16, 20, 20, 3]


@needs_redis
def test_a_process_runs_one_tagging_unit_at_a_time(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tagging is CPU-bound Python: a worker's threads taking several tagging units run them
    one after another (8 at once shared one core through the GIL and cost more CPU per item),
    each still reported."""
    import threading

    from newsline.enrich.stage import EnrichReport
    from newsline.workers import actors as actors_module

    lock = threading.Lock()
    running: list[int] = [0]
    most: list[int] = [0]

    def tag_pending(settings: Any, *, limit: int) -> EnrichReport:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)  # what tagging a batch takes, give or take
        with lock:
            running[0] -= 1
        return EnrichReport(enriched=limit)

    monkeypatch.setattr(actors_module, "tag_pending", tag_pending)
    with _worker_on_corpus(tmp_path, pg_url, monkeypatch, 1) as (actors, _feeds):
        for seq in range(4):
            actors.tag_batch.send(run="r1", seq=seq)
        reported = _reported("tag", 4)
    assert sorted(reported) == ["0", "1", "2", "3"]
    assert most[0] == 1  # the worker has 2 threads: both took a unit, one waited


@needs_redis
def test_workers_write_the_fetch_log(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed refreshed and a page finished by a worker leave their HTTP attempts in the
    fetch log, as the single-process runner does (workers wrote none)."""
    from sqlalchemy import select

    from newsline.db.engine import session_scope
    from newsline.db.models import FetchLog, Item

    with _worker_on_corpus(tmp_path, pg_url, monkeypatch, 1) as (actors, feeds):
        [(feed_id, feed_url)] = feeds
        actors.refresh_feeds.send([feed_id], run="r1")
        assert len(_reported("feeds", 1)) == 1
        with session_scope(pg_url) as session:
            item_id = session.scalars(select(Item.id).order_by(Item.id).limit(1)).one()
        actors.finish_items.send([item_id], run="r1")
        assert len(_reported("items", 1)) == 1
    with session_scope(pg_url) as session:
        logged = {(r.kind, r.feed_id, r.status_code) for r in session.query(FetchLog)}
        urls = {r.url for r in session.query(FetchLog)}
    assert ("feed", feed_id, 200) in logged
    assert ("page", None, 200) in logged
    assert feed_url in urls


@needs_redis
def test_a_message_of_several_feeds_refreshes_each_and_sends_a_held_one_on_its_own(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass sends a host's feeds in one message: the worker refreshes each feed once,
    reports each under its own key and clears each one's "queued" marker; a feed whose
    lease another worker holds is left to it and sent again on its own, refreshed once
    the lease is free."""
    import redis
    from sqlalchemy import func, select

    from newsline.db.engine import session_scope
    from newsline.db.models import Item
    from newsline.workers.actors import host_batches, queued_key
    from newsline.workers.queue import LOCK_FEED, unit_locks

    client = redis.Redis.from_url(REDIS_URL)
    delay = {"NEWSLINE_FETCH__MIN_HOST_DELAY": "0.01"}
    with _worker_on_corpus(tmp_path, pg_url, monkeypatch, 3, **delay) as (actors, feeds):
        batches = host_batches(feeds)
        assert batches == [[f for f, _ in feeds]]  # one host: one message
        ids = batches[0]
        for feed_id in ids:
            client.set(queued_key("feed", feed_id), 1)
        with unit_locks(pg_url, LOCK_FEED, [ids[2]]):  # "another worker" holds the third
            actors.refresh_feeds.send(ids, run="r1")
            first = _reported("feeds", 2)
            assert set(first) == {str(ids[0]), str(ids[1])}
            time.sleep(3)  # the held one was sent again (2 s later) and finds it held
            assert len(_reported("feeds", 0)) == 2
        every = _reported("feeds", 3)
    assert set(every) == {str(i) for i in ids}
    assert [every[str(i)]["status"] for i in ids] == ["updated"] * 3
    assert all(every[str(i)]["new_items"] > 0 for i in ids)
    assert not any(client.exists(queued_key("feed", i)) for i in ids)
    with session_scope(pg_url) as session:
        per_feed = dict(
            session.execute(select(Item.feed_id, func.count(Item.id)).group_by(Item.feed_id)).all()
        )
        urls = session.scalars(select(Item.url)).all()
    assert {k: v for k, v in per_feed.items()} == {
        i: every[str(i)]["new_items"] for i in ids
    }  # each feed's entries stored by one refresh
    assert len(urls) == len(set(urls))


@needs_redis
def test_a_worker_with_every_thread_busy_takes_the_next_message_when_one_ends(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With as many messages out as it may prefetch, the consumer waits for one to be
    acknowledged, then fetches the next. Dramatiq's own slept a blind back-off (up to the
    worker timeout) each time, so a thread that had finished sat idle while messages
    waited in Redis (0.12-0.16 s a message, median, in bench/scale.py)."""
    import threading

    import dramatiq.brokers.redis
    import redis

    from newsline.config import load_settings
    from newsline.workers.actors import declare
    from newsline.workers.queue import QUEUE, make_broker

    redis.Redis.from_url(REDIS_URL).flushdb()
    settings = load_settings(None, database_url=pg_url, queue_url=REDIS_URL, data_dir=str(tmp_path))
    broker = make_broker(settings)
    actors = declare(broker, settings)
    slept: list[float] = []
    monkeypatch.setattr(dramatiq.brokers.redis.time, "sleep", slept.append)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=5000)
    try:
        for n in range(2):
            actors.websub_due.send(run=f"r{n}")
        first = next(consumer)
        assert first is not None and first.kwargs == {"run": "r0"}
        got: list[Any] = []

        def take() -> None:  # as Dramatiq's consumer thread does
            while (message := next(consumer)) is None:
                pass
            got.append(message)

        taker = threading.Thread(target=take)
        taker.start()
        taker.join(0.5)
        assert taker.is_alive()  # every thread busy: it waits
        consumer.ack(first)
        taker.join(10)
        assert not taker.is_alive()
        assert got[0].kwargs == {"run": "r1"}  # the ack let it fetch the next
        assert not slept  # it waited for the ack, not a blind back-off
        consumer.ack(got[0])
    finally:
        consumer.close()
        broker.close()


# -- deploy ----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_units_verify(tmp_path: Path) -> None:
    newsline = shutil.which("newsline", path=str(Path(sys.executable).parent))
    assert newsline is not None
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert {u.name for u in units} == {
        "newsline-web.service",
        "newsline-scheduler.service",
        "newsline-worker.service",
    }
    for unit in units:  # the installed path of the docs, here: this checkout's
        text = unit.read_text().replace("/opt/newsline/.venv/bin/newsline", newsline)
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *[str(tmp_path / u.name) for u in units]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        # This machine may have no network-online.target or postgresql unit: not our units'.
        if line.strip() and "not found" not in line.lower()
    ]
    assert done.returncode == 0 or not problems, problems
    assert not problems, problems

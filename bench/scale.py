"""Distributed mode's throughput and per-unit cost, against the single-process runner.

One corpus (newsline.testing.scalecorpus: 2,000 feeds and 500 pages on 100 hosts by
default; ``--pages-per-host`` and ``--page-bytes`` for more pages, and pages of a real
article page's size and markup, where extraction weighs as it does in a real crawl), served by the replay server in a thread of this process. For each runner, a fresh
PostgreSQL database gets the corpus's OPML and one pass (``fetch --once``):

- ``single``: the single-process runner (``run_pass``, as ``newsline fetch`` without a queue);
- ``workers=N``: ``newsline worker --processes N`` on a fresh redis-server, the pass
  enqueued and waited for (``run_distributed_pass``, as ``newsline fetch`` with ``queue_url``).

Printed per runner: feed refreshes/s, pages/s and items enriched/s, as ratios to
``single`` and to ``workers=1``; and per unit of the ``workers=1`` run: CPU milliseconds
(all worker processes, user + system, from /proc), database writes (committed
transactions and rows written, from pg_stat_database) and Redis commands (INFO stats,
which counts the commands inside Lua scripts), each stage measured on its own, beside the
single runner's CPU per unit counted the same way (this whole process, less the replay
server's thread; neither counts PostgreSQL's or Redis's own CPU). Printed too, per stage:
the cores each runner kept busy (CPU over wall-clock) and, for the worker runs, the cores'
worth of time their threads were runnable but waiting for a CPU (/proc schedstat): on a
shared machine that is the other jobs' share, which the rates suffer and the CPU per unit
does not. And the whole machine's share: the runner's CPU, the waiting pass's, and the
servers' (this database's PostgreSQL backends, found in pg_stat_activity and read from /proc,
so only with the cluster on this machine; Redis; the replay server), per stage in cores and
per unit: on a machine of N cores, N over a 1-worker run's cores is the most that any
number of workers could reach. ``--repeat N`` runs
every runner N times in turn and prints medians, ratios taken within a repetition, and
the range of the queue's overhead (the machine's other load moves CPU per unit too).
Usage:

    .venv/bin/python bench/scale.py --pg-url postgresql+psycopg://USER@127.0.0.1:PORT/postgres \\
        [--hosts 100 --feeds-per-host 20 --pages-per-host 5 --page-bytes 0 --workers 1,2,4
         --threads 8 --repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port, wait_for_port  # noqa: E402

from procs import cpu_of, machine_busy, process_tree  # noqa: E402

#: The pass's stages, in order, as the tables print them.
STAGES = ("feeds", "pages", "enrich")


@dataclass
class Snapshot:
    at: float
    cpu: float  # seconds, all worker processes (or this process for `single`)
    commits: int
    rows: int
    redis_ops: int
    here: float = 0.0  # seconds, this process less the replay server (the waiting pass)
    queued: float = 0.0  # seconds the same threads spent runnable, waiting for a CPU
    servers: float = 0.0  # seconds: this database's PostgreSQL backends, Redis, replay server
    machine: float = 0.0  # seconds: the whole machine's busy CPU (/proc/stat)


@dataclass
class Stage:
    units: int = 0
    start: Snapshot | None = None
    end: Snapshot | None = None


@dataclass
class Run:
    name: str
    stages: dict[str, Stage] = field(default_factory=dict)

    def rate(self, stage: str) -> float:
        s = self.stages[stage]
        assert s.start and s.end
        return s.units / max(s.end.at - s.start.at, 1e-9)


def _run_queue_wait(pids: list[int]) -> float:
    """Seconds the threads of `pids` and their children spent runnable but waiting for a
    CPU (/proc/PID/task/TID/schedstat: the machine's other load, not their own waiting)."""
    total = 0
    for pid in process_tree(pids):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def _replay_cpu() -> float:
    """CPU seconds of this process's replay-server thread (not the single runner's work)."""
    tick = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        if thread.name == "newsline-replay" and thread.native_id is not None:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick
    return 0.0


class Probe:
    """Snapshots of CPU, database writes and Redis commands."""

    def __init__(
        self,
        admin: str,
        dbname: str,
        redis_url: str | None,
        pids: list[int],
        redis_pid: int | None = None,
    ) -> None:
        self.admin = admin
        self.dbname = dbname
        self.redis = redis.Redis.from_url(redis_url) if redis_url else None
        self.pids = pids
        self.redis_pid = redis_pid
        #: CPU seconds of each PostgreSQL backend of the database, as last seen (a backend
        #: gone since keeps what it had then; the runners' pools keep theirs open).
        self.backends: dict[int, float] = {}

    def snap(self) -> Snapshot:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_force_next_flush()")
            row = conn.execute(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted "
                "FROM pg_stat_database WHERE datname = %s",
                (self.dbname,),
            ).fetchone()
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.dbname,),
            ):
                if Path(f"/proc/{pid}").exists():  # the cluster runs on this machine
                    self.backends[pid] = cpu_of([pid])
        assert row is not None
        servers = sum(self.backends.values()) + _replay_cpu()
        if self.redis_pid is not None:
            servers += cpu_of([self.redis_pid])
        ops = int(self.redis.info("stats")["total_commands_processed"]) if self.redis else 0
        here = time.process_time() - _replay_cpu()
        cpu = cpu_of(self.pids) if self.pids else here
        queued = _run_queue_wait(self.pids) if self.pids else 0.0
        return Snapshot(
            time.monotonic(),
            cpu,
            int(row[0]),
            int(row[1]),
            ops,
            here,
            queued,
            servers,
            machine_busy(),
        )


class TimingReporter:
    """A pass reporter that snapshots each stage's start (the previous stage's end)."""

    def __init__(self, run: Run, probe: Probe) -> None:
        self.run = run
        self.probe = probe
        self.current: str | None = None

    def stage(self, name: str, total: int) -> None:
        snap = self.probe.snap()
        if self.current is not None:
            self.run.stages[self.current].end = snap
        self.run.stages[name] = Stage(total, snap)
        self.current = name

    def advance(self, name: str, message: str | None = None) -> None:
        pass

    def close(self) -> None:
        if self.current is not None:
            self.run.stages[self.current].end = self.probe.snap()


def _database(pg_url: str) -> tuple[str, str]:
    name = f"nl_bench_{uuid.uuid4().hex[:10]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_url.rpartition('/')[0]}/{name}", name


def _drop(pg_url: str, name: str) -> None:
    from newsline.db.engine import dispose_all

    dispose_all()
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _prepare(settings: Any, opml: Path) -> None:
    from newsline.db.engine import session_scope
    from newsline.db.migrate import upgrade
    from newsline.ingest.publications import import_opml

    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        import_opml(session, settings, opml.read_bytes())


def one_run(
    name: str, pg_url: str, opml: Path, fetch_env: dict[str, str], workers: int, threads: int
) -> Run:
    from newsline.config import load_settings
    from newsline.ingest.politeness import DEFAULT_START_TTL
    from newsline.workers.distributed import run_distributed_pass
    from newsline.workers.pipeline import run_pass, warm_up

    url, dbname = _database(pg_url)
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    redis_proc = None
    worker_proc = None
    tmp = Path(tempfile.mkdtemp(prefix="nl-scale-"))
    try:
        overrides: dict[str, Any] = {"database_url": url, "data_dir": str(tmp)}
        env = {**os.environ, **fetch_env, "NEWSLINE_DATABASE_URL": url}
        env["NEWSLINE_CONFIG"] = str(tmp / "absent.toml")
        if workers:
            port = free_port()
            redis_proc = subprocess.Popen(
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmp),
                ],
                stdout=subprocess.DEVNULL,
            )
            wait_for_port(port, redis_proc)
            overrides["queue_url"] = env["NEWSLINE_QUEUE_URL"] = f"redis://127.0.0.1:{port}/0"
            # A Redis whose politeness state has just begun grants no turn for start_ttl (a
            # restart's guard, docs/scaling.md): measured here is a Redis long up.
            client = redis.Redis(port=port)
            seconds, micros = client.time()
            began = seconds * 1000 + micros // 1000 - int(DEFAULT_START_TTL * 1000) - 1000
            client.set("newsline:polite:began", began)
            client.close()
        # This process runs the pass (single) or waits for it: the same fetch settings.
        os.environ.update(fetch_env)
        os.environ["NEWSLINE_CONFIG"] = str(tmp / "absent.toml")
        settings = load_settings(None, **overrides)
        _prepare(settings, opml)
        pids: list[int] = []
        if workers:
            worker_proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "newsline.cli",
                    "worker",
                    "--processes",
                    str(workers),
                    "--threads",
                    str(threads),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "worker.log").open("wb"),
            )
            # The processes start, import and warm up (workers.pipeline.warm_up), then say
            # they are alive.
            _wait_for_workers(overrides["queue_url"], workers, worker_proc)
            pids = [worker_proc.pid]
        else:
            warm_up(settings)  # the one-time loading a worker does as it starts, here too
        run = Run(name)
        probe = Probe(
            admin,
            dbname,
            overrides.get("queue_url"),
            pids,
            redis_proc.pid if redis_proc is not None else None,
        )
        reporter = TimingReporter(run, probe)
        runner = run_distributed_pass if workers else run_pass
        runner(settings, reporter=reporter, enrich=False, publish=False)
        reporter.close()
        # Enrichment on its own: in-process, or one enrich_batch unit after another.
        if workers:
            enrich = Run(name)
            reporter = TimingReporter(enrich, probe)
            run_distributed_pass(settings, reporter=reporter, publish=False)
            reporter.close()
            # From the tagging units (hashtags, summaries: several at once) to the end of
            # the ordered batches (near-duplicates, stories).
            first = enrich.stages.get("tagging") or enrich.stages["enrich"]
            run.stages["enrich"] = Stage(
                len(_ready_ids(settings)), first.start, enrich.stages["enrich"].end
            )
        else:
            from newsline.enrich.stage import enrich_pending

            start = probe.snap()
            done = enrich_pending(settings)
            run.stages["enrich"] = Stage(done.enriched, start, probe.snap())
        return run
    finally:
        if worker_proc is not None:
            worker_proc.send_signal(signal.SIGTERM)
            worker_proc.wait(90)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
        _drop(pg_url, dbname)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_for_workers(url: str, count: int, proc: subprocess.Popen[bytes]) -> None:
    from newsline.workers.queue import live_workers

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 180
    while live_workers(client) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {count} worker processes did not start (see worker.log)")
        time.sleep(0.2)
    client.close()
    time.sleep(1)  # their consumers' first fetch


def _ready_ids(settings: Any) -> list[int]:
    from sqlalchemy import select

    from newsline.db.engine import session_scope
    from newsline.db.models import Item

    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Item.id).where(Item.enriched_at.is_not(None))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("NEWSLINE_TEST_PG_URL", ""))
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--feeds-per-host", type=int, default=20)
    parser.add_argument("--pages-per-host", type=int, default=5)
    parser.add_argument(
        "--page-bytes",
        type=int,
        default=0,
        help="wrap each article page in a news site's chrome up to about this many bytes "
        "(0: bare pages of about 1.5 KB)",
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--host-delay", type=float, default=0.05)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every runner this many times, in turn; print medians (and the range)",
    )
    args = parser.parse_args()
    if not args.pg_url:
        parser.error("--pg-url (or NEWSLINE_TEST_PG_URL) is needed: distributed mode is PostgreSQL")

    from newsline.testing.replay import replay_in_thread
    from newsline.testing.scalecorpus import write_scale_corpus

    work = Path(tempfile.mkdtemp(prefix="nl-scale-corpus-"))
    corpus = write_scale_corpus(
        work,
        hosts=args.hosts,
        feeds_per_host=args.feeds_per_host,
        pages_per_host=args.pages_per_host,
        page_bytes=args.page_bytes,
    )
    print(f"corpus: {corpus.feeds} feeds, {corpus.pages} pages on {corpus.hosts} hosts")
    counts = [int(n) for n in args.workers.split(",") if n]
    names = ["single"] + [f"workers={n}" for n in counts]
    runs: dict[str, list[Run]] = {name: [] for name in names}
    with replay_in_thread(corpus.directory) as server:
        fetch_env = {
            **server.settings_env(),
            "NEWSLINE_FETCH__MIN_HOST_DELAY": str(args.host_delay),
            "NEWSLINE_WEBSUB__ENABLED": "false",
        }
        # Each repetition runs every runner once, in turn, so that the machine's other load
        # falls on all of them alike; ratios are taken within a repetition.
        for n in range(args.repeat):
            for name, workers in zip(names, [0, *counts], strict=True):
                run = one_run(name, args.pg_url, corpus.opml, fetch_env, workers, args.threads)
                runs[name].append(run)
                print(
                    f"{n + 1}/{args.repeat} {name:>10}: feeds {run.rate('feeds'):7.1f}/s"
                    f"  pages {run.rate('pages'):6.1f}/s  enriched {run.rate('enrich'):6.1f}/s"
                    f"  (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    shutil.rmtree(work, ignore_errors=True)
    _print(runs, args.repeat)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float], fmt: str) -> str:
    if len(values) < 2:
        return ""
    return f" ({format(min(values), fmt)} to {format(max(values), fmt)})"


def _cpu_ms(run: Run, stage: str) -> float:
    s = run.stages[stage]
    assert s.start and s.end
    return 1000 * (s.end.cpu - s.start.cpu) / max(s.units, 1)


def _cores(run: Run, stage: str, attr: str) -> float:
    s = run.stages[stage]
    assert s.start and s.end
    return (getattr(s.end, attr) - getattr(s.start, attr)) / max(s.end.at - s.start.at, 1e-9)


def _stage_rows(runs: dict[str, list[Run]], cell: Callable[[str, list[Run], str], str]) -> None:
    """One line per runner: its name, then `cell` of each stage."""
    for name, mine in runs.items():
        print(f"{name:<12}" + "".join(cell(name, mine, stage) for stage in STAGES))


def _print(runs: dict[str, list[Run]], repeat: int) -> None:
    single = runs["single"]
    one = runs.get("workers=1")
    what = f"median of {repeat} runs" if repeat > 1 else "one run"
    print(f"\n{what}: rates, and ratios within each repetition (x single; x 1 worker)")
    print("runner        feeds/s  pages/s  enrich/s   feeds x   pages x   enrich x")
    for name, mine in runs.items():
        line = f"{name:<12}"
        for stage in STAGES:
            line += f" {_median([r.rate(stage) for r in mine]):8.1f}"
        for stage in STAGES:
            x_single = _median(
                [r.rate(stage) / s.rate(stage) for r, s in zip(mine, single, strict=True)]
            )
            line += f"  {x_single:4.2f}"
            if one is not None:
                x_one = [r.rate(stage) / o.rate(stage) for r, o in zip(mine, one, strict=True)]
                line += f"/{_median(x_one):4.2f}"
        print(line)
    print(
        f"\nwhere each runner's wall-clock went ({what}): cores busy (CPU / wall) and cores"
        " waiting for a CPU (runnable threads the machine's other load kept off one); 1.00 ="
        " one core all the time"
    )
    print("runner        feeds busy/queued   pages busy/queued   enrich busy/queued")

    def busy_queued(name: str, mine: list[Run], stage: str) -> str:
        busy = _median([_cores(r, stage, "cpu") for r in mine])
        # The single runner's extraction thread ends with its pass, and its count with it.
        queued = (
            "    -"
            if name == "single"
            else f"{_median([_cores(r, stage, 'queued') for r in mine]):5.2f}"
        )
        return f"      {busy:5.2f} / {queued}"

    _stage_rows(runs, busy_queued)
    print(
        "\nthe whole machine's share of each run, cores (CPU / wall-clock): counted, the runner"
        " (the worker processes, or the single process), the waiting pass and the servers"
        " (this database's PostgreSQL backends, Redis, the replay server), servers in"
        " brackets; and the whole machine busy by /proc/stat (everything: PostgreSQL's other"
        " processes, the kernel's work, this process), 2.00 = both cores all the time"
    )
    print(
        "runner        feeds counted (servers) machine   pages counted (servers) machine"
        "   enrich counted (servers) machine"
    )

    def machine(name: str, mine: list[Run], stage: str) -> str:
        servers = _median([_cores(r, stage, "servers") for r in mine])
        here = 0.0 if name == "single" else _median([_cores(r, stage, "here") for r in mine])
        total = _median([_cores(r, stage, "cpu") for r in mine]) + here + servers
        whole = _median([_cores(r, stage, "machine") for r in mine])
        return f"        {total:5.2f} ({servers:4.2f})    {whole:5.2f}"

    _stage_rows(runs, machine)
    if one is None:
        return
    print(
        f"\nper unit, workers=1 ({what})   CPU ms   DB commits   DB rows written   Redis commands"
        "   CPU ms single   queue overhead   CPU ms of the waiting pass"
        "   server CPU ms (single)"
    )
    for stage, unit in (
        ("feeds", "feed refresh"),
        ("pages", "page"),
        ("enrich", "item enriched"),
    ):

        def per(attr: str, stage: str = stage, runs: list[Run] = one) -> float:
            values = []
            for r in runs:
                s = r.stages[stage]
                assert s.start and s.end
                k = max(s.units, 1)  # enrich: items enriched (a unit enriches a batch)
                values.append((getattr(s.end, attr) - getattr(s.start, attr)) / k)
            return _median(values)

        overheads = [
            100 * (_cpu_ms(r, stage) / _cpu_ms(s, stage) - 1)
            for r, s in zip(one, single, strict=True)
        ]
        print(
            f"{unit:<20} {_median([_cpu_ms(r, stage) for r in one]):8.1f}"
            f" {per('commits'):12.2f}"
            f" {per('rows'):17.2f}"
            f" {per('redis_ops'):16.1f}"
            f" {_median([_cpu_ms(s, stage) for s in single]):15.1f}"
            f" {_median(overheads):8.0f} %{_spread(overheads, '.0f'):<14}"
            f" {1000 * per('here'):8.2f}"
            f" {1000 * per('servers'):12.1f} ({1000 * per('servers', runs=single):.1f})"
        )


if __name__ == "__main__":
    main()

"""Rate-limit checks: the database backend against the Redis backend, in one run.

Times a comment's budget check (:meth:`Limits.spend`, three counters: account, IP range,
everybody) and a sign-in's attempt count (:meth:`Limits.begin_sign_in`, two keys), each in
its own committed transaction as the web does, from ``--threads`` threads at once: SQLite
(a fresh file), PostgreSQL (``--database-url``) and Redis (``--redis-url``, counters beside
a PostgreSQL or SQLite transaction). Prints checks per second and each as a ratio to the
SQLite database backend measured in the same run.

    .venv/bin/python bench/limits.py [--seconds 5] [--threads 4]
        [--database-url postgresql+psycopg://...] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from newsline.community.limits import DatabaseLimits, Limits
from newsline.community.limits_redis import RedisLimits
from newsline.config import LimitSettings
from newsline.db.engine import session_scope
from newsline.db.migrate import upgrade

#: High enough that nothing is refused while measuring.
GENEROUS = LimitSettings.model_validate(
    {
        "comment": {"user": 10**9, "ip": 10**9, "all": 10**9},
        "signin_account": {"free": 10**8, "lock_at": 10**9},
        "signin_ip": {"free": 10**8, "lock_at": 10**9},
    }
)


def rate(seconds: float, threads: int, check: Callable[[int, int], None]) -> float:
    """Checks per second over `seconds` from `threads` threads."""
    done = [0] * threads
    stop = threading.Event()

    def work(t: int) -> None:
        n = 0
        while not stop.is_set():
            check(t, n)
            n += 1
        done[t] = n

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


def measure(url: str, limits: Limits, seconds: float, threads: int) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]

    def comment(t: int, n: int) -> None:
        with session_scope(url) as session:
            limits.spend(session, "comment", user=t, ip=f"10.{t}.0.1")

    def sign_in(t: int, n: int) -> None:
        with session_scope(url) as session:
            limits.begin_sign_in(session, f"{run}-{t}@example.org", f"10.{t}.0.1")

    return {
        "comment budget": rate(seconds, threads, comment),
        "sign-in attempt": rate(seconds, threads, sign_in),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite:///{Path(folder) / 'limits.db'}"
        upgrade(sqlite)
        runs: list[tuple[str, dict[str, float]]] = [
            (
                "database, SQLite",
                measure(sqlite, DatabaseLimits(GENEROUS), args.seconds, args.threads),
            )
        ]
        if args.database_url:
            upgrade(args.database_url)
            runs.append(
                (
                    "database, PostgreSQL",
                    measure(
                        args.database_url, DatabaseLimits(GENEROUS), args.seconds, args.threads
                    ),
                )
            )
        if args.redis_url:
            client = redis.Redis.from_url(args.redis_url)
            prefix = f"bench-limits:{uuid.uuid4().hex}"
            limits = RedisLimits(GENEROUS, client, prefix=prefix)
            url = args.database_url or sqlite
            runs.append(("Redis", measure(url, limits, args.seconds, args.threads)))
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
    reference = runs[0][1]
    print(f"{args.threads} threads, {args.seconds:.0f} s each; checks per second (x SQLite)")
    print(f"{'backend':<22}{'comment budget':>24}{'sign-in attempt':>24}")
    for name, found in runs:
        cells = "".join(f"{found[k]:>14.0f} ({found[k] / reference[k]:>5.2f}x)" for k in reference)
        print(f"{name:<22}{cells}")


if __name__ == "__main__":
    main()

"""``newsline worker``, ``newsline scheduler`` and ``newsline dead-letters``: distributed mode.

Distributed mode is on when ``queue_url`` (or ``NEWSLINE_QUEUE_URL``) names a Redis server
and ``database_url`` a PostgreSQL database; see docs/scaling.md. ``newsline fetch --once``
then enqueues a pass for the workers and waits for it (see :mod:`newsline.cli.pipeline`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from newsline.cli.app import CommandError, app, console, prepare_database, settings_of, shown


@app.command()
def worker(
    ctx: typer.Context,
    processes: Annotated[int, typer.Option(min=1, max=256, help="Worker processes.")] = 1,
    threads: Annotated[
        int, typer.Option(min=1, max=256, help="Units each process works on at once.")
    ] = 8,
) -> None:
    """Work on the queue's units (feeds, pages, enrichment, digests, mail) until stopped."""
    from newsline.workers.distributed import run_workers
    from newsline.workers.queue import require_distributed

    settings = settings_of(ctx)
    require_distributed(settings)
    prepare_database(settings)
    run_workers(settings, processes=processes, threads=threads)


@app.command()
def scheduler(
    ctx: typer.Context,
    tick: Annotated[
        float, typer.Option(min=0.5, max=3600, help="Seconds between two looks at what is due.")
    ] = 5.0,
) -> None:
    """Enqueue due feeds, pending pages, enrichment, digest slots and mail (one active at a
    time: others wait and take over when it stops)."""
    from newsline.workers.distributed import run_scheduler
    from newsline.workers.queue import require_distributed

    settings = settings_of(ctx)
    require_distributed(settings)
    prepare_database(settings)
    run_scheduler(settings, tick_seconds=tick)


@app.command("dead-letters")
def dead_letters(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
) -> None:
    """Units that failed their last retry, newest first (feeds and items also show it on
    their own row: ``newsline publications list``)."""
    from redis.exceptions import RedisError

    from newsline.workers.queue import dead_letters as newest
    from newsline.workers.queue import redis_client, require_distributed

    settings = settings_of(ctx)
    require_distributed(settings)
    try:
        rows = newest(redis_client(settings), limit)
    except RedisError as exc:
        raise CommandError(f"cannot read the dead letters from queue_url: {exc}") from exc
    if not rows:
        console.print("no unit has failed for good")
    for row in rows:
        typer.echo(f"{row['at']}  {row['unit']} {row['key']}: {shown(row['error'])}")

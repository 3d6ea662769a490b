"""``newsline fetch`` and ``newsline enrich``: run the pipeline, or its enrichment alone."""

from __future__ import annotations

from typing import Annotated

import typer

from newsline.cli.app import (
    PublicationOption,
    app,
    check_limit,
    console,
    prepare_database,
    settings_of,
)


@app.command()
def fetch(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    publication: PublicationOption = None,
    force: Annotated[bool, typer.Option(help="Refresh feeds even when not yet due.")] = False,
    no_enrich: Annotated[
        bool, typer.Option("--no-enrich", help="Skip the enrichment stage.")
    ] = False,
) -> None:
    """Refresh due feeds, extract and enrich new items, publish and mail due digests; repeat unless --once."""
    import time

    from newsline.workers.pipeline import run_pass
    from newsline.workers.progress import make_reporter

    settings = settings_of(ctx)
    prepare_database(settings)
    if settings.queue_url:  # distributed mode: the workers do the pass, we wait for it
        from newsline.workers.distributed import run_distributed_pass as run_pass
    while True:
        with make_reporter(console) as reporter:
            report = run_pass(
                settings,
                publication=publication,
                force=force,
                reporter=reporter,
                enrich=not no_enrich,
            )
        console.print(report.summary())
        if once:
            return
        time.sleep(settings.scheduler.fetch_every_seconds)


@app.command()
def enrich(
    ctx: typer.Context,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-enrich every ready item (stories rebuilt).")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(help="At most this many items.", callback=check_limit)
    ] = None,
) -> None:
    """Hashtags, summaries, near-duplicates and stories for items not yet enriched."""
    from newsline.workers.pipeline import run_enrich

    settings = settings_of(ctx)
    prepare_database(settings)
    report = run_enrich(settings, rebuild=rebuild, limit=limit)
    console.print(
        f"enriched {report.enriched} items: {report.hashtags} hashtags, "
        f"{report.summaries} summaries ({report.summaries_llm} by LLM, "
        f"{report.summary_fallbacks} fell back), {report.near_duplicates} near-duplicates, "
        f"{report.stories_new} new stories, {report.stories_merged} merged "
        f"in {report.seconds:.1f}s"
    )

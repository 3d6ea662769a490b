"""The front door: ``newsline init | serve | fetch | sources | items | extract | db | ...``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from newsline.config import ConfigError, Settings, config_path, load_settings
from newsline.publish.digest_cli import digest_app
from newsline.testing.cli import replay_app

app = typer.Typer(no_args_is_help=True, help="newsline: news aggregation, digests and community.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
sources_app = typer.Typer(no_args_is_help=True, help="Publications and their feeds.")
app.add_typer(sources_app, name="sources")
items_app = typer.Typer(no_args_is_help=True, help="Inspect and correct items.")
app.add_typer(items_app, name="items")
app.add_typer(replay_app, name="replay")
app.add_typer(digest_app, name="digest")

console = Console(stderr=True)


class State:
    """Per-invocation state: the config path, settings loaded on first use."""

    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error for the user and return the exit to raise."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings for this invocation, or a clean exit when the config is bad."""
    state: State = ctx.obj
    try:
        return state.settings
    except ConfigError as exc:
        raise fail(str(exc)) from exc


@app.callback()
def main_callback(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file (default: $NEWSLINE_CONFIG or ./newsline.toml)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """newsline: news aggregation, digests and community."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("trafilatura", "htmldate", "courlan", "charset_normalizer", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = State(config)


@app.command()
def init(
    ctx: typer.Context,
    slug: Annotated[str, typer.Option(help="Channel slug (URL prefix).")] = "news",
    name: Annotated[str, typer.Option(help="Channel display name.")] = "newsline",
    hometown: Annotated[str, typer.Option(help="Hometown shown in the dateline.")] = "Remer,MN",
    timezone: Annotated[
        str, typer.Option(help="IANA time zone of the channel.")
    ] = "America/Chicago",
    force: Annotated[bool, typer.Option(help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a commented sample config with one channel, and create the database."""
    from newsline.sample_config import sample_config

    state: State = ctx.obj
    path = config_path(state.config)
    if path.exists() and not force:
        console.print(f"{path} exists; keeping it (use --force to overwrite).")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sample_config(slug, name, hometown, timezone), encoding="utf-8")
        console.print(f"wrote {path}")
    state.config = path
    settings = settings_of(ctx)
    _upgrade(settings)
    console.print(f"database ready: {settings.database_url}")


def _upgrade(settings: Settings) -> None:
    from newsline.db.channels import sync_channels
    from newsline.db.engine import session_scope
    from newsline.db.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except Exception as exc:  # any driver error: report it in one line
        raise fail(f"cannot migrate {settings.database_url}: {exc}") from exc
    with session_scope(settings.database_url) as session:
        sync_channels(session, settings)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (idempotent)."""
    settings = settings_of(ctx)
    _upgrade(settings)
    console.print(f"database at head: {settings.database_url}")


# -- sources ------------------------------------------------------------------------------


@sources_app.command("add")
def sources_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="A feed URL, or a home page announcing its feeds.")],
    tag: Annotated[
        str | None, typer.Option(help="Short tag, e.g. nro (default: from the host).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Display name (default: the feed's title).")
    ] = None,
    republish: Annotated[str, typer.Option(help="full (republish the body) or teaser.")] = "teaser",
) -> None:
    """Add a publication by its feed or home page (feeds are discovered from <link rel=alternate>)."""
    import asyncio

    from newsline.ingest.sources import SourceError, add_source

    settings = settings_of(ctx)
    try:
        publication = asyncio.run(
            add_source(settings, url, tag=tag, name=name, republish=republish)
        )
    except SourceError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"added [bold]{publication.tag}[/bold] ({publication.name}), republish={publication.republish}"
    )


@sources_app.command("list")
def sources_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Publications with their feeds and fetch health."""
    import json

    from rich.table import Table

    from newsline.db.engine import session_scope
    from newsline.ingest.sources import list_sources

    settings = settings_of(ctx)
    with session_scope(settings.database_url) as session:
        rows = list_sources(session)
    if as_json:
        out = [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in vars(r).items()}
            for r in rows
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("tag", "name", "mode", "status", "failures", "last fetch", "next", "feed / error")
    for r in rows:
        colour = {"ok": "green", "error": "red"}.get(r.status, "yellow")
        detail = r.feed_url + (f"\n[red]{r.last_error}[/red]" if r.last_error else "")
        table.add_row(
            r.tag,
            r.name,
            r.republish,
            f"[{colour}]{r.status}[/{colour}]"
            + (f" {r.last_status_code}" if r.last_status_code else ""),
            str(r.consecutive_failures),
            r.last_fetched_at.strftime("%Y-%m-%d %H:%M") if r.last_fetched_at else "never",
            r.next_fetch_at.strftime("%Y-%m-%d %H:%M") if r.next_fetch_at else "due",
            detail,
        )
    Console().print(table)


@sources_app.command("remove")
def sources_remove(ctx: typer.Context, tag: str) -> None:
    """Remove a publication, its feeds and its items."""
    from newsline.db.engine import session_scope
    from newsline.ingest.sources import SourceError, remove_source

    settings = settings_of(ctx)
    try:
        with session_scope(settings.database_url) as session:
            remove_source(session, tag)
    except SourceError as exc:
        raise fail(str(exc)) from exc
    console.print(f"removed {tag}")


@sources_app.command("import-opml")
def sources_import_opml(ctx: typer.Context, file: Path) -> None:
    """Add every feed of an OPML file (newsline:tag / newsline:republish attributes honoured)."""
    from newsline.db.engine import session_scope
    from newsline.ingest.sources import SourceError, import_opml

    settings = settings_of(ctx)
    if not file.exists():
        raise fail(f"{file} does not exist")
    try:
        with session_scope(settings.database_url) as session:
            added, present = import_opml(session, settings, file.read_bytes())
    except SourceError as exc:
        raise fail(f"{file}: {exc}") from exc
    console.print(f"imported {added} new feeds ({present} already present)")


@sources_app.command("export-opml")
def sources_export_opml(ctx: typer.Context) -> None:
    """Print all feeds as OPML 2.0."""
    from newsline.db.engine import session_scope
    from newsline.ingest.sources import export_opml

    settings = settings_of(ctx)
    with session_scope(settings.database_url) as session:
        typer.echo(export_opml(session), nl=False)


# -- fetch --------------------------------------------------------------------------------


@app.command()
def fetch(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    source: Annotated[str | None, typer.Option(help="Only this publication tag.")] = None,
    force: Annotated[bool, typer.Option(help="Refresh feeds even when not yet due.")] = False,
    no_enrich: Annotated[
        bool, typer.Option("--no-enrich", help="Skip the enrichment stage.")
    ] = False,
) -> None:
    """Refresh due feeds, fetch and extract new items, enrich them; repeat unless --once."""
    import time

    from newsline.db.lease import LeaseHeld
    from newsline.ingest.refresh import run_fetch
    from newsline.workers.progress import make_reporter

    settings = settings_of(ctx)
    _upgrade(settings)
    while True:
        try:
            with make_reporter(console) as reporter:
                report = run_fetch(
                    settings, source=source, force=force, reporter=reporter, enrich=not no_enrich
                )
        except LeaseHeld as exc:
            raise fail(f"{exc}; try again when it is done") from exc
        console.print(report.summary())
        if once:
            return
        time.sleep(settings.scheduler.fetch_every_seconds)


# -- items --------------------------------------------------------------------------------


@items_app.command("list")
def items_list(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="Only this publication tag.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many items, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one array).")] = False,
    state: Annotated[str, typer.Option(help="ready, pending, duplicate or all.")] = "ready",
) -> None:
    """Items: id, publication, canonical URL, title, author, published, image, caption, language, text."""
    import json

    from rich.table import Table

    from newsline.db.engine import session_scope
    from newsline.db.queries import list_items

    settings = settings_of(ctx)
    with session_scope(settings.database_url) as session:
        rows = list_items(session, source=source, limit=limit, state=state)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "pub", "published", "title", "url")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["publication"],
            (r["published"] or "")[:16],
            r["title"][:70],
            r["canonical_url"] or r["url"],
        )
    Console().print(table)


@items_app.command("retag")
def items_retag(
    ctx: typer.Context,
    item_id: int,
    hashtag: str,
    channel: Annotated[
        str | None, typer.Option(help="Channel slug (default: the default channel).")
    ] = None,
) -> None:
    """Correct an item's hashtag on a channel; the correction trains that channel's tagger."""
    from newsline.enrich.stage import RetagError, retag

    settings = settings_of(ctx)
    try:
        slug = retag(settings, item_id, hashtag, channel)
    except RetagError as exc:
        raise fail(str(exc)) from exc
    console.print(f"item {item_id} on {slug}: #{hashtag.strip().lstrip('#').lower()} (editor)")


@app.command()
def enrich(
    ctx: typer.Context,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-enrich every ready item (stories rebuilt).")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="At most this many items.")] = None,
) -> None:
    """Hashtags, summaries, near-duplicates and stories for items not yet enriched."""
    from newsline.db.lease import LeaseHeld, lease
    from newsline.enrich.stage import enrich_pending

    settings = settings_of(ctx)
    _upgrade(settings)
    try:
        with lease(settings.database_url, "ingest"):
            report = enrich_pending(settings, rebuild=rebuild, limit=limit)
    except LeaseHeld as exc:
        raise fail(f"{exc}; try again when it is done") from exc
    console.print(
        f"enriched {report.enriched} items: {report.hashtags} hashtags, "
        f"{report.summaries} summaries ({report.summaries_llm} by LLM, "
        f"{report.summary_fallbacks} fell back), {report.near_duplicates} near-duplicates, "
        f"{report.stories_new} new stories, {report.stories_merged} merged "
        f"in {report.seconds:.1f}s"
    )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web worker processes.")] = 1,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Serve pages only; run no periodic jobs.")
    ] = False,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (nginx logs them too).")
    ] = False,
) -> None:
    """Serve the site (FastAPI + uvicorn) and run the scheduler (fetch, digests)."""
    settings = settings_of(ctx)
    _upgrade(settings)
    state: State = ctx.obj
    path = config_path(state.config)
    _serve_site(
        settings,
        path if path.exists() else None,
        host=host,
        port=port,
        workers=workers,
        scheduler=not no_scheduler and settings.scheduler.enabled,
        access_log=access_log,
    )


def _serve_site(
    settings: Settings,
    config: Path | None,
    *,
    host: str,
    port: int,
    workers: int = 1,
    scheduler: bool = True,
    access_log: bool = False,
    exit_after: float | None = None,
) -> None:
    """Run uvicorn on the app (and the scheduler beside it) until stopped."""
    import os
    import threading

    import uvicorn

    if config is not None:  # the worker processes load the same file
        os.environ["NEWSLINE_CONFIG"] = str(config.resolve())
    jobs = None
    if scheduler:
        from newsline.workers.scheduler import start_scheduler

        jobs = start_scheduler(settings)
    options = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "access_log": access_log,
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1",
        "server_header": False,
    }
    app_path = "newsline.web.app:create_app_from_env"
    console.print(f"serving at http://{host}:{port} ({workers} worker(s)) — Ctrl-C to stop")
    try:
        if workers > 1:
            uvicorn.run(app_path, **options)  # type: ignore[arg-type]
        else:
            server = uvicorn.Server(uvicorn.Config(app_path, **options))  # type: ignore[arg-type]
            if exit_after is not None:
                timer = threading.Timer(exit_after, lambda: setattr(server, "should_exit", True))
                timer.daemon = True
                timer.start()
            server.run()
    finally:
        if jobs is not None:
            jobs.shutdown(wait=False)


@app.command()
def demo(
    corpus: Annotated[
        Path | None,
        typer.Option(help="A capture corpus to replay instead of the bundled demo publishers."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the demo's database here (default: a temp dir).")
    ] = None,
    exit_after: Annotated[
        float | None, typer.Option(hidden=True, help="Stop serving after this many seconds.")
    ] = None,
) -> None:
    """Everything, offline: replay a web of publishers on loopback, ingest, enrich, digest, serve."""
    import tempfile

    from newsline.testing.corpus import CorpusError
    from newsline.testing.demo import prepare, run_pipeline
    from newsline.testing.democorpus import write_demo_corpus
    from newsline.testing.replay import replay_in_thread

    work = data_dir or Path(tempfile.mkdtemp(prefix="newsline-demo-"))
    corpus_dir = corpus or write_demo_corpus(work / "corpus")
    try:
        with replay_in_thread(corpus_dir) as server:
            console.print(f"replaying {corpus_dir} ({len(server.entries)} URLs) on loopback")
            site = prepare(
                work, server, own_corpus=corpus is None, base_url=f"http://{host}:{port}"
            )
            console.print(run_pipeline(site.settings))
            _serve_site(site.settings, site.config, host=host, port=port, exit_after=exit_after)
    except CorpusError as exc:
        raise fail(f"{corpus_dir}: {exc}") from exc


@app.command("extract")
def extract_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="An HTML file (.gz is decompressed) or a URL.")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The page's URL (relative links resolve against it)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print all fields as JSON.")] = False,
) -> None:
    """Extract one article page: title, author, date, lead image, text, sanitized HTML."""
    import gzip
    import json

    from newsline.ingest.extract import ExtractError, extract

    data: str | bytes
    if source.startswith(("http://", "https://")):
        data, final_url = _fetch_page(settings_of(ctx), source)
        page_url = url or final_url
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise fail(f"cannot read {source}: {exc}") from exc
        page_url = url or path.resolve().as_uri()
    try:
        result = extract(data, page_url)
    except ExtractError as exc:
        raise fail(f"{source}: {exc}") from exc
    fields = result.to_json()
    if as_json:
        typer.echo(json.dumps(fields, indent=2, ensure_ascii=False))
        return
    for key, value in fields.items():
        if key not in ("text", "html") and value not in (None, "", []):
            typer.echo(f"{key}: {value}")
    typer.echo("")
    typer.echo(result.text)


def _fetch_page(settings: Settings, url: str) -> tuple[str | bytes, str]:
    """GET one page with the polite fetcher (robots.txt, SSRF guard, size cap): (body, final URL)."""
    import asyncio

    from newsline.ingest.fetch import Fetcher, FetchError
    from newsline.ingest.refresh import PAGE_ACCEPT, decode_with_header

    async def get() -> tuple[str | bytes, str]:
        async with Fetcher(settings.fetch) as fetcher:
            result = await fetcher.get(url, kind="page", accept=PAGE_ACCEPT)
        body = decode_with_header(result.body, result.headers.get("content-type", ""))
        return body, result.final_url

    try:
        return asyncio.run(get())
    except FetchError as exc:
        raise fail(f"cannot fetch {url}: {exc.reason}") from exc


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""``newsline publications add | list | remove | import-opml | export-opml``.

``newsline sources ...`` is the same group under its old name, kept as a hidden alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from newsline.cli.app import app, console, database_settings, shown

publications_app = typer.Typer(no_args_is_help=True, help="Publications and their feeds.")
app.add_typer(publications_app, name="publications")
app.add_typer(publications_app, name="sources", hidden=True)  # the group's old name


@publications_app.command("add")
def publications_add(
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

    from newsline.ingest.publications import add_from_url

    settings = database_settings(ctx)
    publication = asyncio.run(add_from_url(settings, url, tag=tag, name=name, republish=republish))
    console.print(
        f"added [bold]{shown(publication.tag)}[/bold] ({shown(publication.name)}), "
        f"republish={publication.republish}"
    )


@publications_app.command("list")
def publications_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Publications with their feeds and fetch health."""
    import json

    from rich.table import Table

    from newsline.db.engine import session_scope
    from newsline.ingest.publications import feed_health

    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        rows = feed_health(session)
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
        detail = shown(r.feed_url) + (f"\n[red]{shown(r.last_error)}[/red]" if r.last_error else "")
        if r.websub:  # the feed's WebSub subscription
            detail += f"\npush: {shown(r.websub)}"
        table.add_row(
            shown(r.tag),
            shown(r.name),
            r.republish,
            f"[{colour}]{r.status}[/{colour}]"
            + (f" {r.last_status_code}" if r.last_status_code else ""),
            str(r.consecutive_failures),
            r.last_fetched_at.strftime("%Y-%m-%d %H:%M") if r.last_fetched_at else "never",
            r.next_fetch_at.strftime("%Y-%m-%d %H:%M") if r.next_fetch_at else "due",
            detail,
        )
    Console().print(table)


@publications_app.command("remove")
def publications_remove(ctx: typer.Context, tag: str) -> None:
    """Remove a publication, its feeds and its items."""
    from newsline.db.engine import session_scope
    from newsline.ingest.publications import remove_publication

    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        remove_publication(session, tag)
    console.print(f"removed {shown(tag)}")


@publications_app.command("import-opml")
def publications_import_opml(ctx: typer.Context, file: Path) -> None:
    """Add every feed of an OPML file (newsline:tag / newsline:republish attributes honoured)."""
    from newsline.db.engine import session_scope
    from newsline.ingest.publications import import_opml, read_opml

    settings = database_settings(ctx)
    body = read_opml(file)
    skipped: list[str] = []
    with session_scope(settings.database_url) as session:
        added, present = import_opml(session, settings, body, origin=str(file), skipped=skipped)
    console.print(f"imported {added} new feeds ({present} already present)")
    for line in skipped:
        console.print(f"skipped {shown(line)}")


@publications_app.command("export-opml")
def publications_export_opml(ctx: typer.Context) -> None:
    """Print all feeds as OPML 2.0."""
    from newsline.db.engine import session_scope
    from newsline.ingest.publications import export_opml

    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        typer.echo(export_opml(session), nl=False)

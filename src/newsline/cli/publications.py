"""``newsline publications add | list | remove | pause | resume | set | import-opml |
export-opml``.

``newsline sources ...`` is the same group under its old name, kept as a hidden alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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

    from newsline.community.audit import Actor
    from newsline.publish.editorial import add_publication

    settings = database_settings(ctx)
    publication = asyncio.run(
        add_publication(settings, Actor.cli(), url, tag=tag, name=name, republish=republish)
    )
    console.print(
        f"added [bold]{shown(publication.tag)}[/bold] ({shown(publication.name)}), "
        f"republish={publication.republish}"
    )


#: Terminal columns below which `publications list` prints blocks instead of a table.
WIDE = 120


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
    console = Console()
    if not rows:
        console.print("No publications yet: add one with `newsline publications add URL`.")
        return
    table = Table("tag", "name", "mode", "status", "failures", "last fetch", "next", "feed / error")
    for r in rows:
        colour = {"ok": "green", "error": "red"}.get(r.status, "yellow")
        status = f"[{colour}]{r.status}[/{colour}]" + (
            f" {r.last_status_code}" if r.last_status_code else ""
        )
        last = r.last_fetched_at.strftime("%Y-%m-%d %H:%M") if r.last_fetched_at else "never"
        due = r.next_fetch_at.strftime("%Y-%m-%d %H:%M") if r.next_fetch_at else "due"
        error = f"[red]{shown(r.last_error)}[/red]" if r.last_error else ""
        push = f"push: {shown(r.websub)}" if r.websub else ""  # the feed's WebSub subscription
        if console.width < WIDE:
            # A narrow terminal (or a pipe's 80 columns) would cut a table's addresses off:
            # one block per publication instead, its lines never cut.
            lines = [
                f"[bold]{shown(r.tag)}[/bold]  {shown(r.name)}  ({r.republish})",
                f"  {status} · {r.consecutive_failures} failures · last fetch {last} · next {due}",
                f"  feed: {shown(r.feed_url)}",
                *(f"  {extra}" for extra in (error, push) if extra),
            ]
            for line in lines:
                console.print(line, soft_wrap=True)
            continue
        table.add_row(
            shown(r.tag),
            shown(r.name),
            r.republish,
            status,
            str(r.consecutive_failures),
            last,
            due,
            "\n".join(x for x in (shown(r.feed_url), error, push) if x),
        )
    if console.width >= WIDE:
        console.print(table)


@publications_app.command("remove")
def publications_remove(
    ctx: typer.Context,
    tag: str,
    keep_items: Annotated[
        bool, typer.Option("--keep-items", help="Its items stay on the site.")
    ] = False,
    hide_items: Annotated[
        bool,
        typer.Option("--hide-items", help="Its items are unpublished (each one restorable)."),
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Stop carrying a publication: its feeds go; its items are kept or hidden, never deleted
    (a publication with no item at all is deleted outright)."""
    from newsline.cli.app import CommandError
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import remove_publication

    if keep_items and hide_items:
        raise CommandError("choose one of --keep-items and --hide-items")
    items: Literal["keep", "hide"] | None = "keep" if keep_items else "hide" if hide_items else None
    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        removal = remove_publication(session, Actor.cli(), tag, items, reason)
    if removal.deleted:
        console.print(f"removed {shown(tag)} (it had no items)")
    elif removal.hidden:
        console.print(f"removed {shown(tag)}; {removal.hidden} of its items unpublished")
    else:
        console.print(f"removed {shown(tag)}; its {removal.items} items stay on the site")


@publications_app.command("pause")
def publications_pause(
    ctx: typer.Context,
    tag: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Stop fetching a publication's feeds until ``publications resume``."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import pause_publication

    with session_scope(database_settings(ctx).database_url) as session:
        pause_publication(session, Actor.cli(), tag, reason)
    console.print(f"paused {shown(tag)}")


@publications_app.command("resume")
def publications_resume(
    ctx: typer.Context,
    tag: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Fetch a paused publication's feeds again (at the next pass)."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import resume_publication

    with session_scope(database_settings(ctx).database_url) as session:
        resume_publication(session, Actor.cli(), tag, reason)
    console.print(f"resumed {shown(tag)}")


@publications_app.command("set")
def publications_set(
    ctx: typer.Context,
    tag: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    icon: Annotated[str | None, typer.Option(help="Icon URL ('' removes it).")] = None,
    republish: Annotated[str | None, typer.Option(help="full or teaser.")] = None,
    new_tag: Annotated[str | None, typer.Option("--tag", help="A new tag.")] = None,
) -> None:
    """Change a publication's name, icon, republish mode or tag."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import update_publication

    with session_scope(database_settings(ctx).database_url) as session:
        publication = update_publication(
            session,
            Actor.cli(),
            tag,
            name=name,
            icon_url=icon,
            republish=republish,
            new_tag=new_tag,
        )
        line = f"{publication.tag} ({publication.name}), republish={publication.republish}"
    console.print(shown(line))


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

"""``newsline items list | retag | unpublish | republish | include-next | exclude-digest |
pin | edit``: inspect stored items and make the editors' choices (each one audited)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.console import Console

from newsline.cli.app import (
    PublicationOption,
    app,
    check_limit,
    console,
    database_settings,
    shown,
)
from newsline.text import printable

items_app = typer.Typer(no_args_is_help=True, help="Inspect and correct items.")
app.add_typer(items_app, name="items")


@items_app.command("list")
def items_list(
    ctx: typer.Context,
    publication: PublicationOption = None,
    limit: Annotated[
        int, typer.Option(help="At most this many items, newest first.", callback=check_limit)
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one array).")] = False,
    state: Annotated[
        str, typer.Option(help="ready, pending, duplicate, unpublished or all.")
    ] = "ready",
) -> None:
    """Items: id, publication, canonical URL, title, author, published, image, caption, language, text."""
    import json

    from rich.table import Table

    from newsline.db.engine import session_scope
    from newsline.db.queries import list_items

    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        rows = list_items(session, source=publication, limit=limit, state=state)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "publication", "published", "title", "url")
    for r in rows:
        table.add_row(
            str(r["id"]),
            shown(r["publication"]),
            (r["published"] or "")[:16],
            shown(printable(r["title"])[:70]),
            shown(r["canonical_url"] or r["url"]),
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
    from newsline.community.audit import Actor
    from newsline.publish.editorial import retag

    slug = retag(database_settings(ctx), Actor.cli(), item_id, hashtag, channel)
    console.print(
        f"item {item_id} on {slug}: #{shown(hashtag.strip().lstrip('#').lower())} (editor)"
    )


ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


@items_app.command("unpublish")
def items_unpublish(ctx: typer.Context, item_id: int, reason: ReasonOption = "") -> None:
    """Withdraw an item: gone from every page, list, feed, sitemap, API answer, search and
    future Digest; its page answers 410. ``items republish`` undoes it."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import unpublish

    with session_scope(database_settings(ctx).database_url) as session:
        item = unpublish(session, Actor.cli(), item_id, reason)
        title = item.title
    console.print(f"item {item_id} unpublished: {shown(printable(title)[:70])}")


@items_app.command("republish")
def items_republish(ctx: typer.Context, item_id: int, reason: ReasonOption = "") -> None:
    """Publish an unpublished item again, where it was."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import republish

    with session_scope(database_settings(ctx).database_url) as session:
        item = republish(session, Actor.cli(), item_id, reason)
        title = item.title
    console.print(f"item {item_id} republished: {shown(printable(title)[:70])}")


UndoOption = Annotated[bool, typer.Option("--undo", help="Let the Digest decide again.")]


def _digest_choice(
    ctx: typer.Context,
    item_id: int,
    choice: Literal["include", "exclude"],
    done: str,
    reason: str,
    undo: bool,
) -> None:
    """Record an editor's Digest `choice` for an item (None with --undo) and say `done`."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import set_digest_choice

    with session_scope(database_settings(ctx).database_url) as session:
        set_digest_choice(session, Actor.cli(), item_id, None if undo else choice, reason)
    console.print(f"item {item_id}: " + ("the Digest decides" if undo else done))


@items_app.command("include-next")
def items_include_next(
    ctx: typer.Context, item_id: int, reason: ReasonOption = "", undo: UndoOption = False
) -> None:
    """Put the item in the next Digest, whatever its window."""
    _digest_choice(ctx, item_id, "include", "in the next Digest", reason, undo)


@items_app.command("exclude-digest")
def items_exclude_digest(
    ctx: typer.Context, item_id: int, reason: ReasonOption = "", undo: UndoOption = False
) -> None:
    """Keep the item out of every Digest (it stays on the site)."""
    _digest_choice(ctx, item_id, "exclude", "never in a Digest", reason, undo)


@items_app.command("pin")
def items_pin(
    ctx: typer.Context,
    item_id: int,
    hours: Annotated[
        float, typer.Option("--hours", help="How long it leads the front page (0 unpins).")
    ] = 6.0,
    reason: ReasonOption = "",
) -> None:
    """Lead the front page with the item for --hours."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import pin

    with session_scope(database_settings(ctx).database_url) as session:
        item = pin(session, Actor.cli(), item_id, hours, reason)
        until = item.pinned_until
    if until is None:
        console.print(f"item {item_id} unpinned")
    else:
        console.print(f"item {item_id} pinned until {until.isoformat(timespec='minutes')}")


@items_app.command("edit")
def items_edit(
    ctx: typer.Context,
    item_id: int,
    title: Annotated[str | None, typer.Option(help="The title shown.")] = None,
    summary: Annotated[str | None, typer.Option(help="The summary shown.")] = None,
    revert: Annotated[
        bool, typer.Option("--revert", help="Show the original title and summary again.")
    ] = False,
    reason: ReasonOption = "",
) -> None:
    """Rewrite the title and/or summary readers see; the originals are kept."""
    from newsline.cli.app import CommandError
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import edit, revert_edit

    if revert and (title is not None or summary is not None):
        raise CommandError("--revert takes no --title or --summary")
    if not revert and title is None and summary is None:
        raise CommandError("give --title and/or --summary (or --revert)")
    with session_scope(database_settings(ctx).database_url) as session:
        if revert:
            item = revert_edit(session, Actor.cli(), item_id, reason)
        else:
            item = edit(session, Actor.cli(), item_id, title=title, summary=summary, reason=reason)
        shown_title = item.title
    console.print(f"item {item_id}: {shown(printable(shown_title)[:70])}")

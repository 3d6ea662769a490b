"""``newsline items list | retag``: inspect stored items and correct their hashtags."""

from __future__ import annotations

from typing import Annotated

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
    state: Annotated[str, typer.Option(help="ready, pending, duplicate or all.")] = "ready",
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
    from newsline.enrich.stage import retag

    slug = retag(database_settings(ctx), item_id, hashtag, channel)
    console.print(
        f"item {item_id} on {slug}: #{shown(hashtag.strip().lstrip('#').lower())} (editor)"
    )

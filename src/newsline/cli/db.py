"""``newsline init`` and ``newsline db upgrade``: the config file and the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from newsline.cli.app import app, console, prepare_database, settings_of, shown, state_of
from newsline.config import config_path

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")


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

    state = state_of(ctx)
    path = config_path(state.config)
    if path.exists() and not force:
        console.print(f"{shown(path)} exists; keeping it (use --force to overwrite).")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sample_config(slug, name, hometown, timezone), encoding="utf-8")
        console.print(f"wrote {shown(path)}")
    state.config = path
    settings = state.settings
    prepare_database(settings)
    console.print(f"database ready: {shown(settings.database_url)}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (idempotent)."""
    settings = settings_of(ctx)
    prepare_database(settings)
    console.print(f"database at head: {shown(settings.database_url)}")

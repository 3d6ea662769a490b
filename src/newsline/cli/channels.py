"""``newsline channels show | set | reset``: a channel's settings as the console changes them.

A value set here (or in the console) is kept in the database and wins over the config
file's; ``reset`` goes back to the file's. Both are audited.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from newsline.cli.app import CommandError, app, console, database_settings, shown
from newsline.text import printable

channels_app = typer.Typer(no_args_is_help=True, help="Channel settings (the console's).")
app.add_typer(channels_app, name="channels")

KeyArgument = Annotated[
    str,
    typer.Argument(
        help="display_name, hometown, timezone, digest.schedule, sponsor (JSON) or hashtags (JSON)."
    ),
]


@channels_app.command("show")
def show(ctx: typer.Context, slug: str) -> None:
    """Each setting the console may change: the file's value, the stored one, which wins."""
    from newsline.db.channels import OVERRIDABLE, channel_settings, stored_overrides
    from newsline.db.engine import session_scope

    settings = database_settings(ctx)
    cfg = channel_settings(settings, slug)
    with session_scope(settings.database_url) as session:
        stored = stored_overrides(session).get(slug, {})
    for key in OVERRIDABLE:
        value: Any = cfg
        for name in key.split("."):
            value = getattr(value, name)
        if hasattr(value, "model_dump"):
            value = value.model_dump()
        elif isinstance(value, list):
            value = [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
        file_value = json.dumps(value, ensure_ascii=False)
        line = f"{key}\tfile: {file_value}"
        if key in stored:
            line += f"\tstored (wins): {json.dumps(stored[key], ensure_ascii=False)}"
        typer.echo(printable(line))


@channels_app.command("set")
def set_value(ctx: typer.Context, slug: str, key: KeyArgument, value: str) -> None:
    """Store a setting that wins over the config file's (validated first; audited)."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import set_channel_setting

    parsed: Any = value
    if key in ("sponsor", "hashtags"):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise CommandError(f"{key} takes JSON: {exc}") from exc
    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        set_channel_setting(session, settings, Actor.cli(), slug, key, parsed)
    console.print(f"{shown(slug)}: {shown(key)} set; it wins over the config file")


@channels_app.command("reset")
def reset(ctx: typer.Context, slug: str, key: KeyArgument) -> None:
    """Forget a stored setting: the config file's value applies again (audited)."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import clear_channel_setting

    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        clear_channel_setting(session, settings, Actor.cli(), slug, key)
    console.print(f"{shown(slug)}: {shown(key)} is the config file's again")

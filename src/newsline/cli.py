"""The front door: ``newsline init | serve | fetch | sources | items | extract | db | ...``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from newsline.config import ConfigError, Settings, config_path, load_settings

app = typer.Typer(no_args_is_help=True, help="newsline: news aggregation, digests and community.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")

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
        typer.Option("--config", "-c", help="Config file (default: $NEWSLINE_CONFIG or ./newsline.toml)."),
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
    timezone: Annotated[str, typer.Option(help="IANA time zone of the channel.")] = "America/Chicago",
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

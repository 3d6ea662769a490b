"""The typer app every command group registers on, with what they share.

The console, logging, the settings of one invocation, and the one error handler: a
:class:`~newsline.errors.NewslineError` raised anywhere below a command is printed here as
one red ``error: ...`` line on stderr (exit status 1). Commands therefore catch nothing.
Heavy imports stay inside the commands so that ``newsline --help`` stays fast.

Whatever came from outside (a publisher's titles and URLs, a subscriber's address, an error
quoting them) is printed through :func:`shown`: no rich markup, no terminal control sequences.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from newsline.config import Settings, load_settings
from newsline.errors import NewslineError
from newsline.text import printable

log = logging.getLogger("newsline.cli")

console = Console(stderr=True)

#: Loggers of libraries that are chatty at INFO.
QUIET_LOGGERS = ("trafilatura", "htmldate", "courlan", "charset_normalizer", "alembic")

#: The most rows a ``--limit`` may ask for.
MAX_LIMIT = 1_000_000


class CommandError(NewslineError):
    """A command's own check failed: a missing file, a malformed option, a feature not enabled."""


class FrontDoor(TyperGroup):
    """The top-level group: runs the chosen command and reports a NewslineError once."""

    def invoke(self, ctx: Any) -> Any:  # Any: the Context of the click copy typer vendors
        try:
            return super().invoke(ctx)
        except NewslineError as exc:
            log.debug("command failed", exc_info=exc)  # the traceback, for --verbose
            message = " ".join(str(exc).splitlines())  # one line, whatever the message quotes
            console.print(f"[red]error:[/red] {shown(message)}", soft_wrap=True, highlight=False)
            raise typer.Exit(1) from exc


def shown(value: object) -> str:
    """Outside data (publisher, subscriber, error) for a rich markup string or table cell:
    control characters and escape sequences stripped, brackets escaped, so it prints verbatim."""
    return escape(printable(str(value)))


app = typer.Typer(
    cls=FrontDoor,
    no_args_is_help=True,
    help="newsline: news aggregation, digests and community.",
)


#: ``--publication TAG``, also spelled ``--source TAG`` (the option's old name).
PublicationOption = Annotated[
    str | None,
    typer.Option("--publication", "--source", help="Only this publication tag."),
]


def check_limit(value: int | None) -> int | None:
    """``--limit``: a positive number of rows within reason (``callback=`` of the option)."""
    if value is not None and not 1 <= value <= MAX_LIMIT:
        raise CommandError(f"--limit must be between 1 and {MAX_LIMIT:,}, not {value}")
    return value


class State:
    """Per-invocation state: the config path, settings loaded on first use."""

    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The settings (a :class:`~newsline.config.ConfigError` when the file is bad or names
        a missing file)."""
        if self._settings is None:
            settings = load_settings(self.config)
            settings.check_files()
            self._settings = settings
        return self._settings


def state_of(ctx: typer.Context) -> State:
    """This invocation's :class:`State` (set by the top-level callback)."""
    state: State = ctx.obj
    return state


def settings_of(ctx: typer.Context) -> Settings:
    """The settings of this invocation, loaded on first use."""
    return state_of(ctx).settings


def database_settings(ctx: typer.Context) -> Settings:
    """The settings, once their database is known to hold newsline's tables: for commands that
    use the database without creating it (``init`` and ``db upgrade`` do that)."""
    from sqlalchemy.exc import SQLAlchemyError

    from newsline.db.migrate import current

    settings = settings_of(ctx)
    try:
        revision = current(settings.database_url)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise CommandError(f"cannot open the database: {reason}") from exc
    if revision is None:
        raise CommandError(
            "the database has no newsline tables yet: run `newsline init` "
            "(or `newsline db upgrade` with your config file)"
        )
    return settings


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
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = State(config)


def prepare_database(settings: Settings) -> None:
    """Apply pending migrations and create the configured channels' rows (idempotent; one
    process at a time, so servers and workers may start together)."""
    from newsline.db.channels import sync_channels
    from newsline.db.engine import session_scope
    from newsline.db.migrate import one_at_a_time, upgrade

    with one_at_a_time(settings.database_url):
        upgrade(settings.database_url)
        with session_scope(settings.database_url) as session:
            sync_channels(session, settings)

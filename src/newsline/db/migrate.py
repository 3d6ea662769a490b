"""Alembic, driven from code: ``newsline db upgrade`` and ``newsline init`` call this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from newsline.errors import NewslineError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class MigrationError(NewslineError):
    """The database cannot be reached or brought up to date."""


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema up to date (idempotent); :class:`MigrationError` if not."""
    try:
        command.upgrade(alembic_config(url), revision)
    except Exception as exc:  # any driver or Alembic error: one line for the operator
        raise MigrationError(f"cannot migrate {url}: {exc}") from exc


def current(url: str) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    from newsline.db.engine import engine_for

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

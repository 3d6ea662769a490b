"""Alembic, driven from code: ``newsline db upgrade`` and ``newsline init`` call this."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

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


#: The PostgreSQL advisory lock key :func:`one_at_a_time` takes (any fixed 64-bit number
#: nothing else in the database uses; this one is "newsline" in ASCII).
PREPARE_LOCK = 0x6E6577736C696E65


@contextmanager
def one_at_a_time(url: str) -> Iterator[None]:
    """Let one process at a time bring this database up to date: servers and workers that
    start together (``serve`` on two machines, a worker fleet after an upgrade) would
    otherwise run the same migration or insert the same channel rows at once, and all but
    one would fail. PostgreSQL: a session advisory lock; SQLite: a lock on a file beside
    the database (every process on it shares the machine)."""
    from newsline.db.engine import engine_for

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if not parsed.database or parsed.database == ":memory:":
            yield
            return
        lock_path = Path(f"{parsed.database}.prepare-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield
        return
    try:
        conn = engine_for(url).connect()
    except Exception as exc:  # the driver's own error: one line for the operator
        raise MigrationError(f"cannot migrate {url}: {exc}") from exc
    with conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PREPARE_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PREPARE_LOCK})
            conn.commit()


def current(url: str) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    from newsline.db.engine import engine_for

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

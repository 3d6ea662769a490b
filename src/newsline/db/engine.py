"""Engines and sessions: SQLite (WAL, foreign keys on) by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Every session that writes what the reader's pages show bumps the data version.
from newsline.db import data_version  # noqa: F401

_ENGINES: dict[str, Engine] = {}
#: Connections a PostgreSQL engine pools (kept open, then allowed beyond that), per process.
_POOL = {"size": 10, "overflow": 10}


def size_pool(size: int, overflow: int | None = None) -> None:
    """Size the PostgreSQL pools of engines made from now on in this process: a worker
    process holds about one connection per thread, a web worker fewer."""
    _POOL["size"] = max(1, size)
    _POOL["overflow"] = max(0, size if overflow is None else overflow)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()


def engine_for(url: str) -> Engine:
    """The (cached) engine for a database URL."""
    engine = _ENGINES.get(url)
    if engine is not None:
        return engine
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.drivername in ("postgresql", "postgresql+psycopg", "postgres"):
        engine = create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            pool_size=_POOL["size"],
            max_overflow=_POOL["overflow"],
        )
    else:
        raise ValueError(
            f"unsupported database URL {parsed.drivername!r}: use sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/DB"
        )
    _ENGINES[url] = engine
    return engine


def dispose_all() -> None:
    """Close every pooled connection (tests, forks)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = sessionmaker(engine_for(url), expire_on_commit=False)
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

"""A throwaway PostgreSQL database on the cluster the test command started."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

#: The cluster `scripts/test` started (empty: none, the PostgreSQL tests skip).
PG_URL = os.environ.get("NEWSLINE_TEST_PG_URL", "")


@contextmanager
def migrated_database(prefix: str = "nl", *, migrate: bool = True) -> Iterator[str]:
    """A new database migrated to the newest schema (left empty with ``migrate=False``);
    its URL, and dropped afterwards."""
    import psycopg

    from newsline.db.engine import dispose_all
    from newsline.db.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_URL.rpartition('/')[0]}/{name}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        dispose_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

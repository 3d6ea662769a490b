"""Hot reads on the database driver's own cursor.

SQLAlchemy's statement and result machinery cost several times a small read; the few reads
made on every signed-in page (the viewer, their choices) run prebuilt SQL here instead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r":([a-z_]+)")


@lru_cache(maxsize=64)
def _driver_sql(sql: str, dialect: str) -> str:
    # sqlite3 takes ``:name`` as it is; psycopg takes ``%(name)s``.
    return sql if dialect == "sqlite" else _NAMED.sub(r"%(\1)s", sql)


def raw_rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """The rows of a hot read on the driver's own cursor (``:name`` parameters). Stamps come
    back as the driver gives them (SQLite: text; ``web.queries.aware`` converts them)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_driver_sql(sql, conn.dialect.name), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()

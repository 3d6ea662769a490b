"""The migrations build exactly the schema the models describe, and undo it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from newsline.db.engine import engine_for
from newsline.db.migrate import alembic_config, current, upgrade
from newsline.db.models import Base

pytestmark = pytest.mark.postgres


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    with engine_for(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Full-text search lives outside the models: an FTS5 table (SQLite), a generated column (PG).
    diff = [
        d
        for d in diff
        if not any("item_fts" in str(part) or "search_vector" in str(part) for part in d)
    ]
    assert diff == []


def test_upgrade_is_idempotent_and_downgrade_empties(database_url: str) -> None:
    upgrade(database_url)
    assert current(database_url) is not None
    command.downgrade(alembic_config(database_url), "base")
    tables = set(inspect(engine_for(database_url)).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade(database_url)
    assert "item" in inspect(engine_for(database_url)).get_table_names()


def test_the_audit_log_is_append_only(database_url: str) -> None:
    engine = engine_for(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_entry (at, actor, action, target_type, target_id, reason,"
                " detail) VALUES (:at, 'cli:root', 'item.unpublish', 'item', '1', 'test', '{}')"
            ),
            {"at": datetime.now(UTC).replace(tzinfo=None)},
        )
    for statement in ("UPDATE audit_entry SET reason = 'rewritten'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT reason FROM audit_entry")).scalars().all() == ["test"]

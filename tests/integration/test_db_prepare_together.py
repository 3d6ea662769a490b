"""Servers and workers that start together each bring the database up to date first
(`prepare_database`: migrations, then the configured channels' rows). Started at the same
moment on a new database, every one of them must succeed and the rows exist once: before
`db.migrate.one_at_a_time`, all but one could fail on a duplicate channel or membership row
(seen in CI: a `serve` process of a pair exiting with 1)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsline.db.engine import dispose_all, engine_for
from newsline.db.migrate import current
from newsline.db.models import Channel, Newsline, Publication
from tests.support.pg import migrated_database

pytestmark = pytest.mark.postgres

PROCESSES = 4
CONFIG = """
[[channels]]
slug = "news"
display_name = "Harbor News"
[[channels]]
slug = "sports"
display_name = "Harbor Sports"
"""


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as `database_url`, without any table yet."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty' / 'newsline.db'}"
        dispose_all()
        return
    with migrated_database("nl_prepare", migrate=False) as url:
        yield url


def test_processes_starting_together_all_prepare_one_database(
    empty_database: str, tmp_path: Path
) -> None:
    config = tmp_path / "newsline.toml"
    config.write_text(
        f'database_url = "{empty_database}"\ndata_dir = "{tmp_path}"\n{CONFIG}', encoding="utf-8"
    )
    command = [sys.executable, "-m", "newsline.cli", "--config", str(config), "db", "upgrade"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(PROCESSES)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * PROCESSES, "\n".join(outputs)
    assert current(empty_database) is not None
    with Session(engine_for(empty_database)) as session:
        assert sorted(session.scalars(select(Channel.slug))) == ["news", "sports"]
        assert session.scalar(select(func.count()).select_from(Publication)) == 2  # their own
        assert session.scalar(select(func.count()).select_from(Newsline)) == 2

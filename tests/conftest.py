"""Shared fixtures: real SQLite files (and PostgreSQL when the test command started one),
a real SMTP server on loopback. Helpers that tests import live in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import PROJECT_ROOT
from tests.support.mail import Inbox, smtp_server
from tests.support.pg import PG_URL, migrated_database

# Never pick up a developer's ./newsline.toml: tests build their settings explicitly.
os.environ["NEWSLINE_CONFIG"] = str(PROJECT_ROOT / "tests" / "no-config.toml")

# Under pytest-xdist each worker process has a Redis database of its own: tests empty
# theirs (FLUSHDB) and must not empty another worker's.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker and os.environ.get("NEWSLINE_TEST_REDIS_URL"):
    _redis_server = os.environ["NEWSLINE_TEST_REDIS_URL"].rpartition("/")[0]
    _redis_db = 1 + int(_xdist_worker.removeprefix("gw"))
    os.environ["NEWSLINE_TEST_REDIS_URL"] = f"{_redis_server}/{_redis_db}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests marked `postgres` that use `database_url` run on SQLite and, when the test
    # command started a PostgreSQL cluster, a second time on it.
    if "database_url" in metafunc.fixturenames:
        backends = ["sqlite"]
        if PG_URL and metafunc.definition.get_closest_marker("postgres"):
            backends.append("postgresql")
        metafunc.parametrize("database_url", backends, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database: a SQLite file, or a new PostgreSQL database."""
    from newsline.db.engine import dispose_all
    from newsline.db.migrate import upgrade

    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'newsline.db'}"
        upgrade(url)
        yield url
        dispose_all()
        return
    with migrated_database() as url:
        yield url


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Any:
    """Build Settings for the test database, with overrides as keyword arguments."""
    from newsline.config import load_settings

    def build(**overrides: Any) -> Any:
        overrides.setdefault("database_url", database_url)
        overrides.setdefault("data_dir", str(tmp_path))
        return load_settings(None, **overrides)

    return build


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port; the test reads what arrived."""
    with smtp_server() as inbox:
        yield inbox


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Playwright's sync API keeps an event loop running in the main thread while its
    # session-wide browser is open; asyncio tests cannot run after it, so browsers go last.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)

"""A channel setting changed from the console (or `newsline channels set`) reaches every
process on the database within seconds, not at restart: two app instances (as `serve
--workers 2` runs them) and the pipeline's next pass."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsline.cli import app as cli
from newsline.db.engine import session_scope
from newsline.db.models import Channel
from newsline.web.app import create_app
from newsline.workers.pipeline import run_pass
from tests.support.webdata import seed

pytestmark = pytest.mark.postgres

#: How long a process may take to see the change: generous, the check is every second.
WAIT_SECONDS = 20.0


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(web={"base_url": "http://testserver", "render_cache_seconds": 0})


@pytest.fixture
def config(settings: Any, tmp_path: Path) -> Path:
    path = tmp_path / "newsline.toml"
    path.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    return path


def run(config: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output


def eventually_shows(client: TestClient, path: str, text: str) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if text in client.get(path).text:
            return True
        time.sleep(0.2)
    return False


def test_a_setting_saved_elsewhere_reaches_every_app_instance(settings: Any, config: Path) -> None:
    seed(settings)
    channel = settings.channels[0]
    front = f"/{channel.slug}/"
    one = TestClient(create_app(settings))
    two = TestClient(create_app(settings))
    for client in (one, two):
        page = client.get(front)
        assert page.status_code == 200 and channel.hometown in page.text  # it can fail
        assert "Bemidji,MN" not in page.text

    run(config, "channels", "set", channel.slug, "hometown", "Bemidji,MN")
    assert eventually_shows(one, front, "Bemidji,MN")
    assert eventually_shows(two, front, "Bemidji,MN")

    # Clearing it (the file's value again) reaches them too: a clear changes no timestamp.
    run(config, "channels", "reset", channel.slug, "hometown")
    for client in (one, two):
        deadline = time.monotonic() + WAIT_SECONDS
        while "Bemidji,MN" in client.get(front).text and time.monotonic() < deadline:
            time.sleep(0.2)
        page = client.get(front)
        assert "Bemidji,MN" not in page.text and channel.hometown in page.text


def test_the_pipelines_next_pass_uses_the_console_settings(settings: Any, config: Path) -> None:
    seed(settings)
    channel = settings.channels[0]
    run(config, "channels", "set", channel.slug, "display_name", "The Bemidji Wire")
    run_pass(settings, enrich=False, publish=False)
    with session_scope(settings.database_url) as session:
        row = session.scalar(select(Channel).where(Channel.slug == channel.slug))
        assert row is not None and row.display_name == "The Bemidji Wire"

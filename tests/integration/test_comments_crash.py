"""`kill -9` of `newsline serve` while readers post comments: no acknowledged comment is lost,
and the item's comment count matches its comments afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.config import Settings
from newsline.db.engine import dispose_all, engine_for
from newsline.db.models import Comment, Item
from newsline.testing.authors import Authors
from tests.support.ports import free_port, wait_for_port
from tests.support.webdata import seed

pytestmark = pytest.mark.postgres

AUTHORS = 12
PASSWORD = "harbour lights at dusk 1987"


def test_sigkill_while_posting_loses_no_acknowledged_comment(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(web={"base_url": base})
    item_id = seed(settings).items["harbor-0"]
    with Session(engine_for(settings.database_url)) as session, session.begin():
        for n in range(AUTHORS):
            accounts.create_user(
                session, f"author{n}@example.org", PASSWORD, f"Author {n}", verified=True
            )
    dispose_all()
    config = tmp_path / "serve.toml"
    config.write_text(
        f'database_url = "{settings.database_url}"\ndata_dir = "{tmp_path}"\n'
        f'[web]\nbase_url = "{base}"\n',
        encoding="utf-8",
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsline.cli",
            "--config",
            str(config),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-scheduler",
        ],
        env={**os.environ, "NEWSLINE_CONFIG": str(config)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # Twelve authors, each from its own address, post until the server is killed.
    authors = Authors(base, item_id, AUTHORS, password=PASSWORD)
    try:
        wait_for_port(port, proc, log=tmp_path / "serve.log")
        authors.start()
        deadline = time.monotonic() + 60
        while len(authors.acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait(timeout=20)
        authors.stop.set()
        authors.wait(timeout=20)
    finally:
        authors.stop.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    acknowledged = authors.acknowledged
    # Concurrent writers must queue, not fail.
    failures = [status for status in authors.statuses if status >= 500]
    assert len(acknowledged) >= 60 and failures == []
    with Session(engine_for(settings.database_url)) as session:
        stored = dict(
            session.execute(
                select(Comment.id, Comment.body).where(Comment.id.in_(list(acknowledged)))
            ).all()
        )
        assert stored == acknowledged
        published = session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.item_id == item_id, Comment.status == "published")
        )
        assert session.scalar(select(Item.comment_count).where(Item.id == item_id)) == published

"""A fetch killed with SIGKILL mid-run, then run again: no duplicate and no missing item."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import func, select

from newsline.db.engine import session_scope
from newsline.db.migrate import upgrade
from newsline.db.models import Item
from newsline.testing.corpus import CorpusWriter
from newsline.testing.replay import replay_in_thread

PAGES = 40


def corpus(root: Path) -> Path:
    w = CorpusWriter(root)
    site = "https://steady.example"
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>Story number {n}</title><link>{site}/story/{n}</link>"
        f"<guid isPermaLink='false'>s-{n}</guid><pubDate>{format_datetime(now)}</pubDate>"
        f"<description>Teaser {n}</description></item>"
        for n in range(PAGES)
    )
    w.add(
        f"{site}/feed",
        f"<rss version='2.0'><channel><title>Steady</title>{items}</channel></rss>".encode(),
        content_type="application/rss+xml",
    )
    for n in range(PAGES):
        paragraphs = "".join(
            f"<p>Paragraph {k} of story {n}: the town council met again to discuss the budget for the coming year.</p>"
            for k in range(6)
        )
        page = f"<html><head><title>Story number {n}</title></head><body><article><h1>Story number {n}</h1>{paragraphs}</article></body></html>"
        w.add(f"{site}/story/{n}", page.encode(), content_type="text/html")
    return w.finish()


def counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as s:
        total = s.scalar(select(func.count()).select_from(Item)) or 0
        ready = s.scalar(select(func.count()).select_from(Item).where(Item.state == "ready")) or 0
        distinct = s.scalar(select(func.count(func.distinct(Item.url)))) or 0
    return total, ready, distinct


def test_sigkill_mid_run_then_rerun_finishes_exactly_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    upgrade(db)
    config = tmp_path / "newsline.toml"
    config.write_text(
        f'database_url = "{db}"\n[fetch]\nmin_host_delay = 0.15\nper_host_concurrency = 2\n',
        encoding="utf-8",
    )
    with replay_in_thread(corpus(tmp_path / "corpus")) as server:
        env = {**os.environ, **server.settings_env(), "NEWSLINE_CONFIG": str(config)}
        cli = [sys.executable, "-m", "newsline.cli"]
        subprocess.run(
            [*cli, "publications", "add", "https://steady.example/feed", "--tag", "steady"],
            env=env,
            check=True,
            capture_output=True,
        )

        proc = subprocess.Popen(
            [*cli, "fetch", "--once", "--no-enrich"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _total, ready, _ = counts(db)
            if ready >= 5:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        total, ready, _ = counts(db)
        assert total == PAGES, "the feed's entries are stored in one transaction"
        assert 5 <= ready < PAGES, "the kill must land mid-run for this test to mean anything"

        again = subprocess.run(
            [*cli, "fetch", "--once", "--no-enrich", "--force"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stderr

    total, ready, distinct = counts(db)
    assert (total, ready, distinct) == (PAGES, PAGES, PAGES)
    with session_scope(db) as s:
        slugs = list(s.scalars(select(Item.slug)))
        texts = list(s.scalars(select(Item.body_text)))
    assert len(set(slugs)) == PAGES
    assert all("town council" in t for t in texts)

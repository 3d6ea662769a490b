"""The orchestrator (workers/pipeline.py): one pass runs every stage, in order, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from newsline.cli import app
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item
from newsline.workers.pipeline import run_pass
from tests.support.digest_seed import Seeder

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)


def digests(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(Digest)) or 0)


def test_a_pass_enriches_then_publishes_the_due_digest(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    seed = Seeder(settings)
    seed.item("alpha", SLOT - timedelta(minutes=20), title="Ferry service resumes on the river")
    seed.item("beta", SLOT - timedelta(minutes=10), title="Council passes the harbour budget")

    # Before the slot has settled nothing is due; the pass still runs the other stages.
    early = run_pass(settings, now=SLOT + timedelta(seconds=5))
    assert early.digests == [] and early.feeds_checked == 0

    report = run_pass(settings, now=SLOT + timedelta(minutes=2))
    (published,) = report.published
    assert published.channel == "news" and published.considered == 2 and published.entries >= 1
    assert "1 digests published" in report.summary()
    assert digests(settings) == 1
    # Idempotent: the next pass finds the slot done and publishes nothing more.
    again = run_pass(settings, now=SLOT + timedelta(minutes=3))
    assert [d.status for d in again.digests] == ["exists"] and again.published == []
    assert digests(settings) == 1


def test_a_pass_without_publishing_leaves_digests_alone(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    Seeder(settings).item("alpha", SLOT - timedelta(minutes=20))
    report = run_pass(settings, publish=False, now=SLOT + timedelta(minutes=2))
    assert report.digests == [] and digests(settings) == 0


def test_fetch_once_publishes_a_digest_that_is_due(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    config = tmp_path / "newsline.toml"
    config.write_text(
        f'database_url = "{settings.database_url}"\n'
        "[[channels]]\n"
        'slug = "news"\n'
        'display_name = "News"\n'
        "[channels.digest]\n"
        'schedule = "*"\n'  # a slot every minute, so one is always due
        "settle_seconds = 0\n",
        encoding="utf-8",
    )
    seed = Seeder(settings)
    seed.item("alpha", datetime.now(UTC) - timedelta(minutes=30), title="Harvest market opens")

    result = CliRunner().invoke(app, ["--config", str(config), "fetch", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 digests published" in result.output
    assert digests(settings) == 1
    with session_scope(settings.database_url) as session:
        item = session.scalar(select(Item).where(Item.title == "Harvest market opens"))
        assert item is not None and item.enriched_at is not None

"""``newsline digest ...`` end to end through the CLI entry point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from newsline.cli import app
from newsline.config import Settings
from tests.support.digest_seed import Seeder

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)


def test_run_dry_run_then_publish_with_local_at(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    config = tmp_path / "newsline.toml"
    config.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    Seeder(settings).item("alpha", SLOT - timedelta(minutes=5), title="Ferry runs late")
    runner = CliRunner()

    # Naive --at is the channel's wall clock: 10:45 in Chicago is the 10:30 AM CDT slot.
    dry = runner.invoke(
        app, ["--config", str(config), "digest", "run", "--at", "2025-07-25T10:45", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "dry-run · The Digest, 7/25/2025 @1030AM, CDT · 1 entries" in dry.output
    assert "* ALPHA: Ferry runs late" in dry.output

    run = runner.invoke(
        app, ["--config", str(config), "digest", "run", "--at", "2025-07-25T15:40Z"]
    )
    assert run.exit_code == 0 and "news: published" in run.output
    again = runner.invoke(
        app, ["--config", str(config), "digest", "run", "--at", "2025-07-25T15:59Z"]
    )
    assert "news: exists" in again.output

    bad = runner.invoke(app, ["--config", str(config), "digest", "run", "--channel", "nope"])
    assert bad.exit_code == 1 and "unknown channel 'nope'" in bad.output
    bad_at = runner.invoke(app, ["--config", str(config), "digest", "run", "--at", "yesterday"])
    assert bad_at.exit_code == 1 and "not an ISO date-time" in bad_at.output

    added = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "digest",
            "subscribers",
            "add",
            "me@example.org",
            "--confirmed",
            "--daily-hour",
            "6",
        ],
    )
    assert added.exit_code == 0 and "confirmed" in added.output
    listed = runner.invoke(app, ["--config", str(config), "digest", "subscribers", "list"])
    assert "me@example.org\tconfirmed\tdaily 06:00" in listed.output
    removed = runner.invoke(
        app, ["--config", str(config), "digest", "subscribers", "remove", "me@example.org"]
    )
    assert removed.exit_code == 0
    gone = runner.invoke(app, ["--config", str(config), "digest", "subscribers", "list"])
    assert "me@example.org" not in gone.output

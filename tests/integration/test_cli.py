"""The front door: a library error reaches the user as one line, and old words still work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsline.cli import app
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.lease import lease
from newsline.ingest.publications import add_publication


@pytest.fixture
def config(make_settings: Callable[..., Settings], tmp_path: Path) -> Path:
    settings = make_settings()
    path = tmp_path / "newsline.toml"
    path.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    return path


def one_error_line(args: list[str]) -> str:
    """Run the CLI; assert it failed with exit 1 and exactly one ``error:`` line, return it."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_a_library_error_inside_a_command_is_one_line_and_exit_1(config: Path) -> None:
    cli = ["--config", str(config)]
    # UnknownChannel, raised by the channel lookup of newsline.db.channels.
    line = one_error_line([*cli, "digest", "run", "--channel", "nosuch"])
    assert line == "error: unknown channel 'nosuch' (configured: news)"
    # PublicationError wrapping the fetcher's refusal (no network involved: bad scheme).
    line = one_error_line([*cli, "publications", "add", "notaurl"])
    assert line.startswith("error: cannot fetch notaurl: ") and "http" in line
    # The command's own check, and the same error class family.
    line = one_error_line([*cli, "publications", "import-opml", str(config.parent / "x.opml")])
    assert line.endswith("x.opml does not exist")
    # ConfigError, before any command runs.
    line = one_error_line(["--config", str(config.parent / "nope.toml"), "items", "list"])
    assert "does not exist" in line and "newsline init" in line


def test_fetch_while_the_lease_is_held_says_so_in_one_line(
    config: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    with lease(settings.database_url, "ingest"):
        line = one_error_line(["--config", str(config), "fetch", "--once"])
    assert "another process is already running ingest" in line
    assert line.endswith("; try again when it is done")


def test_an_error_message_is_printed_verbatim_not_as_markup(config: Path) -> None:
    line = one_error_line(["--config", str(config), "publications", "remove", "[bold]x"])
    assert line == "error: no publication tagged '[bold]x' (see `newsline publications list`)"


def test_sources_and_source_are_aliases_of_publications_and_publication(
    config: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    with session_scope(settings.database_url) as session:
        add_publication(session, settings, "https://tribune.example/rss", tag="trib")
    runner = CliRunner()
    cli = ["--config", str(config)]
    new = runner.invoke(app, [*cli, "publications", "list", "--json"])
    old = runner.invoke(app, [*cli, "sources", "list", "--json"])
    assert new.exit_code == old.exit_code == 0, old.output
    assert json.loads(new.stdout)[0]["tag"] == "trib"
    assert old.stdout == new.stdout
    listed = runner.invoke(app, [*cli, "items", "list", "--json", "--source", "trib"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    # The alias works but is not advertised.
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "publications" in help_text and "sources" not in help_text
    removed = runner.invoke(app, [*cli, "sources", "remove", "trib"])
    assert removed.exit_code == 0
    assert json.loads(runner.invoke(app, [*cli, "publications", "list", "--json"]).stdout) == []


def test_publications_list_never_cuts_a_feed_address(
    config: Path, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    cli = ["--config", str(config), "publications", "list"]
    assert "No publications yet" in CliRunner().invoke(app, cli).stdout
    feed = "https://www.tribune-of-the-plains.example/rss/sections/politics-and-government.xml"
    with session_scope(settings.database_url) as session:
        add_publication(session, settings, feed, tag="trib", name="The Tribune of the Plains")
    for columns, table in (("80", False), ("200", True)):  # a pipe's 80 columns; a wide terminal
        monkeypatch.setenv("COLUMNS", columns)
        listed = CliRunner().invoke(app, cli)
        assert listed.exit_code == 0, listed.output
        assert "…" not in listed.stdout  # nothing cut off to fit
        assert ("┃ tag" in listed.stdout) is table
        assert feed in listed.stdout and "The Tribune of the Plains" in listed.stdout
        assert "never" in listed.stdout and "teaser" in listed.stdout

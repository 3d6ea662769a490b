"""The command line under hostile input (issue 16, items 4 and 7).

Publisher data never reaches the operator's terminal as markup or control sequences, and every
bad input, file or setting ends in one ``error: ...`` line with exit status 1, never a traceback.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from newsline.cli import app
from newsline.config import Settings
from newsline.text import printable
from newsline.workers.progress import RichReporter

HOSTILE_TITLE = "Daily [/] News\x1b[2J"


def run(args: list[str]) -> Any:
    # Wide enough that rich tables do not wrap the titles looked for.
    return CliRunner().invoke(app, args, env={"COLUMNS": "250"})


def one_error_line(args: list[str]) -> str:
    """Run the CLI; assert it failed with exit 1 and exactly one ``error:`` line, return it."""
    result = run(args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


@pytest.fixture
def database(make_settings: Callable[..., Settings]) -> str:
    """The URL of a migrated, empty database."""
    return make_settings().database_url


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    path = tmp_path / "newsline.toml"
    path.write_text(f'database_url = "{database_url}"\n{extra}', encoding="utf-8")
    return path


# --- item 4: publisher data printed to the terminal ------------------------------------------


def test_printable_strips_escape_sequences_and_control_characters() -> None:
    assert printable("Daily [/] News\x1b[2J") == "Daily [/] News"
    assert printable("a\x1b]0;owned\x07b\x1b]8;;http://x\x1b\\c") == "abc"
    assert printable("a\x00b\x7fc\x9b2Jd\x85e\rf\x08g") == "abc2Jdefg"
    assert printable("keeps\ttabs\nand lines, ünïcödé") == "keeps\ttabs\nand lines, ünïcödé"


class FeedHandler(BaseHTTPRequestHandler):
    """A JSON Feed whose titles carry rich markup and terminal escapes; every other path 404s."""

    def do_GET(self) -> None:
        if self.path != "/feed.json":
            self.send_error(404)
            return
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": HOSTILE_TITLE,
                "home_page_url": f"{base}/",
                "items": [
                    {
                        "id": "1",
                        "url": f"{base}/story",
                        "title": "Storm [bold red]warning[/] \x1b]0;owned\x07issued",
                        "content_text": "The county issued a storm warning on Tuesday.",
                        "date_published": "2026-11-29T10:00:00Z",
                    }
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/feed+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def hostile_feed() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.json"
    finally:
        server.shutdown()
        server.server_close()


def test_a_hostile_feed_title_is_added_listed_and_fetched_as_plain_text(
    tmp_path: Path, database: str, hostile_feed: str
) -> None:
    fetch = "[fetch]\nallow_private = true\nmin_host_delay = 0\nretries = 0\n"
    cli = ["--config", str(write_config(tmp_path, database, fetch))]

    added = run([*cli, "publications", "add", hostile_feed, "--tag", "daily"])
    assert added.exit_code == 0, added.output
    assert "Daily [/] News" in added.output and "\x1b" not in added.output

    for group in ("publications", "sources"):
        listed = run([*cli, group, "list"])
        assert listed.exit_code == 0, listed.output
        assert "Daily [/] News" in listed.output and "\x1b" not in listed.output

    fetched = run([*cli, "fetch", "--once", "--no-enrich"])
    assert fetched.exit_code == 0, fetched.output
    items = run([*cli, "items", "list", "--state", "all"])
    assert items.exit_code == 0, items.output
    assert "Storm [bold red]warning[/]" in items.output
    assert "\x1b" not in items.output and "\x07" not in items.output


def test_fetch_progress_messages_are_printed_without_escapes() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with Progress(console=console) as progress:
        reporter = RichReporter(progress)
        reporter.stage("feeds", 1)
        reporter.advance("feeds", "fetched [bold]x[/bold] \x1b[2J\x1b]0;owned\x07 done")
    text = out.getvalue()
    assert "fetched [bold]x[/bold]  done" in text
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text


def test_an_error_line_carries_no_escape_sequences(tmp_path: Path, database: str) -> None:
    cli = ["--config", str(write_config(tmp_path, database))]
    # The fetcher's refusal quotes the URL as given.
    line = one_error_line([*cli, "publications", "add", "notaurl\x1b[2J[bold]\x07"])
    assert line.startswith("error: cannot fetch notaurl[bold]: ")
    assert "\x1b" not in line and "\x07" not in line


# --- item 7: one line and exit 1 instead of a traceback --------------------------------------


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "newsline.toml"
    config.write_bytes(b'database_url = "sqlite:///caf\xe9.db"\n')
    line = one_error_line(["--config", str(config), "items", "list"])
    assert "UTF-8" in line and str(config) in line


def test_a_directory_given_as_config_file_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(["--config", str(tmp_path), "items", "list"])
    assert "is a directory" in line


@pytest.mark.parametrize(
    ("fetch", "words"),
    [
        ('connect_to = ["garbage"]', "HOST:PORT:ADDR:PORT"),
        ('connect_to = ["*:443:127.0.0.1:99999"]', "port"),
        ('connect_to = ["*:https:127.0.0.1:8443"]', "port"),
        ('connect_to = ["*:443:not-an-address:8443"]', "IP address"),
        ('ca_bundle = "/nonexistent/newsline-ca.pem"', "does not exist"),
    ],
)
def test_bad_fetch_settings_are_one_line(
    tmp_path: Path, database: str, fetch: str, words: str
) -> None:
    config = write_config(tmp_path, database, f"[fetch]\n{fetch}\n")
    line = one_error_line(["--config", str(config), "publications", "add", "http://a.invalid/"])
    assert words in line and "fetch." in line


def test_an_unsupported_database_url_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "mysql://user:secret@db.example/newsline")
    line = one_error_line(["--config", str(config), "items", "list"])
    assert "mysql" in line and "sqlite" in line and "secret" not in line


@pytest.mark.parametrize(
    "command",
    [
        ["publications", "list"],
        ["items", "list"],
        ["digest", "subscribers", "list"],
    ],
)
def test_reading_an_uninitialised_database_says_to_initialise_it(
    tmp_path: Path, command: list[str]
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'never-created.db'}")
    line = one_error_line(["--config", str(config), *command])
    assert "newsline init" in line and "newsline db upgrade" in line


def test_import_opml_of_a_directory_is_one_line(tmp_path: Path, database: str) -> None:
    cli = ["--config", str(write_config(tmp_path, database))]
    line = one_error_line([*cli, "publications", "import-opml", str(tmp_path)])
    assert str(tmp_path) in line and "directory" in line


def test_a_deeply_nested_opml_is_one_line(tmp_path: Path, database: str) -> None:
    cli = ["--config", str(write_config(tmp_path, database))]
    depth = 5000
    opml = tmp_path / "deep.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        + '<outline text="x">' * depth
        + '<outline text="f" xmlUrl="http://a.example/feed"/>'
        + "</outline>" * depth
        + "</body></opml>",
        encoding="utf-8",
    )
    line = one_error_line([*cli, "publications", "import-opml", str(opml)])
    assert "deep.opml" in line and "nested" in line


@pytest.mark.parametrize("limit", ["10000000000000", "-1", "0"])
def test_an_absurd_limit_is_one_line(tmp_path: Path, database: str, limit: str) -> None:
    cli = ["--config", str(write_config(tmp_path, database))]
    line = one_error_line([*cli, "items", "list", "--limit", limit])
    assert "--limit" in line


def test_adding_a_malformed_url_is_one_line(tmp_path: Path, database: str) -> None:
    cli = ["--config", str(write_config(tmp_path, database))]
    line = one_error_line([*cli, "publications", "add", "http://[::1"])
    assert "http://[::1" in line


@pytest.fixture
def no_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` must refuse before it binds: reaching uvicorn fails the test (instead of
    serving forever)."""

    def bound(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("serve got as far as binding a port")

    monkeypatch.setattr(uvicorn, "run", bound)
    monkeypatch.setattr(uvicorn.Server, "run", bound)


@pytest.mark.parametrize(
    ("extra", "options", "words"),
    [
        ('[web]\ndefault_channel = "nosuch"\n', [], "default_channel"),
        ("[web]\npage_size = -5\n", [], "page_size"),
        ("", ["--port", "99999"], "--port"),
        ("", ["--port", "0"], "--port"),
    ],
)
def test_serve_refuses_bad_web_settings_before_binding(
    tmp_path: Path, database: str, no_binding: None, extra: str, options: list[str], words: str
) -> None:
    config = write_config(tmp_path, database, extra)
    line = one_error_line(["--config", str(config), "serve", "--no-scheduler", *options])
    assert words in line

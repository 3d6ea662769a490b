"""``newsline extract`` on a file, a gzipped file and a URL fetched politely from a replayed site."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsline.cli import app
from newsline.testing.corpus import CorpusWriter
from newsline.testing.replay import replay_in_thread

PAGE = b"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Ferry service resumes | Harbor Post</title>
<meta property="og:site_name" content="Harbor Post"><meta name="author" content="Lee Writer">
<meta property="article:published_time" content="2025-07-25T10:30:00-05:00">
<meta property="og:image" content="/img/ferry.jpg"></head><body><article><h1>Ferry service resumes</h1>
<p>The island ferry returned to its full schedule on Friday after three weeks of repairs to the
landing, the harbor authority said in a statement to passengers.</p>
<p>Crews replaced the worn ramp and two mooring posts, and inspectors signed off on the work on
Thursday evening, a day earlier than planned.</p>
<p>Commuters said the temporary water taxi had added almost an hour to each trip across the bay.</p>
</article></body></html>"""


def run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["extract", *args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def check(fields: dict[str, object], base: str) -> None:
    assert fields["title"] == "Ferry service resumes"
    assert fields["author"] == "Lee Writer"
    published = datetime.fromisoformat(str(fields["published"]))
    assert published == datetime(2025, 7, 25, 15, 30, tzinfo=UTC)
    assert fields["image_url"] == f"{base}/img/ferry.jpg"
    assert fields["site_name"] == "Harbor Post" and fields["language"] == "en"
    assert "mooring posts" in str(fields["text"]) and "<p>" in str(fields["html"])


def test_file_and_gzipped_file(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    check(run(str(page), "--url", "https://harbor.example/news/ferry"), "https://harbor.example")
    packed = tmp_path / "page.html.gz"
    packed.write_bytes(gzip.compress(PAGE))
    check(run(str(packed), "--url", "https://harbor.example/news/ferry"), "https://harbor.example")


def test_url_is_fetched_with_the_polite_fetcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = CorpusWriter(tmp_path / "corpus")
    w.add("https://harbor.example/news/ferry", PAGE, content_type="text/html; charset=utf-8")
    w.add(
        "https://harbor.example/robots.txt",
        b"User-agent: *\nDisallow: /private/\n",
        content_type="text/plain",
    )
    w.add("https://harbor.example/private/memo", PAGE, content_type="text/html")
    with replay_in_thread(w.finish()) as server:
        for name, value in server.settings_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("NEWSLINE_CONFIG", str(tmp_path / "none.toml"))
        check(run("https://harbor.example/news/ferry"), "https://harbor.example")
        refused = CliRunner().invoke(app, ["extract", "https://harbor.example/private/memo"])
    assert refused.exit_code == 1 and "robots.txt" in " ".join(refused.output.split())


def test_non_html_is_refused_with_a_reason(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    result = CliRunner().invoke(app, ["extract", str(pdf)])
    assert result.exit_code == 1 and "PDF" in result.output

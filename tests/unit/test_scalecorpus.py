"""The scale corpus (bench/scale.py, the distributed tests): bare pages and pages in a news
site's chrome carry the same article."""

from __future__ import annotations

import json
from pathlib import Path

from newsline.ingest.extract import extract
from newsline.testing.scalecorpus import write_scale_corpus


def _pages(directory: Path) -> dict[str, bytes]:
    pages = {}
    for line in (directory / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("kind") == "page":
            pages[entry["url"]] = (directory / entry["body"]).read_bytes()
    return pages


def test_pages_in_chrome_are_the_size_asked_and_extract_to_the_bare_article(
    tmp_path: Path,
) -> None:
    bare = write_scale_corpus(tmp_path / "bare", hosts=2, feeds_per_host=3, pages_per_host=3)
    dressed = write_scale_corpus(
        tmp_path / "dressed", hosts=2, feeds_per_host=3, pages_per_host=3, page_bytes=100_000
    )
    assert bare.pages == dressed.pages == 6
    plain, chrome = _pages(bare.directory), _pages(dressed.directory)
    assert plain.keys() == chrome.keys() and len(plain) == 6
    for url, body in chrome.items():
        assert len(plain[url]) < 3_000
        assert 100_000 <= len(body) < 103_000
        assert body.count(b"<a ") > 100  # furniture: navigation, cards, footer links
        ours, theirs = extract(body, url), extract(plain[url], url)
        assert (ours.title, ours.text) == (theirs.title, theirs.text)
        assert "Correspondent" in ours.text and "More news" not in ours.text

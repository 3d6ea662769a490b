"""Hashtag accuracy on labelled news: BBC 2004-05, MasakhaNEWS English dev, HuffPost headlines.

Usage: .venv/bin/python bench/hashtags.py [--corpora ../shared/corpora] [--sets bbc,masakhane,huffpost]
                                          [--seeds 2] [--errors N] [--before REV]

Every figure is accuracy with accept sets: an item counts as right when its top hashtag
(all 18 default hashtags competing) is among the hashtags its label accepts. BBC and
MasakhaNEWS labels accept one hashtag each (``MAPPING``); HuffPost categories accept the
hashtags listed in the corpus's ``categories.json`` (lifestyle categories without a
hashtag are not scored). Macro accuracy is the mean over gold hashtags.

Speeds are items per CPU-second of one process (``time.process_time``), cold caches included.

Rows per set:
* zero-shot ``classify`` over the whole set (nothing trained), with items/s;
* a learning curve: ``ChannelClassifier`` with 5 and 20 editor corrections per hashtag
  drawn from one half of the set (2-fold split, stratified by gold hashtag), scored on the
  other half, with items/s of ``classify`` on the corrected model;
* references measured in the same run on the same splits: TF-IDF + logistic regression
  trained on the same 5 / 20 corrections, and trained on the whole other half.

Duplicates are removed before splitting (BBC: byte-identical files; HuffPost: repeated
headlines), so the halves do not leak. ``--seeds`` repeats the learning curve with other
draws of the corrections and reports the mean.

``--before REV`` also runs every row on the classifier as it was at git revision REV
(``enrich/hashtags.py`` and ``enrich/keywords.py`` read with ``git show``, imported under
other names), set by set in the same process: a before/after comparison in one run.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

import newsline.enrich.hashtags as current

#: Dataset label -> our hashtag (BBC and MasakhaNEWS; written down once, used for both).
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
SHOTS = (5, 20)


@dataclass(frozen=True)
class Doc:
    title: str
    text: str
    accept: tuple[str, ...]  # the first is the gold hashtag

    @property
    def gold(self) -> str:
        return self.accept[0]


def load_bbc(root: Path) -> list[Doc]:
    docs: list[Doc] = []
    seen: set[str] = set()
    for path in sorted((root / "topics" / "bbc").glob("*/*.txt")):
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        title, _, body = raw.decode("utf-8", errors="replace").partition("\n")
        docs.append(Doc(title.strip(), body.strip(), (MAPPING[path.parent.name],)))
    return docs


def load_masakhane(root: Path) -> list[Doc]:
    docs: list[Doc] = []
    with (root / "topics" / "masakhanews" / "dev.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            docs.append(Doc(row["headline"], row["text"], (MAPPING[row["category"]],)))
    return docs


def load_huffpost(root: Path) -> list[Doc]:
    base = root / "topics" / "huffpost41"
    accept = {
        c["label"]: tuple(c["accept"])
        for c in json.loads((base / "categories.json").read_text(encoding="utf-8"))
        if c["accept"]
    }
    docs: list[Doc] = []
    seen: set[str] = set()
    with (base / "huffpost.json").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["label"] not in accept or row["raw"] in seen:
                continue
            seen.add(row["raw"])
            docs.append(Doc(row["raw"], "", accept[row["label"]]))
    return docs


LOADERS: dict[str, tuple[str, Callable[[Path], list[Doc]]]] = {
    "bbc": ("BBC", load_bbc),
    "masakhane": ("MasakhaNEWS", load_masakhane),
    "huffpost": ("HuffPost headlines", load_huffpost),
}


def score(docs: Sequence[Doc], pred: Sequence[str]) -> tuple[float, float]:
    """Accuracy with accept sets, and its mean over gold hashtags."""
    right = [p in d.accept for d, p in zip(docs, pred, strict=True)]
    per: dict[str, list[bool]] = {}
    for d, r in zip(docs, right, strict=True):
        per.setdefault(d.gold, []).append(r)
    return float(np.mean(right)), float(np.mean([np.mean(v) for v in per.values()]))


def per_tag(docs: Sequence[Doc], pred: Sequence[str]) -> str:
    per: dict[str, list[bool]] = {}
    for d, p in zip(docs, pred, strict=True):
        per.setdefault(d.gold, []).append(p in d.accept)
    return ", ".join(f"{t} {np.mean(v):.2f}" for t, v in sorted(per.items()))


def halves(docs: Sequence[Doc], seed: int) -> list[tuple[list[int], list[int]]]:
    """A 2-fold split stratified by gold hashtag: (train, test) both ways."""
    rng = np.random.default_rng(seed)
    a: list[int] = []
    b: list[int] = []
    by_gold: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        by_gold.setdefault(d.gold, []).append(i)
    for idx in by_gold.values():
        perm = [idx[j] for j in rng.permutation(len(idx))]
        a += perm[: len(perm) // 2]
        b += perm[len(perm) // 2 :]
    return [(a, b), (b, a)]


def draw(docs: Sequence[Doc], train: list[int], k: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    by_gold: dict[str, list[int]] = {}
    for i in train:
        by_gold.setdefault(docs[i].gold, []).append(i)
    for _tag, pool in sorted(by_gold.items()):
        chosen += [pool[j] for j in rng.choice(len(pool), size=min(k, len(pool)), replace=False)]
    return chosen


def tfidf_lr(docs: Sequence[Doc], train: list[int], test: list[int]) -> list[str]:
    texts = [f"{d.title} {d.text}" for d in docs]
    vec = TfidfVectorizer(sublinear_tf=True, min_df=1, stop_words="english")
    x = vec.fit_transform([texts[i] for i in train])
    clf = LogisticRegression(max_iter=2000, C=10.0)
    clf.fit(x, [docs[i].gold for i in train])
    return [str(p) for p in clf.predict(vec.transform([texts[i] for i in test]))]


def classifier_at(rev: str) -> ModuleType:
    """``newsline.enrich.hashtags`` as it was at git revision ``rev`` (with its keywords)."""
    repo = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp(prefix="hashtags-before-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    tag = "".join(c for c in rev if c.isalnum())
    for name in ("keywords", "hashtags"):
        source = subprocess.run(
            ["git", "show", f"{rev}:src/newsline/enrich/{name}.py"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        source = source.replace(
            "from newsline.enrich.keywords import", f"from keywords_{tag} import"
        )
        (folder / f"{name}_{tag}.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"hashtags_{tag}", folder / f"hashtags_{tag}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def evaluate(
    name: str,
    docs: list[Doc],
    seeds: int,
    errors: int,
    shots: Sequence[int] = SHOTS,
    model: ModuleType = current,
) -> list[tuple[str, str, str]]:
    classify, ChannelClassifier, Example = model.classify, model.ChannelClassifier, model.Example
    rows: list[tuple[str, str, str]] = []
    n = len(docs)
    t0 = time.process_time()
    zs = [classify(d.title, d.text)[0][0] for d in docs]
    secs = time.process_time() - t0
    acc, macro = score(docs, zs)
    rows.append(
        (f"{name} ({n}): zero-shot classify", f"{acc:.3f} / {macro:.3f}", f"{n / secs:.0f}")
    )
    rows.append((f"{name}: zero-shot per gold hashtag", per_tag(docs, zs), ""))
    confusions = Counter((d.gold, p) for d, p in zip(docs, zs, strict=True) if p not in d.accept)
    rows.append(
        (
            f"{name}: top zero-shot confusions",
            ", ".join(f"{g}->{p} {c}" for (g, p), c in confusions.most_common(6)),
            "",
        )
    )
    if errors:
        wrong = [(d, p) for d, p in zip(docs, zs, strict=True) if p not in d.accept]
        for d, p in wrong[:: max(1, len(wrong) // errors)][:errors]:
            print(f"  [{name}] {d.gold}->{p}: {d.title[:100]}", file=sys.stderr)

    learned: dict[str, list[float]] = {}
    speed: list[float] = []
    for seed in range(seeds if shots else 0):
        for fold, (train, test) in enumerate(halves(docs, seed)):
            test_docs = [docs[i] for i in test]
            for k in shots:
                chosen = draw(docs, train, k, seed * 100 + fold)
                examples = [Example(docs[i].title, docs[i].text, docs[i].gold) for i in chosen]
                t0 = time.process_time()
                model = ChannelClassifier(examples=examples)
                pred = [model.classify(d.title, d.text)[0][0] for d in test_docs]
                speed.append(len(test) / (time.process_time() - t0))
                for key, preds in (
                    (f"ChannelClassifier, {k} corrections/hashtag", pred),
                    (f"reference TF-IDF+LR on the same {k}/hashtag", tfidf_lr(docs, chosen, test)),
                ):
                    learned.setdefault(key, []).extend(score(test_docs, preds))
            if seed == 0:
                key = "reference TF-IDF+LR on the whole other half"
                learned.setdefault(key, []).extend(score(test_docs, tfidf_lr(docs, train, test)))
    for key in sorted(learned, key=lambda k: (not k.startswith("Channel"), k)):
        vals = learned[key]
        acc = float(np.mean(vals[0::2]))
        macro = float(np.mean(vals[1::2]))
        ips = f"{np.mean(speed):.0f}" if key.startswith("ChannelClassifier, 20") else ""
        rows.append((f"{name}: {key}", f"{acc:.3f} / {macro:.3f}", ips))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(
        os.environ.get(
            "NEWS_CORPORA", Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
        )
    )
    parser.add_argument("--corpora", type=Path, default=default)
    parser.add_argument("--sets", default="bbc,masakhane,huffpost")
    parser.add_argument("--seeds", type=int, default=1, help="draws of the corrections")
    parser.add_argument("--shots", default="5,20", help="corrections per hashtag ('' for none)")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth item (quick runs)")
    parser.add_argument("--errors", type=int, default=0, help="print N zero-shot errors per set")
    parser.add_argument("--before", help="also measure the classifier at this git revision")
    args = parser.parse_args()
    if not (args.corpora / "topics").is_dir():
        print(f"corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    models: list[tuple[str, ModuleType]] = [("", current)]
    if args.before:
        models.insert(0, (f"[{args.before}] ", classifier_at(args.before)))
        models[1] = ("[now] ", current)
    for _, model in models:
        model.classify("warm-up", "load the models once before timing")
    shots = [int(k) for k in args.shots.split(",") if k]
    rows: list[tuple[str, str, str]] = []
    for key in args.sets.split(","):
        label, loader = LOADERS[key]
        docs = loader(args.corpora)[:: args.every]
        for prefix, model in models:
            rows += evaluate(prefix + label, docs, args.seeds, args.errors, shots, model)
    width = max(len(r[0]) for r in rows)
    print(f"{'set: model':<{width}}  {'accuracy / macro':<20} items/s")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<20} {c}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

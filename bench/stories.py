"""Story clustering quality (WikiRef220) and streaming speed/memory (100,000 items).

Usage:
  .venv/bin/python bench/stories.py quality [--corpora ../shared/corpora]
  .venv/bin/python bench/stories.py stream [--items 100000] [--per-day 1000]
  .venv/bin/python bench/stories.py stage [--items 3000]

quality: B-cubed and pairwise P/R/F1 of ``cluster`` on WikiRef220 (texts have no dates,
so every item gets the same day and time decay plays no part). The 35 noise documents
are scored as singletons (each its own gold cluster), the data set authors' setting; the
table also shows the variant where their small topics count as clusters. Reference: a
brute-force single-pass clustering that scores every earlier story (same features and
threshold), to show what the inverted-index candidate retrieval costs in quality/speed.

stage: ``enrich_pending`` (hashtags, summary, near-duplicates, story, all DB writes) on
a SQLite file of ``--items`` items from five publications, against the same steps in
memory.

stream: the corpus texts (WikiRef220 + BBC) reused with shifted dates — ``per-day``
items a day, in time order, each text's dates spread so that its copies fall weeks
apart — fed through one ``StoryIndex`` on one core; prints items/s and memory as the
stream goes, plus live stories (the window) against items seen (the history).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newsline.enrich.stories import StoryIndex, cluster
from newsline.testing.metrics import bcubed, pairwise_f1

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def load_wikiref(root: Path) -> list[dict[str, Any]]:
    base = root / "clustering" / "wikiref220"
    docs = []
    with (base / "labels.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            raw = (base / "texts" / row["file"]).read_bytes().decode("cp1252", errors="replace")
            raw = raw.replace("\r\n", "\n")
            title, _, body = raw.partition("\n")
            docs.append(
                {
                    "title": title.strip(),
                    "text": body.strip(),
                    "published": DAY0,
                    "topic": row["topic"],
                    "noise": row["noise"] == "1",
                    "file": row["file"],
                }
            )
    return docs


def brute_force(items: list[dict[str, Any]], threshold: float) -> list[str]:
    """Reference: the same model, but every live story is scored for every item."""
    index = StoryIndex(threshold=threshold, max_candidates=10**9, query_terms=10**9)
    for it in items:
        index.observe(it["title"], it["text"])
    index.posted_terms = 10**9  # every term of every story is posted: all stories are candidates
    out = [index.add(i, it["title"], it["text"], it["published"]) for i, it in enumerate(items)]
    index.consolidate()
    return [index.resolve(k) for k in out]


def quality(root: Path) -> None:
    docs = load_wikiref(root)
    gold_singleton = [f"noise:{d['file']}" if d["noise"] else d["topic"] for d in docs]
    gold_topics = [d["topic"] for d in docs]
    t0 = time.perf_counter()
    pred = cluster(docs)
    secs = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = brute_force(docs, StoryIndex().threshold)
    ref_secs = time.perf_counter() - t0
    rows = []
    for label, p, s in (
        ("cluster (indexed)", pred, secs),
        ("brute force (reference)", ref, ref_secs),
    ):
        bp, br, bf = bcubed(gold_singleton, p)
        _, _, pf = pairwise_f1(gold_singleton, p)
        _, _, bf_t = bcubed(gold_topics, p)
        rows.append(
            (
                label,
                f"{bp:.3f}",
                f"{br:.3f}",
                f"{bf:.3f}",
                f"{pf:.3f}",
                f"{bf_t:.3f}",
                f"{len(set(p))}",
                f"{s:.2f}s",
            )
        )
    print(f"WikiRef220: {len(docs)} docs, 5 stories + {sum(d['noise'] for d in docs)} noise docs")
    head = (
        "method",
        "B3 P",
        "B3 R",
        "B3 F1",
        "pair F1",
        "B3 F1 (noise topics as clusters)",
        "clusters",
        "time",
    )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"speed ratio brute/indexed: {ref_secs / secs:.1f}x")


def load_texts(root: Path) -> list[tuple[str, str]]:
    texts = [(d["title"], d["text"]) for d in load_wikiref(root)]
    for path in sorted((root / "topics" / "bbc").glob("*/*.txt")):
        raw = path.read_bytes().decode("utf-8", errors="replace")
        title, _, body = raw.partition("\n")
        texts.append((title.strip(), body.strip()))
    return texts


def stream(root: Path, n_items: int, per_day: int, batch: int = 500) -> None:
    texts = load_texts(root)
    step = timedelta(days=1) / per_day
    index = StoryIndex()
    t_start = time.perf_counter()
    print(f"{len(texts)} distinct corpus texts reused; {per_day} items/day; window {index.window}")
    print(f"{'items':>8} {'day':>5} {'items/s':>8} {'live stories':>13} {'RSS MiB':>10}")
    last_t = t_start
    last_n = 0
    checkpoints = {n_items * k // 10 for k in range(1, 11)}
    for n in range(1, n_items + 1):
        title, text = texts[(n * 7919) % len(texts)]  # a prime stride: copies fall far apart
        published = DAY0 + step * n
        index.add(n, title, text, published)
        if n % batch == 0:
            index.consolidate()  # as the pipeline does after each batch
            index.drain_merges()
        if n in checkpoints:
            now = time.perf_counter()
            current = rss_bytes()
            rate = (n - last_n) / (now - last_t)
            print(
                f"{n:>8} {n // per_day:>5} {rate:>8.0f} {len(index):>13} {current / 2**20:>10.1f}"
            )
            last_t, last_n = now, n
    total = time.perf_counter() - t_start
    print(f"total: {n_items} items in {total:.1f}s = {n_items / total:.0f} items/s on one core")
    print(f"candidate stories scored per item: {index.comparisons / n_items:.1f}")
    sizes = sorted((s.size for s in index.stories.values()), reverse=True)
    weights = sorted((s.weight for s in index.stories.values()), reverse=True)
    print(
        f"live stories at the end: {len(sizes)}; items placed in the largest (lifetime): "
        f"{sizes[:3]}; their recent weight (decayed count): {[round(w) for w in weights[:3]]}; "
        f"median size {sizes[len(sizes) // 2] if sizes else 0}"
    )
    # Reference measured in the same run: the same first items through a brute-force index
    # (every live story scored for every item), to show what the inverted index saves.
    m = min(n_items, 3000)
    brute = StoryIndex(max_candidates=10**9, query_terms=10**9)
    brute.posted_terms = 10**9
    fast = StoryIndex()
    timings = []
    for index in (fast, brute):
        t0 = time.perf_counter()
        for n in range(1, m + 1):
            title, text = texts[(n * 7919) % len(texts)]
            index.add(n, title, text, DAY0 + step * n)
            if n % batch == 0:
                index.consolidate()
                index.drain_merges()
        timings.append(m / (time.perf_counter() - t0))
    print(
        f"first {m} items: indexed {timings[0]:.0f} items/s, brute force {timings[1]:.0f} "
        f"items/s, ratio {timings[0] / timings[1]:.1f}x"
    )


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def stage(root: Path, n_items: int) -> None:
    """The whole enrichment stage on a SQLite file vs the same work in memory."""
    import tempfile

    from newsline.config import load_settings
    from newsline.db.channels import sync_channels
    from newsline.db.engine import session_scope
    from newsline.db.migrate import upgrade
    from newsline.db.models import Item, Publication
    from newsline.enrich.hashtags import classify
    from newsline.enrich.stage import enrich_pending
    from newsline.enrich.stories import NearDuplicateIndex
    from newsline.enrich.summarize import summarize

    texts = load_texts(root)
    step = timedelta(minutes=2)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = load_settings(None, database_url=url, data_dir=tmp)
        with session_scope(url) as session:
            pubs = [Publication(tag=f"p{i}", name=f"P{i}") for i in range(5)]
            session.add_all(pubs)
            session.flush()
            sync_channels(session, settings)
            for n in range(n_items):
                title, text = texts[(n * 7919) % len(texts)]
                when = DAY0 + step * n
                session.add(
                    Item(
                        publication_id=pubs[n % 5].id,
                        guid=str(n),
                        url=f"https://example.org/{n}",
                        state="ready",
                        title=title,
                        body_text=text,
                        published_at=when,
                        sort_at=when,
                        first_seen_at=when,
                    )
                )
        t0 = time.perf_counter()
        report = enrich_pending(settings)
        secs = time.perf_counter() - t0
    t0 = time.perf_counter()
    index, copies = StoryIndex(), NearDuplicateIndex()
    for n in range(n_items):
        title, text = texts[(n * 7919) % len(texts)]
        when = DAY0 + step * n
        classify(title, text)
        summarize(title, text)
        copies.add(n, title, text, when)
        index.add(n, title, text, when)
        if n % 200 == 0:
            index.consolidate()
    ref = time.perf_counter() - t0
    print(
        f"enrich_pending on SQLite: {report.enriched} items in {secs:.1f}s = "
        f"{report.enriched / secs:.0f} items/s ({report.stories_new} stories, "
        f"{report.near_duplicates} near-duplicates)"
    )
    print(
        f"same steps in memory (reference): {n_items / ref:.0f} items/s; "
        f"stage/in-memory time ratio {secs / ref:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(
        os.environ.get(
            "NEWS_CORPORA", Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
        )
    )
    parser.add_argument("mode", choices=["quality", "stream", "stage"])
    parser.add_argument("--corpora", type=Path, default=default)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-day", type=int, default=1000)
    args = parser.parse_args()
    if not (args.corpora / "clustering").is_dir():
        print(f"corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    if args.mode == "quality":
        quality(args.corpora)
    elif args.mode == "stage":
        stage(args.corpora, args.items)
    else:
        stream(args.corpora, args.items, args.per_day)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

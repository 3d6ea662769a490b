"""Summary quality on the real article pages of ../shared/corpora/articles.

Usage: .venv/bin/python bench/summaries.py [--corpora ../shared/corpora] [--max-chars 280]

Each page goes through the pipeline's extractor (``newsline.ingest.extract``), then
``summarize``. Reported, for our extractive summary and for a "lead" reference measured
in the same run (the text's first ``max_chars`` characters, cut at a word):
* boilerplate-free: no sentence our boilerplate filter flags, and (trafilatura pages) none
  of the page's hand-annotated must-not-contain snippets;
* within the length limit;
* fully grounded: every number and capitalized name occurs in the extracted text;
* ROUGE-L F1 (LCS over lower-cased word tokens) against the corpora's own standfirsts:
  postlight ``dek``, readability ``excerpt``, trafilatura ``description``;
* lead copy: the summary is identical to the opening of the text, or a prefix of it
  (what the item page shows right below the summary box; target 0), and the weaker
  "opens with the lead sentence".

Then the Digest overview: the pages in groups of ten become digest entries (title and
summary, in section order); for each group ``extractive_overview`` is checked: every line
traceable to one entry (its title, then a sentence of that entry's summary), at most
1,000 characters, no line starting with a fragment (lower-case start or an ellipsis,
unless the line opens with its entry's headline as published).
Reference in the same run: ``summarize_many`` over the same entries (the lead-sentence
paragraph the digest used before), scored by sentences.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsline.enrich.summarize import (
    grounding_problems,
    is_boilerplate,
    sentences,
    summarize,
    summarize_many,
)
from newsline.ingest.extract import ExtractError, extract
from newsline.publish.digest_compose import Entry, extractive_overview

_TOKEN = re.compile(r"\w+", re.UNICODE)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 between two texts (word tokens, lower-cased)."""
    a = _TOKEN.findall(candidate.lower())
    b = _TOKEN.findall(reference.lower())
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def _flat(text: str) -> str:
    return " ".join(text.split())


def lead_copy(summary: str, text: str) -> bool:
    """The summary is the text's opening (identical to it, or a prefix of it)."""
    s = _flat(summary).rstrip("…").rstrip()
    return bool(s) and _flat(text).startswith(s)


def opens_with_lead(summary: str, text: str) -> bool:
    """The summary's first sentence is the text's first sentence."""
    first = sentences(summary)[:1]
    lead = sentences(text)[:1]
    return bool(first and lead) and _flat(first[0]).rstrip("…") == _flat(lead[0])


def fragment(line: str) -> bool:
    """A line that starts mid-sentence: lower case, an ellipsis or a stray punctuation."""
    line = line.lstrip()
    return not line or line[0].islower() or line[0] in "…,;:.-–—)"


def overview_checks(entries: list[Entry], overview: str, by_lines: bool) -> dict[str, bool]:
    """Traceable (each line or sentence comes from one entry), length, no fragment start."""
    units = [u for u in overview.split("\n") if u.strip()] if by_lines else sentences(overview)
    texts = [f"{e.title}\n{e.summary}" for e in entries]
    flat = [_flat(t) for t in texts]

    def traced(unit: str) -> bool:
        parts = [p for p in (_flat(x) for x in unit.split(" — ")) if p]
        return any(all(p.rstrip(".") in f for p in parts) for f in flat)

    def opens_badly(unit: str) -> bool:
        # A line may open with its entry's headline as published ("iOS 13 will ...").
        if by_lines and any(_flat(unit).startswith(_flat(e.title)) for e in entries):
            return False
        return fragment(unit)

    return {
        "traceable": bool(units) and all(traced(u) for u in units),
        "within": len(overview) <= 1000,
        "no_fragment": bool(units) and not any(opens_badly(u) for u in units),
    }


def pages(root: Path) -> list[dict[str, Any]]:
    """(html bytes, url, reference dek or None, must-not-contain snippets) per page."""
    out: list[dict[str, Any]] = []
    base = root / "articles"
    with (base / "postlight" / "ground_truth.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out.append(
                {
                    "path": base / "postlight" / row["fixture"],
                    "url": row.get("url") or "http://fakehost/",
                    "ref": row.get("dek"),
                    "without": [],
                }
            )
    for meta in sorted((base / "readability").glob("*/expected-metadata.json")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        out.append(
            {
                "path": meta.parent / "source.html.gz",
                "url": "http://fakehost/test/page.html",
                "ref": data.get("excerpt"),
                "without": [],
            }
        )
    evaldata = json.loads((base / "trafilatura" / "evaldata_subset.json").read_text("utf-8"))
    for url, entry in evaldata.items():
        out.append(
            {
                "path": base / "trafilatura" / "html" / f"{entry['file']}.gz",
                "url": url,
                "ref": entry.get("description"),
                "without": entry.get("without") or [],
            }
        )
    return out


def evaluate(root: Path, max_chars: int) -> None:
    rows = pages(root)
    stats: dict[str, dict[str, float]] = {
        name: {
            "n": 0,
            "clean": 0,
            "len_ok": 0,
            "grounded": 0,
            "rouge": 0.0,
            "rouge_n": 0,
            "copy": 0,
            "opens": 0,
        }
        for name in ("summarize", "lead reference")
    }
    entries: list[Entry] = []
    failures = 0
    secs = 0.0
    for row in rows:
        path: Path = row["path"]
        if not path.exists():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        try:
            page = extract(data, row["url"])
        except ExtractError:
            failures += 1
            continue
        text = page.text or ""
        if len(text.split()) < 30:
            failures += 1
            continue
        title = page.title or ""
        t0 = time.perf_counter()
        ours = summarize(title, text, max_chars)
        secs += time.perf_counter() - t0
        lead = " ".join(text.split())[:max_chars]
        if len(" ".join(text.split())) > max_chars and " " in lead:
            lead = lead[: lead.rfind(" ")]
        entries.append(
            Entry(
                key=str(len(entries)),
                hashtag="news",
                item_id=len(entries),
                publication="P",
                title=_flat(title) or "Untitled",
                url=row["url"],
                image_url=None,
                summary=ours,
                latest=datetime(2025, 1, 1, tzinfo=UTC),
                sources=1,
                publication_ids=[1],
                item_ids=[len(entries)],
            )
        )
        for name, summary in (("summarize", ours), ("lead reference", lead)):
            s = stats[name]
            s["n"] += 1
            s["copy"] += lead_copy(summary, text)
            s["opens"] += opens_with_lead(summary, text)
            flagged = any(is_boilerplate(x) for x in sentences(summary))
            snippets = any(w and w in summary for w in row["without"])
            s["clean"] += not flagged and not snippets
            s["len_ok"] += len(summary) <= max_chars
            s["grounded"] += not grounding_problems(summary, f"{title}\n{text}")
            if row["ref"]:
                s["rouge"] += rouge_l(summary, row["ref"])
                s["rouge_n"] += 1
    print(f"{len(rows)} pages; {failures} skipped (no extractable text); max_chars {max_chars}")
    head = (
        "method",
        "pages",
        "boilerplate-free",
        "within limit",
        "grounded",
        "lead copy",
        "opens with lead",
        "ROUGE-L F1 (n)",
    )
    table = [head]
    for name, s in stats.items():
        n = max(s["n"], 1)
        table.append(
            (
                name,
                f"{int(s['n'])}",
                f"{s['clean'] / n:.3f}",
                f"{s['len_ok'] / n:.3f}",
                f"{s['grounded'] / n:.3f}",
                f"{s['copy'] / n:.3f}",
                f"{s['opens'] / n:.3f}",
                f"{s['rouge'] / max(s['rouge_n'], 1):.3f} ({int(s['rouge_n'])})",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    n = max(stats["summarize"]["n"], 1)
    print(f"summarize: {secs / n * 1000:.1f} ms/page")
    overviews(entries)


def overviews(entries: list[Entry], per: int = 10) -> None:
    """The Digest overview over groups of ``per`` entries, beside ``summarize_many``."""
    groups = [entries[i : i + per] for i in range(0, len(entries) - per + 1, per)]
    table = [("overview", "digests", "traceable", "<= 1,000 chars", "no fragment start", "chars")]
    for name in ("extractive_overview", "summarize_many (reference)"):
        counts = {"traceable": 0, "within": 0, "no_fragment": 0}
        chars = 0
        for group in groups:
            if name == "extractive_overview":
                text, by_lines = extractive_overview(group, 1000), True
            else:
                text = summarize_many([e.summary or e.title for e in group], 1000)
                by_lines = False
            chars += len(text)
            for k, ok in overview_checks(group, text, by_lines).items():
                counts[k] += ok
        n = max(len(groups), 1)
        table.append(
            (
                name,
                str(len(groups)),
                f"{counts['traceable'] / n:.3f}",
                f"{counts['within'] / n:.3f}",
                f"{counts['no_fragment'] / n:.3f}",
                f"{chars / n:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(
        os.environ.get(
            "NEWS_CORPORA", Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
        )
    )
    parser.add_argument("--corpora", type=Path, default=default)
    parser.add_argument("--max-chars", type=int, default=280)
    args = parser.parse_args()
    if not (args.corpora / "articles").is_dir():
        print(f"corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    evaluate(args.corpora, args.max_chars)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
  postlight ``dek``, readability ``excerpt``, trafilatura ``description``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from newsline.enrich.summarize import grounding_problems, is_boilerplate, sentences, summarize
from newsline.ingest.extract import ExtractError, extract

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
        name: {"n": 0, "clean": 0, "len_ok": 0, "grounded": 0, "rouge": 0.0, "rouge_n": 0}
        for name in ("summarize", "lead reference")
    }
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
        for name, summary in (("summarize", ours), ("lead reference", lead)):
            s = stats[name]
            s["n"] += 1
            flagged = any(is_boilerplate(x) for x in sentences(summary))
            snippets = any(w and w in summary for w in row["without"])
            s["clean"] += not flagged and not snippets
            s["len_ok"] += len(summary) <= max_chars
            s["grounded"] += not grounding_problems(summary, f"{title}\n{text}")
            if row["ref"]:
                s["rouge"] += rouge_l(summary, row["ref"])
                s["rouge_n"] += 1
    print(f"{len(rows)} pages; {failures} skipped (no extractable text); max_chars {max_chars}")
    head = ("method", "pages", "boilerplate-free", "within limit", "grounded", "ROUGE-L F1 (n)")
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
                f"{s['rouge'] / max(s['rouge_n'], 1):.3f} ({int(s['rouge_n'])})",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    n = max(stats["summarize"]["n"], 1)
    print(f"summarize: {secs / n * 1000:.1f} ms/page")


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

"""Extraction quality and speed: newsline's ``extract()`` against plain trafilatura.

Run: ``.venv/bin/python bench/extract_quality.py [--corpora DIR] [--subset NAME] [--limit N]``

Corpora: ``../shared/corpora/articles`` (postlight, readability, trafilatura, goose3).
Every page is given to each system as the same raw bytes with the same URL.

Systems, all measured in this run:
  ours         ``newsline.ingest.extract.extract(bytes, url)``
  traf         ``trafilatura.extract(bytes, url=url)`` — plain defaults (text), with
               ``trafilatura.extract_metadata(bytes, default_url=url)`` for metadata
  traf-fast    ``trafilatura.extract(bytes, url=url, fast=True)`` — the speed reference

Body text (4-word shingles; tokens are lower-cased ``\\w+`` runs, each CJK character a
token; a snippet shorter than 4 tokens is one shingle of its own length):
  readability  reference = text of ``expected.html`` (Readability.js output). Per page
               P = |S(out) ∩ S(ref)| / |S(out)|, R = |S(out) ∩ S(ref)| / |S(ref)|.
  trafilatura  ``with`` snippets are must-have text, ``without`` snippets must-not-have.
               TP = with-shingles present in the output, FN = with-shingles absent,
               FP = without-shingles present. P = TP/(TP+FP) (1.0 when both are 0), R =
               TP/(TP+FN).
  Empty output scores P = R = 0. Precision and recall are macro-averaged over pages; F1 is
  the harmonic mean of the two macro averages.
  postlight    no full reference text: "start" = share of pages whose expected first
               words (``content_start``) occur in the output (whitespace-normalized,
               case-folded), reported for information.

Metadata exact-match rates, over the pages whose ground truth has a non-empty value:
  title    case-folded, NFKC, quotes/dashes unified, whitespace collapsed, trailing
           punctuation stripped.
  author   split on , ; & "and"/"und"/"et"/"y" → set of normalized names; equal sets.
  date     calendar day: when the truth has a time zone (postlight, readability ISO
           values) both sides are compared as UTC days; a date-only truth (trafilatura set)
           is compared with the day as written on the page (our datetime's own offset;
           trafilatura returns a bare date).
  image    URL with the scheme dropped, HTML entities resolved, trailing "/" stripped.
  site     site name, as title.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
import statistics
import sys
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora" / "articles"
FIELDS = ("title", "author", "date", "image", "site")


@dataclass
class Case:
    subset: str
    name: str
    url: str
    data: bytes
    ref_text: str | None = None  # readability: reference text
    with_snippets: list[str] = field(default_factory=list)
    without_snippets: list[str] = field(default_factory=list)
    content_start: str | None = None
    truth: dict[str, str] = field(default_factory=dict)  # FIELDS -> expected value


@dataclass
class Output:
    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None  # ISO string (datetime or date)
    image: str | None = None
    site: str | None = None


# ---------------------------------------------------------------------------------------
# Corpora


def _gz(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def _html_text(markup: str) -> str:
    from lxml import html as lxml_html

    root = lxml_html.fromstring(markup)
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    blocks = []
    for el in root.iter():
        if el.text:
            blocks.append(el.text)
        if el.tail:
            blocks.append(el.tail)
    return " ".join(blocks)


def load_postlight(base: Path) -> Iterator[Case]:
    for line in (base / "postlight" / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        truth = {}
        for ours, theirs in (
            ("title", "title"),
            ("author", "author"),
            ("date", "date_published"),
            ("image", "lead_image_url"),
        ):
            if row.get(theirs):
                truth[ours] = row[theirs]
        yield Case(
            "postlight",
            row["fixture"],
            row.get("url") or "https://example.com/article",
            _gz(base / "postlight" / row["fixture"]),
            content_start=row.get("content_start"),
            truth=truth,
        )


def load_readability(base: Path) -> Iterator[Case]:
    for folder in sorted((base / "readability").iterdir()):
        if not (folder / "source.html.gz").exists():
            continue
        meta = json.loads((folder / "expected-metadata.json").read_text())
        truth = {}
        for ours, theirs in (
            ("title", "title"),
            ("author", "byline"),
            ("date", "publishedTime"),
            ("site", "siteName"),
        ):
            if meta.get(theirs):
                truth[ours] = meta[theirs]
        ref = _html_text(_gz(folder / "expected.html.gz").decode("utf-8"))
        yield Case(
            "readability",
            folder.name,
            "http://fakehost/test/page.html",
            _gz(folder / "source.html.gz"),
            ref_text=ref,
            truth=truth,
        )


def load_trafilatura(base: Path) -> Iterator[Case]:
    entries = json.loads((base / "trafilatura" / "evaldata_subset.json").read_text())
    for url, entry in entries.items():
        path = base / "trafilatura" / "html" / (entry["file"] + ".gz")
        if not path.exists():
            continue
        truth = {k: entry[k] for k in ("title", "author", "date") if entry.get(k)}
        yield Case(
            "trafilatura",
            entry["file"],
            url,
            _gz(path),
            with_snippets=list(entry.get("with") or []),
            without_snippets=list(entry.get("without") or []),
            truth=truth,
        )


def load_goose3(base: Path) -> Iterator[Case]:
    for path in sorted((base / "goose3").glob("*/*.json")):
        page = path.with_suffix(".html.gz")
        if not page.exists():
            continue
        spec = json.loads(path.read_text())
        expected = spec.get("expected") or {}
        truth = {}
        if expected.get("title"):
            truth["title"] = expected["title"]
        if expected.get("authors"):
            truth["author"] = ", ".join(expected["authors"])
        if expected.get("publish_datetime_utc"):
            truth["date"] = expected["publish_datetime_utc"]
        image = expected.get("top_image")
        if isinstance(image, dict):
            image = image.get("src") or image.get("url")
        if isinstance(image, str) and image:
            truth["image"] = image
        yield Case(
            "goose3",
            f"{path.parent.name}/{path.stem}",
            spec.get("url") or "https://example.com/article",
            _gz(page),
            content_start=(expected.get("cleaned_text") or "")[:120] or None,
            truth=truth,
        )


LOADERS = {
    "postlight": load_postlight,
    "readability": load_readability,
    "trafilatura": load_trafilatura,
    "goose3": load_goose3,
}

# ---------------------------------------------------------------------------------------
# Systems


OURS_OPTIONS: dict[str, Any] = {}


def run_ours(case: Case) -> Output:
    from newsline.ingest.extract import DEFAULT_OPTIONS, extract, extract_with

    if OURS_OPTIONS:
        from dataclasses import replace

        result = extract_with(case.data, case.url, replace(DEFAULT_OPTIONS, **OURS_OPTIONS))
    else:
        result = extract(case.data, case.url)
    return Output(
        text=result.text,
        title=result.title,
        author=result.author,
        date=result.published.isoformat() if result.published else None,
        image=result.image_url,
        site=result.site_name,
    )


def run_trafilatura(case: Case) -> Output:
    import trafilatura

    text = trafilatura.extract(case.data, url=case.url) or ""
    meta = trafilatura.extract_metadata(case.data, default_url=case.url)
    return Output(
        text=text,
        title=meta.title,
        author=meta.author,
        date=meta.date,
        image=meta.image,
        site=meta.sitename,
    )


def run_trafilatura_fast(case: Case) -> Output:
    import trafilatura

    return Output(text=trafilatura.extract(case.data, url=case.url, fast=True) or "")


# ---------------------------------------------------------------------------------------
# Scoring

_TOKEN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]|\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(toks: list[str], n: int = 4) -> set[tuple[str, ...]]:
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def snippet_counts(out_tokens: list[str], snippets: list[str]) -> tuple[int, int]:
    """(present, total) shingles of ``snippets`` in the output."""
    present = total = 0
    cache: dict[int, set[tuple[str, ...]]] = {}
    for snippet in snippets:
        snip = tokens(snippet)
        if not snip:
            continue
        n = min(4, len(snip))
        if n not in cache:
            cache[n] = {tuple(out_tokens[i : i + n]) for i in range(len(out_tokens) - n + 1)}
        for sh in shingles(snip, n):
            total += 1
            present += sh in cache[n]
    return present, total


def body_scores(case: Case, out: Output) -> tuple[float, float] | None:
    out_tokens = tokens(out.text or "")
    if case.ref_text is not None:
        ref = shingles(tokens(case.ref_text))
        if not ref:
            return None
        if not out_tokens:
            return 0.0, 0.0
        ours = shingles(out_tokens)
        common = len(ours & ref)
        return common / len(ours), common / len(ref)
    if case.with_snippets or case.without_snippets:
        if not out_tokens:
            return 0.0, 0.0
        tp, with_total = snippet_counts(out_tokens, case.with_snippets)
        fp, _ = snippet_counts(out_tokens, case.without_snippets)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / with_total if with_total else 1.0
        return precision, recall
    return None


def content_start_found(case: Case, out: Output) -> bool | None:
    if not case.content_start:
        return None
    want = " ".join(tokens(html.unescape(case.content_start)))
    have = " ".join(tokens(out.text or ""))
    return bool(want) and want in have


def norm_text(value: str | None) -> str:
    if not value:
        return ""
    value = unicodedata.normalize("NFKC", html.unescape(value)).casefold()
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-")):
        value = value.replace(a, b)
    return re.sub(r"\s+", " ", value).strip(" .:;,!|")


_NAME_SPLIT = re.compile(r"\s*(?:,|;|&|\band\b|\bund\b|\bet\b|\by\b)\s*")


def norm_author(value: str | None) -> frozenset[str]:
    text = norm_text(value)
    text = re.sub(r"^by\s+", "", text)
    return frozenset(p.strip() for p in _NAME_SPLIT.split(text) if p.strip())


def _parse_when(value: str) -> datetime | None:
    value = value.strip()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        from dateutil import parser

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return parser.parse(value)
        except (ValueError, OverflowError):
            return None


def date_match(truth: str, got: str | None) -> bool:
    if not got:
        return False
    want = _parse_when(truth)
    have = _parse_when(got)
    if want is None or have is None:
        return False
    truth_has_tz = want.tzinfo is not None and len(truth.strip()) > 10
    if truth_has_tz and have.tzinfo is not None:
        return want.astimezone(UTC).date() == have.astimezone(UTC).date()
    if truth_has_tz:  # bare date from the system: the day as written on the page
        return want.astimezone(UTC).date() == have.date() or want.date() == have.date()
    return want.date() == have.date()


def norm_image(value: str | None) -> str:
    if not value:
        return ""
    value = html.unescape(value.strip())
    return re.sub(r"^https?://", "", value).rstrip("/")


def field_match(name: str, truth: Any, out: Output) -> bool:
    got = getattr(out, name)
    if isinstance(truth, list):
        truth = ", ".join(map(str, truth))
    if name in ("title", "site"):
        return norm_text(truth) == norm_text(got) and bool(norm_text(got))
    if name == "author":
        return norm_author(truth) == norm_author(got) and bool(norm_author(got))
    if name == "date":
        return date_match(truth, got)
    if name == "image":
        return norm_image(truth) == norm_image(got)
    raise ValueError(name)


# ---------------------------------------------------------------------------------------
# Driver


@dataclass
class Tally:
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    start: list[bool] = field(default_factory=list)
    fields: dict[str, list[bool]] = field(default_factory=lambda: {f: [] for f in FIELDS})
    seconds: float = 0.0
    pages: int = 0
    errors: list[str] = field(default_factory=list)

    def f1(self) -> float:
        p, r = self.p(), self.r()
        return 2 * p * r / (p + r) if p + r else 0.0

    def p(self) -> float:
        return statistics.fmean(self.precision) if self.precision else 0.0

    def r(self) -> float:
        return statistics.fmean(self.recall) if self.recall else 0.0


def evaluate(
    cases: list[Case], systems: dict[str, tuple[Callable[[Case], Output], bool]]
) -> dict[str, tuple[dict[str, Tally], dict[str, Output]]]:
    """Run every system on every page, interleaved page by page (and in rotating order)
    so that load from other processes on the machine hits all systems alike."""
    results: dict[str, tuple[dict[str, Tally], dict[str, Output]]] = {
        name: ({}, {}) for name in systems
    }
    names = list(systems)
    for number, case in enumerate(cases):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            system, score = systems[name]
            tallies, outputs = results[name]
            tally = tallies.setdefault(case.subset, Tally())
            started = time.perf_counter()
            try:
                out = system(case)
            except Exception as exc:  # a crash scores as empty output, and is listed
                tally.errors.append(f"{case.subset}/{case.name}: {type(exc).__name__}: {exc}")
                out = Output(text="")
            tally.seconds += time.perf_counter() - started
            tally.pages += 1
            outputs[f"{case.subset}/{case.name}"] = out
            if not score:
                continue
            scores = body_scores(case, out)
            if scores is not None:
                tally.precision.append(scores[0])
                tally.recall.append(scores[1])
            found = content_start_found(case, out)
            if found is not None:
                tally.start.append(found)
            for field_name, truth in case.truth.items():
                tally.fields[field_name].append(field_match(field_name, truth, out))
    return results


def _rate(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.3f} ({len(values)})" if values else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--subset", action="append", choices=sorted(LOADERS))
    parser.add_argument("--limit", type=int, default=0, help="pages per subset (0 = all)")
    parser.add_argument(
        "--systems", default="ours,trafilatura,traf-fast", help="comma list (for quick iteration)"
    )
    parser.add_argument(
        "--ours-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an ExtractOptions field for 'ours' (variants; default = extract())",
    )
    parser.add_argument("--dump", type=Path, help="write per-page outputs and truth as JSONL")
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        print(f"corpora not found: {args.corpora}", file=sys.stderr)
        return 2
    for item in args.ours_option:
        key, _, value = item.partition("=")
        OURS_OPTIONS[key] = json.loads(value)
    subsets = args.subset or ["postlight", "readability", "trafilatura", "goose3"]
    cases: list[Case] = []
    for name in subsets:
        loaded = list(LOADERS[name](args.corpora))
        cases.extend(loaded[: args.limit] if args.limit else loaded)

    systems = {
        "ours": (run_ours, True),
        "trafilatura": (run_trafilatura, True),
        "traf-fast": (run_trafilatura_fast, False),
    }
    chosen = [s.strip() for s in args.systems.split(",") if s.strip() in systems]
    # Warm-up (imports, model loads) outside the timed loops.
    for name in chosen:
        systems[name][0](cases[0])
    results: dict[str, tuple[dict[str, Tally], dict[str, Output]]] = {
        name: ({}, {}) for name in systems
    }
    results |= evaluate(cases, {name: systems[name] for name in chosen})

    print(f"pages: {len(cases)} ({', '.join(subsets)})\n")
    print("Body text, 4-word shingles (macro P / R / F1):")
    print(f"{'subset':<12} {'system':<12} {'P':>6} {'R':>6} {'F1':>6}  start")
    for subset in subsets:
        for name in ("ours", "trafilatura"):
            t = results[name][0].get(subset)
            if t is None:
                continue
            if t.precision:
                line = f"{t.p():6.3f} {t.r():6.3f} {t.f1():6.3f}"
            else:
                line = f"{'-':>6} {'-':>6} {'-':>6}"
            print(f"{subset:<12} {name:<12} {line}  {_rate(t.start)}")
    for name in ("ours", "trafilatura"):
        tallies = results[name][0]
        if not tallies:
            continue
        pooled_tally = Tally(
            precision=[v for t in tallies.values() for v in t.precision],
            recall=[v for t in tallies.values() for v in t.recall],
        )
        if pooled_tally.precision:
            line = f"{pooled_tally.p():6.3f} {pooled_tally.r():6.3f} {pooled_tally.f1():6.3f}"
            print(f"{'(pooled)':<12} {name:<12} {line}")
    print("\nMetadata exact-match rate (pages with a truth value):")
    print(f"{'subset':<12} {'system':<12} " + " ".join(f"{f:>13}" for f in FIELDS))
    for subset in subsets:
        for name in ("ours", "trafilatura"):
            t = results[name][0].get(subset)
            if t is None:
                continue
            print(
                f"{subset:<12} {name:<12} " + " ".join(f"{_rate(t.fields[f]):>13}" for f in FIELDS)
            )
    print("\nAll subsets pooled:")
    pooled: dict[str, dict[str, list[bool]]] = {}
    for name in ("ours", "trafilatura"):
        pooled[name] = {
            f: [v for t in results[name][0].values() for v in t.fields[f]] for f in FIELDS
        }
        print(f"{'':<12} {name:<12} " + " ".join(f"{_rate(pooled[name][f]):>13}" for f in FIELDS))

    print("\nSpeed (same pages, same bytes):")
    speeds = {}
    for name in ("ours", "trafilatura", "traf-fast"):
        tallies = results[name][0]
        pages = sum(t.pages for t in tallies.values())
        seconds = sum(t.seconds for t in tallies.values())
        speeds[name] = pages / seconds if seconds else 0.0
        print(f"{name:<12} {pages:5d} pages {seconds:7.2f} s {speeds[name]:7.1f} pages/s")
    ratio = speeds["ours"] / speeds["traf-fast"] if speeds["traf-fast"] else 0.0
    print(f"ratio ours / trafilatura fast=True: {ratio:.2f}x (target >= 0.80)")

    for name in ("ours", "trafilatura"):
        errors = [e for t in results[name][0].values() for e in t.errors]
        if errors:
            print(f"\n{name}: {len(errors)} pages raised:")
            for error in errors[:20]:
                print("  " + error)

    if args.dump:
        with args.dump.open("w") as fh:
            for case in cases:
                key = f"{case.subset}/{case.name}"
                row: dict[str, Any] = {"key": key, "url": case.url, "truth": case.truth}
                for name in ("ours", "trafilatura"):
                    out = results[name][1].get(key) or Output(text="")
                    row[name] = {f: getattr(out, f) for f in FIELDS}
                    row[name]["text"] = out.text
                    scores = body_scores(case, out)
                    row[name]["pr"] = scores
                    row[name]["match"] = {f: field_match(f, v, out) for f, v in case.truth.items()}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

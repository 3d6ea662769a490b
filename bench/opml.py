"""OPML import time per outline: 2,000 against 20,000 outlines (issue 16, item 10).

Each size is imported into a fresh, migrated SQLite database with the real
``import_opml`` (parse, one lookup per batch of URLs, multi-row inserts, one channel sync).
The outlines are what real files look like: nested categories, feeds of many hosts and
many feeds of the same host (so tags clash: ``host``, ``host2``, ``host3``, ...). A linear
import has a ratio (time per outline at 20,000 / at 2,000) near 1. The previous version
(one add_publication, hence one channel sync and one scan of every tag, per outline) took
9.4 s for 2,000 feeds and over 300 s for 20,000. Usage:

    .venv/bin/python bench/opml.py [--small 2000] [--large 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from newsline.config import load_settings
from newsline.db.engine import dispose_all, session_scope
from newsline.db.migrate import upgrade
from newsline.ingest.publications import import_opml


def opml(outlines: int) -> bytes:
    """An OPML file with `outlines` feeds in categories of 50, a third of them on 20 hosts."""
    parts = [
        '<?xml version="1.0"?><opml version="2.0"><head><title>Bench & co</title></head><body>'
    ]
    for start in range(0, outlines, 50):
        parts.append(f'<outline text="Category {start // 50} & more">')
        for i in range(start, min(start + 50, outlines)):
            host = f"shared{i % 20}.example" if i % 3 == 0 else f"site{i}.example"
            parts.append(
                f'<outline type="rss" text="Feed {i} & co" xmlUrl="https://{host}/feed/{i}?a=1&b=2"'
                f' htmlUrl="https://{host}/"/>'
            )
        parts.append("</outline>")
    parts.append("</body></opml>")
    return "".join(parts).encode()


def timed_import(outlines: int) -> float:
    """Seconds to import `outlines` feeds into a fresh database (commit included)."""
    body = opml(outlines)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        settings = load_settings(
            None,
            database_url=url,
            data_dir=tmp,
            channels=[{"slug": "bench", "display_name": "Bench", "timezone": "UTC"}],
        )
        start = time.perf_counter()
        with session_scope(url) as session:
            added, present = import_opml(session, settings, body)
        elapsed = time.perf_counter() - start
        dispose_all()
    assert (added, present) == (outlines, 0), (added, present)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=20_000)
    args = parser.parse_args()
    timed_import(200)  # warm-up: imports, SQLAlchemy compiled caches
    small = timed_import(args.small)
    large = timed_import(args.large)
    per_small = small / args.small * 1e6
    per_large = large / args.large * 1e6
    print("| outlines | seconds | µs per outline |")
    print("| ---: | ---: | ---: |")
    print(f"| {args.small:,} | {small:.2f} | {per_small:.0f} |")
    print(f"| {args.large:,} | {large:.2f} | {per_large:.0f} |")
    print(
        f"\nratio (per outline at {args.large:,} / at {args.small:,}): {per_large / per_small:.2f}"
    )


if __name__ == "__main__":
    main()

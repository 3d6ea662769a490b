"""A replay corpus for scale: thousands of feeds on a hundred hosts, from our own demo text.

Used by the distributed-mode tests and ``bench/scale.py``. Each host is one publication
with ``feeds_per_host`` feeds and ``pages_per_host`` article pages; every feed lists a few
of its host's pages, overlapping with its sibling feeds, so the same entry arrives through
several feeds (stored once, whoever stores it first). Page texts recombine the demo
corpus's fictional paragraphs (:mod:`newsline.testing.demo_content`) with a sentence of
their own, so no two pages share a body. Feeds are listed host by host in turn (feed 1 of
every host, then feed 2, ...), so a pass in feed order spreads over the hosts as a real
crawl does. Entries are listed in the same (URL) order in every feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from newsline.testing.corpus import CorpusWriter
from newsline.testing.demo_content import PUBLICATIONS

ENTRIES_PER_FEED = 3


@dataclass(frozen=True)
class ScaleCorpus:
    """Where the corpus is, the OPML subscribing to its feeds, and its size."""

    directory: Path
    opml: Path
    hosts: int
    feeds: int
    pages: int


def _paragraphs() -> list[str]:
    pool = [p for pub in PUBLICATIONS for a in pub.articles for p in a.paragraphs]
    return sorted(set(pool))


def _titles() -> list[str]:
    return sorted({a.title for pub in PUBLICATIONS for a in pub.articles})


def write_scale_corpus(
    directory: Path | str,
    *,
    hosts: int = 100,
    feeds_per_host: int = 20,
    pages_per_host: int = 5,
    now: datetime | None = None,
) -> ScaleCorpus:
    """Write the corpus (manifest, bodies) and ``subscriptions.opml`` into `directory`."""
    out = Path(directory)
    now = now or datetime.now(UTC)
    writer = CorpusWriter(out)
    paragraphs = _paragraphs()
    titles = _titles()
    outlines: list[tuple[int, str]] = []
    for h in range(hosts):
        host = f"news{h:03d}.example"
        pages = []
        for p in range(pages_per_host):
            n = h * pages_per_host + p
            url = f"http://{host}/articles/{p:02d}-report.html"
            title = f"{titles[n % len(titles)]} — {host} report {p + 1}"
            picked = [paragraphs[(n * 7 + k * 13) % len(paragraphs)] for k in range(5)]
            own = (
                f"Correspondent {h + 1} filed this report, number {p + 1} of the day, "
                f"from the {host.split('.')[0]} newsroom."
            )
            body = "\n".join(f"<p>{escape(t)}</p>" for t in [own, *picked])
            published = now - timedelta(minutes=10 + n % 600)
            html = (
                '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{escape(title)}</title>"
                f'<link rel="canonical" href="{url}">'
                f'<meta property="article:published_time" content="{published.isoformat()}">'
                "</head><body><header><nav><a href='/'>Home</a></nav></header>"
                f"<main><article><h1>{escape(title)}</h1>{body}</article></main>"
                "<footer><p>All rights reserved.</p></footer></body></html>\n"
            )
            writer.add(
                url,
                html.encode("utf-8"),
                content_type="text/html; charset=utf-8",
                folder="pages",
                suffix=".html",
                kind="page",
            )
            pages.append((url, title, published, picked[0]))
        if h % 2 == 0:  # half the hosts have a robots.txt allowing everything but /private/
            writer.add(
                f"http://{host}/robots.txt",
                b"User-agent: *\nDisallow: /private/\n",
                content_type="text/plain",
                folder="misc",
                suffix=".txt",
                kind="robots",
            )
        for f in range(feeds_per_host):
            chosen = sorted(
                {pages[(f + k) % len(pages)] for k in range(min(ENTRIES_PER_FEED, len(pages)))}
            )
            feed_url = f"http://{host}/feeds/section-{f:02d}.xml"
            items = "\n".join(
                "<item>"
                f"<title>{escape(title)}</title><link>{url}</link>"
                f'<guid isPermaLink="true">{url}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate>"
                f"<description>{escape(lead)}</description>"
                "</item>"
                for url, title, published, lead in chosen
            )
            rss = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>{host} section {f + 1}</title><link>http://{host}/</link>"
                f"<description>Section {f + 1} of {host}</description>\n{items}\n"
                "</channel></rss>\n"
            )
            writer.add(
                feed_url,
                rss.encode("utf-8"),
                content_type="application/rss+xml; charset=utf-8",
                folder="feeds",
                suffix=".xml",
                kind="feed",
            )
            outlines.append((f * hosts + h, feed_url))
    writer.finish()
    opml = out / "subscriptions.opml"
    body = "\n".join(
        f'<outline type="rss" text="{url}" xmlUrl="{url}" '
        f'newsline:tag="news{url.split("//")[1][4:7]}"/>'
        for _, url in sorted(outlines)
    )
    opml.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<opml version="2.0" xmlns:newsline="https://newsline.dev/ns/opml">'
        f"<head><title>scale corpus</title></head><body>\n{body}\n</body></opml>\n",
        encoding="utf-8",
    )
    return ScaleCorpus(out, opml, hosts, hosts * feeds_per_host, hosts * pages_per_host)

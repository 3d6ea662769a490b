"""A corpus with every fault of the spec mixed among healthy hosts (the demo publishers).

``write_fault_corpus(dir)`` writes the demo corpus plus:

* one feed per fault, ``https://feed-<fault>.faults.example/feed.xml``, answering with that
  fault (its body, where the fault uses one, is a small valid feed of one healthy item on
  the same host);
* one healthy feed, ``https://pages.faults.example/feed.xml``, whose items link to one page
  per fault, ``https://pages.faults.example/<fault>`` (each item has a description, which
  the pipeline should keep when the page fails).

Manifest lines carry ``kind`` and, for fault entries, the fault; ``ground_truth.jsonl``
rows for the extra pages carry ``"fault"`` (the page's own fault, or null) and
``"feed_fault"`` (the fault of the feed listing it, or null), so a test can tell which
items must be stored from their page, which from their feed, and which must record an error.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from newsline.testing.corpus import FAULTS, CorpusWriter
from newsline.testing.democorpus import add_demo

FAULT_DOMAIN = "faults.example"
PAGES_HOST = f"pages.{FAULT_DOMAIN}"


def feed_host(fault: str) -> str:
    """The host whose feed answers with ``fault``."""
    return f"feed-{fault}.{FAULT_DOMAIN}"


def _rss(host: str, title: str, items: list[tuple[str, str, str, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(u)}</link>"
        f'<guid isPermaLink="true">{escape(u)}</guid>'
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<description>{escape(d)}</description></item>\n"
        for t, u, d, when in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>\n'
        f"<title>{escape(title)}</title><link>https://{host}/</link>\n"
        "<description>Fault-injection test feed.</description>\n"
        f"{body}</channel></rss>\n"
    ).encode()


def _page(title: str, text: str) -> bytes:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><main><article><h1>{escape(title)}</h1>"
        f"<p>{escape(text)}</p><p>Neighbours said the work had gone smoothly and that they "
        "were glad to have the street back before the weekend market.</p>"
        "</article></main></body></html>\n"
    ).encode()


def write_fault_corpus(directory: Path | str, *, now: datetime | None = None) -> Path:
    """Write the demo corpus plus every fault as a feed and as a page; return the path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    writer = CorpusWriter(out)
    now = add_demo(writer, now=now)
    rss = "application/rss+xml; charset=utf-8"
    html = "text/html; charset=utf-8"
    page_items = []
    for n, fault in enumerate(sorted(FAULTS)):
        when = now - timedelta(minutes=10 + n)
        # A feed answering with the fault; its one item is a healthy page.
        host = feed_host(fault)
        item_url = f"https://{host}/story"
        # Accented text, so that `bad-charset` has something to garble.
        title = f"Street repairs finish early near the café ({fault} feed)"
        text = f"Crews finished resurfacing Elm Street two days early, the {host} desk reports."
        feed_url = f"https://{host}/feed.xml"
        writer.add(
            feed_url,
            _rss(host, f"Feed with {fault}", [(title, item_url, text, when)]),
            content_type=rss,
            folder="faults",
            suffix=".xml",
            fault=fault,
            kind="feed",
        )
        writer.add(item_url, _page(title, text), content_type=html, folder="faults", kind="page")
        writer.truth.append(_row(item_url, host, title, text, feed_url, None, when, fault))
        # A healthy feed item whose page answers with the fault.
        page_url = f"https://{PAGES_HOST}/{fault}"
        page_title = f"Library extends weekend hours for the crêpe festival ({fault} page)"
        page_text = f"The branch library will open on Sundays from next month ({fault})."
        writer.add(
            page_url,
            _page(page_title, page_text),
            content_type=html,
            folder="faults",
            suffix=".html",
            fault=fault,
            kind="page",
        )
        page_items.append((page_title, page_url, page_text, when))
        writer.truth.append(
            _row(
                page_url,
                PAGES_HOST,
                page_title,
                page_text,
                f"https://{PAGES_HOST}/feed.xml",
                fault,
                when,
                None,
            )
        )
    writer.add(
        f"https://{PAGES_HOST}/feed.xml",
        _rss(PAGES_HOST, "Pages with faults", page_items),
        content_type=rss,
        folder="faults",
        suffix=".xml",
        kind="feed",
    )
    return writer.finish()


def _row(
    url: str,
    host: str,
    title: str,
    text: str,
    feed: str,
    fault: str | None,
    when: datetime,
    feed_fault: str | None,
) -> dict[str, object]:
    return {
        "url": url,
        "host": host,
        "origin": "fault",
        "source": None,
        "title": title,
        "author": None,
        "published": when.isoformat(),
        "lead_image_url": None,
        "description": text,
        "text_start": text,
        "text_with": [],
        "text_without": [],
        "feeds": [feed],
        "generated_feed": False,
        "fault": fault,  # the page answers with this fault
        "feed_fault": feed_fault,  # the feed listing the page answers with this fault
        "served": True,
    }

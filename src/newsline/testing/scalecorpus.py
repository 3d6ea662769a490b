"""A replay corpus for scale: thousands of feeds on a hundred hosts, from our own demo text.

Used by the distributed-mode tests and ``bench/scale.py``. Each host is one publication
with ``feeds_per_host`` feeds and ``pages_per_host`` article pages; every feed lists a few
of its host's pages, overlapping with its sibling feeds, so the same entry arrives through
several feeds (stored once, whoever stores it first). Page texts recombine the demo
corpus's fictional paragraphs (:mod:`newsline.testing.demo_content`) with a sentence of
their own, so no two pages share a body; pages are bare (about 1.5 KB) or wrapped in a
news site's furniture up to a realistic size (``page_bytes``), around the same article.
Feeds are listed host by host in turn (feed 1 of every host, then feed 2, ...), so a pass
in feed order spreads over the hosts as a real crawl does. Entries are listed in the same
(URL) order in every feed.
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
#: Sections of a host's navigation (a realistic page's chrome, see _with_chrome).
SECTIONS = (
    "World",
    "Politics",
    "Business",
    "Markets",
    "Technology",
    "Science",
    "Health",
    "Climate",
    "Sport",
    "Culture",
    "Books",
    "Travel",
    "Food",
    "Opinion",
    "Education",
    "Local",
)


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


def _with_chrome(
    html: str, host: str, n: int, titles: list[str], paragraphs: list[str], size: int
) -> str:
    """`html` inside a news site's page furniture, padded to about `size` bytes with more
    of it (lists of other headlines, the page's state as a script), as publishers pad theirs."""

    def headline(k: int) -> str:
        return escape(titles[(n * 31 + k * 17) % len(titles)])

    def link(k: int, section: str) -> str:
        slug = section.lower()
        return f'<li><a href="https://{host}/{slug}/{(n + k) % 997:03d}-story.html">{headline(k)}</a></li>'

    menu = "".join(
        f'<li class="menu-section"><a href="https://{host}/{s.lower()}/">{s}</a><ul>'
        + "".join(link(k, s) for k in range(i * 4, i * 4 + 4))
        + "</ul></li>"
        for i, s in enumerate(SECTIONS)
    )
    style = "".join(
        f".nl-{s.lower()} .card{{margin:0 0 1rem;padding:.5rem;border-top:1px solid #ddd}}"
        f".nl-{s.lower()} .card h3{{font:600 1rem/1.3 Georgia,serif}}"
        for s in SECTIONS
    )
    head = (
        f"<style>{style}</style>"
        f'<meta property="og:site_name" content="{host}"><meta name="twitter:card" '
        'content="summary_large_image"><link rel="preload" href="/static/app.js" as="script">'
    )
    header = f'<header class="site"><nav aria-label="Sections"><ul>{menu}</ul></nav></header>'
    aside = (
        '<aside class="most-read"><h2>Most read</h2><ol>'
        + "".join(link(k, SECTIONS[k % len(SECTIONS)]) for k in range(100, 110))
        + '</ol></aside><div class="ad-slot" data-slot="mpu"></div>'
        '<form class="newsletter" action="/subscribe"><label>Your e-mail '
        '<input type="email" name="email"></label><button>Sign up</button></form>'
    )
    footer = (
        '<footer class="site"><ul class="links">'
        + "".join(link(k, SECTIONS[k % len(SECTIONS)]) for k in range(200, 260))
        + "</ul><p>All rights reserved.</p></footer>"
    )
    page = html.replace("</head>", head + "</head>").replace(
        "<body><header>", f"<body>{header}<header>"
    )
    page = page.replace("</main>", f"</main>{aside}").replace("</body>", f"{footer}</body>")
    # Story cards (pictures, kickers, times: markup more than text) for a third of the
    # size, then the page's state as a script (other stories' teasers, as a framework's
    # hydration data carries them) for the rest.
    cards: list[str] = []
    length = len(page)
    k = 300
    while length < size // 3:
        section = SECTIONS[k % len(SECTIONS)]
        href = f"https://{host}/{section.lower()}/{k:04d}.html"
        cards.append(
            f'<div class="card nl-{section.lower()}"><div class="media"><a href="{href}" '
            f'tabindex="-1"><picture><source type="image/webp" srcset="/img/{k}-320.webp 320w, '
            f'/img/{k}-640.webp 640w"><img src="/img/{k}-320.jpg" width="320" height="180" '
            f'alt="" loading="lazy"></picture></a></div><div class="body"><span class="kicker">'
            f'<a href="https://{host}/{section.lower()}/">{section}</a></span><h3 class="title">'
            f'<a href="{href}">{headline(k)}</a></h3><div class="meta"><time datetime='
            f'"2026-01-01T{k % 24:02d}:00:00Z">{k % 24} hours ago</time><span class="share">'
            '<button type="button" aria-label="Share"><svg viewBox="0 0 24 24" width="16" '
            'height="16"><path d="M18 16a3 3 0 0 0-2.4 1.2l-7-3.5a3 3 0 0 0 0-1.4l7-3.5A3 3 0 1 '
            '0 15 7l-7 3.5a3 3 0 1 0 0 3l7 3.5A3 3 0 1 0 18 16z"/></svg></button></span>'
            "</div></div></div>"
        )
        length += len(cards[-1])
        k += 1
    page = page.replace(
        "</body>",
        f'<section class="related"><h2>More news</h2>{"".join(cards)}</section></body>',
    )
    state: list[str] = []
    length = len(page)
    while length < size:
        teaser = escape(paragraphs[(n * 11 + k) % len(paragraphs)])
        state.append(f'{{"id":{k},"headline":"{headline(k)}","teaser":"{teaser}"}},')
        length += len(state[-1])
        k += 1
    script = '<script id="state" type="application/json">{"items":[' + "".join(state)
    return page.replace("</body>", script.rstrip(",") + "]}</script></body>")


def write_scale_corpus(
    directory: Path | str,
    *,
    hosts: int = 100,
    feeds_per_host: int = 20,
    pages_per_host: int = 5,
    page_bytes: int = 0,
    now: datetime | None = None,
) -> ScaleCorpus:
    """Write the corpus (manifest, bodies) and ``subscriptions.opml`` into `directory`.

    Every feed lists ``ENTRIES_PER_FEED`` of its host's pages, so ``pages_per_host`` above
    ``feeds_per_host + ENTRIES_PER_FEED - 1`` leaves pages that no feed lists. ``page_bytes`` > 0 wraps each
    article in a news site's chrome (navigation, inline style and state, related and most-read
    lists, footer) up to about that many bytes, as real article pages are: the shared
    article corpora's sets have medians of 15, 42, 93 and 149 KB. 0 writes a bare page
    (about 1.5 KB), where fetching and storing weigh more than extraction."""
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
            if page_bytes > len(html):
                html = _with_chrome(html, host, n, titles, paragraphs, page_bytes)
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

"""The demo corpus: four fictional publishers written by the project, generated at run time.

``write_demo_corpus(dir)`` writes a capture corpus (``manifest.jsonl`` + bodies +
``ground_truth.jsonl``) that :class:`~newsline.testing.replay.ReplayServer` serves. Publish
dates are relative to ``now`` so the demo always looks fresh; everything else is fixed, so
two runs with the same ``now`` write the same bytes.

What it exercises: RSS 2.0 (one with full ``content:encoded``) and Atom feeds; feed
discovery from each home page; the same event covered by several publishers; one
syndicated near-copy; lead images as JPEG and PNG (one only as a lazy ``data-src`` with a
relative URL); a ``robots.txt`` disallowing ``/members/`` on one host (whose feed links
there); a feed entry whose page is missing (404), so the feed's own content must be kept.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape as html_escape
from pathlib import Path
from urllib.parse import urljoin
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw

from newsline.testing.corpus import CorpusWriter
from newsline.testing.demo_content import PUBLICATIONS, DemoArticle, DemoPublication
from newsline.testing.demo_history import with_history

TEXT_START_WORDS = 30
BOILERPLATE = ("Most read", "Subscribe to")  # on every page, never part of an article
_PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_REPUBLISH = {"gazette": "full", "courier": "full", "ledger": "teaser", "harbor": "teaser"}
_IMAGE_TYPES = {"svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg"}


@dataclass(frozen=True)
class DemoSource:
    """A demo publication as ``newsline publications add`` needs it."""

    tag: str
    name: str
    home_url: str
    feed_url: str
    republish: str  # "full" | "teaser"


def demo_publications(*, history: bool = False) -> tuple[DemoPublication, ...]:
    """The demo's publishers: the four hand-written ones, or (`history`) the thirteen of
    ``newsline demo`` with four days of articles (:mod:`newsline.testing.demo_history`)."""
    return with_history(PUBLICATIONS) if history else PUBLICATIONS


def demo_sources(*, history: bool = False) -> list[DemoSource]:
    """The demo corpus's publications, in a stable order."""
    return [
        DemoSource(
            p.tag,
            p.name,
            f"https://{p.host}/",
            f"https://{p.host}{p.feed_path}",
            _REPUBLISH.get(p.tag, "teaser"),
        )
        for p in demo_publications(history=history)
    ]


def write_demo_corpus(
    directory: Path | str, *, now: datetime | None = None, history: bool = False
) -> Path:
    """Write the demo corpus into ``directory`` (created if needed) and return its path.

    With `history`, the thirteen publishers and four days of ``newsline demo``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    writer = CorpusWriter(out)
    add_demo(writer, now=now, history=history)
    return writer.finish()


def add_demo(
    writer: CorpusWriter, *, now: datetime | None = None, history: bool = False
) -> datetime:
    """Add the demo publications to a corpus being written; return the ``now`` used."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    publications = demo_publications(history=history)
    by_slug = {a.slug: (p, a) for p in publications for a in p.articles}
    for pub in publications:
        _write_publication(writer, pub, now, by_slug)
    return now


# -- one publisher ----------------------------------------------------------------------------


def _url(pub: DemoPublication, path: str) -> str:
    return f"https://{pub.host}{path}"


def _published(article: DemoArticle, now: datetime) -> datetime:
    return now - timedelta(minutes=article.age_minutes)


def _image_url(pub: DemoPublication, article: DemoArticle) -> str | None:
    """Where the lead image is served (absolute)."""
    if not article.image:
        return None
    return urljoin(_url(pub, article.path), _image_ref(pub, article))


def _image_ref(pub: DemoPublication, article: DemoArticle) -> str:
    """The image URL as the page writes it (relative for the lazy-image page)."""
    name = f"{article.slug}.{article.image}"
    return f"../images/{name}" if article.lazy_image else f"https://{pub.host}/images/{name}"


def _write_publication(
    writer: CorpusWriter,
    pub: DemoPublication,
    now: datetime,
    by_slug: dict[str, tuple[DemoPublication, DemoArticle]],
) -> None:
    feed_url = _url(pub, pub.feed_path)
    articles = sorted(pub.articles, key=lambda a: a.age_minutes)
    http_now = format_datetime(now, usegmt=True)
    if pub.feed_format == "atom":
        feed, ctype = _atom(pub, articles, now), "application/atom+xml; charset=utf-8"
    else:
        feed, ctype = _rss(pub, articles, now), "application/rss+xml; charset=utf-8"
    writer.add(
        feed_url,
        feed.encode("utf-8"),
        content_type=ctype,
        folder="feeds",
        suffix=".xml",
        headers={"Last-Modified": http_now, "Cache-Control": "max-age=300"},
        kind="feed",
    )
    writer.add(
        _url(pub, "/"),
        _home(pub, articles).encode("utf-8"),
        content_type="text/html; charset=utf-8",
        folder="pages",
        suffix=".html",
        kind="home",
    )
    if pub.robots:
        writer.add(
            _url(pub, "/robots.txt"),
            pub.robots.encode("ascii"),
            content_type="text/plain",
            folder="misc",
            suffix=".txt",
            kind="robots",
        )
    disallowed = _disallowed_prefixes(pub.robots)
    for article in articles:
        url = _url(pub, article.path)
        image_url = _image_url(pub, article)
        if article.served:
            writer.add(
                url,
                _page(pub, article, now).encode("utf-8"),
                content_type="text/html; charset=utf-8",
                folder="pages",
                suffix=".html",
                headers={"Last-Modified": format_datetime(_published(article, now), usegmt=True)},
                kind="page",
            )
        if image_url and article.served:
            data, itype = _image(pub, article)
            writer.add(
                image_url,
                data,
                content_type=itype,
                folder="images",
                suffix=f".{article.image}",
                headers={"Cache-Control": "max-age=86400"},
                kind="image",
            )
        original = by_slug.get(article.syndicated_from or "")
        writer.truth.append(
            {
                "url": url,
                "host": pub.host,
                "origin": "demo",
                "source": None,
                "title": article.title,
                "author": article.author,
                "published": _published(article, now).isoformat(),
                "lead_image_url": image_url,
                "description": article.dek,
                "text_start": _first_words(" ".join(article.paragraphs)),
                "text_with": [_first_words(article.paragraphs[-1], 8)],
                "text_without": list(BOILERPLATE),
                "feeds": [feed_url],
                "generated_feed": False,
                "publication": pub.tag,
                "topic": article.topic,
                "story": article.story,
                "syndicated_from": _url(original[0], original[1].path) if original else None,
                "robots_disallowed": any(article.path.startswith(p) for p in disallowed),
                "served": article.served,
            }
        )


def _disallowed_prefixes(robots: str | None) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in (robots or "").splitlines()
        if line.lower().startswith("disallow:") and line.split(":", 1)[1].strip()
    ]


def _first_words(text: str, count: int = TEXT_START_WORDS) -> str:
    return " ".join(text.split()[:count])


# -- feeds ------------------------------------------------------------------------------------


def _body_html(article: DemoArticle) -> str:
    return "".join(f"<p>{html_escape(p, quote=False)}</p>" for p in article.paragraphs)


def _rss(pub: DemoPublication, articles: list[DemoArticle], now: datetime) -> str:
    items = []
    for a in articles:
        url = _url(pub, a.path)
        parts = [
            f"<title>{escape(a.title)}</title>",
            f"<link>{escape(url)}</link>",
            f'<guid isPermaLink="true">{escape(url)}</guid>',
            f"<pubDate>{format_datetime(_published(a, now))}</pubDate>",
            f"<dc:creator>{escape(a.author)}</dc:creator>",
            f"<category>{escape(a.topic)}</category>",
            f"<description>{escape(a.dek)}</description>",
        ]
        if pub.full_content:
            parts.append(f"<content:encoded><![CDATA[{_body_html(a)}]]></content:encoded>")
        image = _image_url(pub, a)
        if image and not a.lazy_image:
            mime = _IMAGE_TYPES[a.image]
            parts.append(f'<media:content url="{escape(image)}" medium="image" type="{mime}"/>')
        items.append("<item>\n  " + "\n  ".join(parts) + "\n</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:media="http://search.yahoo.com/mrss/">\n<channel>\n'
        f"<title>{escape(pub.name)}</title>\n"
        f"<link>https://{pub.host}/</link>\n"
        f"<description>{escape(pub.tagline)}</description>\n"
        "<language>en-us</language>\n"
        f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>\n"
        f'<atom:link href="{_url(pub, pub.feed_path)}" rel="self" type="application/rss+xml"/>\n'
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )


def _atom(pub: DemoPublication, articles: list[DemoArticle], now: datetime) -> str:
    entries = []
    for a in articles:
        url = _url(pub, a.path)
        when = _published(a, now).isoformat().replace("+00:00", "Z")
        entries.append(
            "<entry>\n"
            f"  <title>{escape(a.title)}</title>\n"
            f"  <id>tag:{pub.host},2024:{a.slug}</id>\n"
            f'  <link rel="alternate" type="text/html" href="{escape(url)}"/>\n'
            f"  <published>{when}</published>\n  <updated>{when}</updated>\n"
            f"  <author><name>{escape(a.author)}</name></author>\n"
            f'  <category term="{escape(a.topic)}"/>\n'
            f"  <summary>{escape(a.dek)}</summary>\n"
            "</entry>"
        )
    updated = now.isoformat().replace("+00:00", "Z")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>{escape(pub.name)}</title>\n<subtitle>{escape(pub.tagline)}</subtitle>\n"
        f"<id>https://{pub.host}/</id>\n<updated>{updated}</updated>\n"
        f'<link rel="self" type="application/atom+xml" href="{_url(pub, pub.feed_path)}"/>\n'
        f'<link rel="alternate" type="text/html" href="https://{pub.host}/"/>\n'
        + "\n".join(entries)
        + "\n</feed>\n"
    )


# -- pages ------------------------------------------------------------------------------------


def _chrome(pub: DemoPublication, title: str, head_extra: str, main: str) -> str:
    """The site around an article: navigation, a most-read box, a footer (boilerplate)."""
    ftype = "application/atom+xml" if pub.feed_format == "atom" else "application/rss+xml"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html_escape(title)}</title>
<link rel="alternate" type="{ftype}" title="{html_escape(pub.name)}" href="{pub.feed_path}">
<link rel="icon" href="/favicon.ico">
{head_extra}
<style>body{{font-family:Georgia,serif;margin:0}} header{{background:{pub.color};color:#fff}}</style>
</head>
<body>
<div class="cookie-banner">We use cookies to remember your preferences. <button>OK</button></div>
<header class="masthead"><a href="/" class="logo">{html_escape(pub.name)}</a>
<nav><ul><li><a href="/news/">News</a></li><li><a href="/sports/">Sports</a></li>
<li><a href="/business/">Business</a></li><li><a href="/opinion/">Opinion</a></li></ul></nav>
</header>
{main}
<aside class="most-read"><h2>Most read</h2><ol>
<li><a href="/">Weather: a mild week ahead, with rain on Friday</a></li>
<li><a href="/">Letters to the editor</a></li>
<li><a href="/">Crossword and puzzles</a></li></ol></aside>
<footer><p>Subscribe to {html_escape(pub.name)} for unlimited access.</p>
<p>&copy; {html_escape(pub.name)}. All rights reserved. <a href="/privacy">Privacy</a></p>
</footer>
</body>
</html>
"""


def _page(pub: DemoPublication, article: DemoArticle, now: datetime) -> str:
    url = _url(pub, article.path)
    published = _published(article, now)
    iso = published.isoformat().replace("+00:00", "Z")
    shown = published.strftime("%B %-d, %Y %H:%M UTC")
    image_url = _image_url(pub, article)
    meta = [
        f'<link rel="canonical" href="{url}">',
        f'<meta name="description" content="{html_escape(article.dek)}">',
        f'<meta name="author" content="{html_escape(article.author)}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:title" content="{html_escape(article.title)}">',
        f'<meta property="og:description" content="{html_escape(article.dek)}">',
        f'<meta property="og:url" content="{url}">',
        f'<meta property="og:site_name" content="{html_escape(pub.name)}">',
        f'<meta property="article:published_time" content="{iso}">',
        f'<meta property="article:section" content="{html_escape(article.topic)}">',
    ]
    if image_url and not article.lazy_image:
        meta.append(f'<meta property="og:image" content="{image_url}">')
    figure = ""
    if article.image:
        ref = _image_ref(pub, article)
        alt = html_escape(article.caption or article.title)
        if article.lazy_image:
            img = f'<img class="lazyload" src="{_PIXEL}" data-src="{ref}" alt="{alt}">'
        else:
            img = f'<img src="{ref}" alt="{alt}" width="1200" height="630">'
        caption = (
            f"<figcaption>{html_escape(article.caption)}</figcaption>" if article.caption else ""
        )
        figure = f'<figure class="lead">{img}{caption}</figure>'
    body = _body_html(article)
    byline = html_escape(article.author)
    time = f'<time datetime="{iso}">{shown}</time>'
    if pub.tag == "harbor":  # a wire: dateline paragraph, id-based container
        main = (
            f'<div id="story"><h1 class="headline">{html_escape(article.title)}</h1>'
            f'<p class="byline">By {byline}, Harbor Wire &middot; {time}</p>{figure}'
            f'<div class="story-text">{body}</div></div>'
        )
    elif pub.tag == "ledger":  # business paper: standfirst and a share bar
        main = (
            f'<main><div class="article"><h1>{html_escape(article.title)}</h1>'
            f'<p class="standfirst">{html_escape(article.dek)}</p>'
            f'<div class="meta"><span class="author">{byline}</span> {time}</div>'
            '<div class="share">Share: <a href="#">E-mail</a> <a href="#">Print</a></div>'
            f'{figure}<div class="article-body">{body}</div></div></main>'
        )
    else:
        main = (
            f'<main><article class="story"><h1>{html_escape(article.title)}</h1>'
            f'<p class="dek">{html_escape(article.dek)}</p>'
            f'<p class="byline">By <span class="author">{byline}</span> {time}</p>'
            f'{figure}<section class="content">{body}</section>'
            '<p class="tags">Filed under: '
            f'<a href="/topics/{article.topic}">{article.topic}</a></p></article></main>'
        )
    return _chrome(pub, f"{article.title} | {pub.name}", "\n".join(meta), main)


def _home(pub: DemoPublication, articles: list[DemoArticle]) -> str:
    links = "".join(
        f'<li><a href="{html_escape(a.path)}">{html_escape(a.title)}</a></li>' for a in articles
    )
    main = f"<main><h1>{html_escape(pub.tagline)}</h1><ul class='river'>{links}</ul></main>"
    return _chrome(pub, pub.name, "", main)


# -- images -----------------------------------------------------------------------------------


def _image(pub: DemoPublication, article: DemoArticle) -> tuple[bytes, str]:
    if article.image == "png":
        return _png(240, 126, _rgb(pub.color), article.age_minutes), "image/png"
    if article.image == "jpg":
        return _jpeg(pub, article), "image/jpeg"
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">'
        f'<rect width="1200" height="630" fill="{pub.color}"/>'
        f'<circle cx="{200 + article.age_minutes % 800}" cy="315" r="180" fill="#ffffff22"/>'
        '<text x="60" y="560" font-family="Georgia,serif" font-size="64" fill="#fff">'
        f"{escape(pub.name)} \u00b7 {escape(article.topic)}</text></svg>\n"
    )
    return svg.encode("utf-8"), "image/svg+xml"


def _jpeg(pub: DemoPublication, article: DemoArticle) -> bytes:
    """A 1200x630 photo stand-in: the publisher's colour, soft shapes placed by the article."""
    base = _rgb(pub.color)
    image = Image.new("RGB", (1200, 630), base)
    draw = ImageDraw.Draw(image)
    seed = zlib.crc32(article.slug.encode())
    for n in range(5):
        x = (seed >> (n * 5)) % 1100
        y = (seed >> (n * 3 + 2)) % 560
        r = 90 + (seed >> n) % 160
        light = tuple(min(255, c + 30 + 18 * n) for c in base)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=light)
    draw.rectangle((0, 560, 1200, 630), fill=tuple(max(0, c - 40) for c in base))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=72)
    return buf.getvalue()


def _rgb(color: str) -> tuple[int, int, int]:
    value = int(color.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _png(width: int, height: int, rgb: tuple[int, int, int], seed: int) -> bytes:
    """A small striped PNG (no imaging library needed)."""
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter: none
        for x in range(width):
            light = ((x + y + seed) // 12) % 2
            row += bytes(min(255, c + 40 * light) for c in rgb)
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )

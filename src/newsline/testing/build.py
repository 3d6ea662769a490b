"""Build a capture corpus from captured feeds and article pages (``newsline replay build``).

Input folder layout (any of the three may be missing):

``feeds/``
    feed files (RSS, Atom, RDF, JSON Feed), any depth. Each is served at its self link
    (``atom:link rel="self"`` / JSON Feed ``feed_url``); without one at
    ``https://<host of its site link>/feeds/<file name>``; without a site link at
    ``https://unlinked-feeds.example/<path under feeds/>``. When two files claim one URL the
    later one (in path order) moves to ``https://<host>/feeds/<path with / as ->``.
``articles/``
    the shared article corpora with their ground truth: ``postlight/`` (URL from
    ``ground_truth.jsonl``), ``trafilatura/`` (keys of ``evaldata_subset.json``),
    ``goose3/`` (``url`` of each JSON), ``readability/`` (served at
    ``https://fakehost.example/test/<page folder>/page.html`` — its tests use the single
    dummy URL ``http://fakehost/test/page.html``).
``pages/``
    any other saved pages (``*.html`` or ``*.html.gz``), served at their
    ``<link rel="canonical">`` or ``og:url``.

Pages that no captured feed lists — every page of a host whose feed we do not have, and
pages older than the captured feed of their host — are listed in a feed of our own, one per
host, at ``<scheme>://<host>/newsline-replay-feed.xml`` (manifest key ``"generated": true``).
Feed entries linking to pages we do not have are left alone: they answer 404.
Broken input files are skipped and counted by reason in the :class:`BuildReport`.
"""

from __future__ import annotations

import gzip
import html
import json
import re
import shutil
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from newsline.errors import NewslineError
from newsline.testing.corpus import CorpusError, CorpusWriter, normalize_host, url_key

LAST_MODIFIED = "Mon, 03 Jun 2024 00:00:00 GMT"  # fixed, so builds are reproducible
GENERATED_FEED_PATH = "/newsline-replay-feed.xml"
UNLINKED_FEEDS_HOST = "unlinked-feeds.example"
READABILITY_HOST = "fakehost.example"
TEXT_START_WORDS = 30

FEED_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "rdf": "application/rdf+xml",
    "json": "application/feed+json",
}

_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeError, ValueError)


class BuildError(NewslineError):
    """The input or output folder cannot be used."""


@dataclass
class BuildReport:
    """What a build wrote and what it skipped (and why)."""

    out_dir: Path
    feeds: int = 0
    generated_feeds: int = 0
    pages: int = 0
    hosts: set[str] = field(default_factory=set)
    renamed_feeds: int = 0
    unlisted_pages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        """Count one input file left out."""
        self.skipped[reason] += 1
        self.skipped_files.append((path, reason))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (written as ``build-report.json`` in the corpus)."""
        return {
            "feeds": self.feeds,
            "generated_feeds": self.generated_feeds,
            "pages": self.pages,
            "hosts": len(self.hosts),
            "renamed_feeds": self.renamed_feeds,
            "unlisted_pages": self.unlisted_pages,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped_files],
        }


@dataclass
class Page:
    """A captured article page and what is known about it."""

    url: str
    body: bytes
    source: str
    origin: str
    title: str | None = None
    author: str | None = None
    published: str | None = None
    lead_image_url: str | None = None
    description: str | None = None
    text_start: str | None = None
    text_with: list[str] = field(default_factory=list)
    text_without: list[str] = field(default_factory=list)


def build_corpus(source: Path, out: Path, *, force: bool = False) -> BuildReport:
    """Build a capture corpus in ``out`` from ``source`` (layout in the module docstring)."""
    source, out = Path(source), Path(out)
    parts = {name: source / name for name in ("feeds", "articles", "pages")}
    if not any(p.is_dir() for p in parts.values()):
        raise BuildError(f"{source}: no feeds/, articles/ or pages/ folder to build from")
    if out.resolve() == source.resolve() or out.resolve().is_relative_to(source.resolve()):
        raise BuildError(f"{out}: the corpus must not be written inside its source {source}")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise BuildError(f"{out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    report = BuildReport(out)
    writer = CorpusWriter(out)
    pages: dict[str, Page] = {}

    def take(page: Page) -> None:
        try:
            key = url_key(page.url)
        except CorpusError:
            report.skip(page.source, "bad-url")
            return
        if key in pages:
            report.skip(page.source, "duplicate-url")
            return
        pages[key] = page

    articles = parts["articles"]
    if articles.is_dir():
        for loader in (_postlight, _trafilatura, _goose3, _readability):
            for page in loader(articles, source, report):
                take(page)
    if parts["pages"].is_dir():
        for page in _saved_pages(parts["pages"], source, report):
            take(page)

    listed: dict[str, list[str]] = defaultdict(list)
    if parts["feeds"].is_dir():
        _add_feeds(parts["feeds"], source, writer, report, pages, listed)

    # Pages no captured feed lists (all pages of hosts whose feed we lack, and pages older
    # than a captured feed's window) get a feed of our own on their host.
    by_host: dict[str, list[Page]] = defaultdict(list)
    for key, page in pages.items():
        if not listed.get(key):
            by_host[normalize_host(urlsplit(page.url).hostname or "")].append(page)
    generated_for: dict[str, str] = {}
    for host in sorted(by_host):
        feed_url, body = _generated_feed(host, by_host[host])
        if writer.add(
            feed_url,
            body,
            content_type="application/rss+xml; charset=utf-8",
            folder="feeds",
            suffix=".xml",
            headers={"Last-Modified": LAST_MODIFIED},
            kind="feed",
            generated=True,
        ):
            report.generated_feeds += 1
            report.hosts.add(host)
            generated_for[host] = feed_url
            for page in by_host[host]:
                listed[url_key(page.url)].append(feed_url)

    for key, page in pages.items():
        host = normalize_host(urlsplit(page.url).hostname or "")
        if not writer.add(
            page.url,
            page.body,
            content_type="text/html",
            folder="pages",
            suffix=".html",
            headers={"Last-Modified": LAST_MODIFIED},
            kind="page",
            source=page.source,
        ):
            report.skip(page.source, "duplicate-url")
            continue
        report.pages += 1
        report.hosts.add(host)
        feeds = listed.get(key, [])
        if not feeds:
            report.unlisted_pages += 1
        generated = generated_for.get(host) in feeds
        writer.truth.append(_truth_row(page, host, feeds, generated))

    writer.finish()
    (out / "build-report.json").write_text(
        json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report


def _truth_row(page: Page, host: str, feeds: list[str], generated: bool) -> dict[str, Any]:
    return {
        "url": page.url,
        "host": host,
        "origin": page.origin,
        "source": page.source,
        "title": page.title,
        "author": page.author,
        "published": page.published,
        "lead_image_url": page.lead_image_url,
        "description": page.description,
        "text_start": page.text_start,
        "text_with": page.text_with,
        "text_without": page.text_without,
        "feeds": feeds,
        "generated_feed": generated,
    }


# -- article loaders ------------------------------------------------------------------------


def _read_page(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list):
        joined = ", ".join(v for v in value if isinstance(v, str) and v.strip())
        return joined or None
    return None


def _first_words(text: str | None, count: int = TEXT_START_WORDS) -> str | None:
    if not text:
        return None
    words = text.split()
    return " ".join(words[:count]) or None


def _postlight(articles: Path, root: Path, report: BuildReport) -> Iterator[Page]:
    folder = articles / "postlight"
    truth = folder / "ground_truth.jsonl"
    if not truth.is_file():
        return
    used: set[str] = set()
    with truth.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            where = f"{_rel(truth, root)}:{number}"
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                report.skip(where, "bad-ground-truth")
                continue
            fixture = row.get("fixture")
            if isinstance(fixture, str):
                used.add(fixture)
            if not isinstance(fixture, str):
                report.skip(where, "bad-ground-truth")
                continue
            if not _str(row.get("url")):
                report.skip(_rel(folder / fixture, root), "no-url")
                continue
            path = folder / fixture
            try:
                body = _read_page(path)
            except _READ_ERRORS:
                report.skip(_rel(path, root), "unreadable")
                continue
            yield Page(
                url=row["url"].strip(),
                body=body,
                source=_rel(path, root),
                origin="postlight",
                title=_str(row.get("title")),
                author=_str(row.get("author")),
                published=_str(row.get("date_published")),
                lead_image_url=_str(row.get("lead_image_url")),
                description=_str(row.get("dek")),
                text_start=_str(row.get("content_start")),
            )
    fixtures = folder / "fixtures"
    if fixtures.is_dir():
        for path in sorted(fixtures.iterdir()):
            if _rel(path, folder) not in used:
                report.skip(_rel(path, root), "no-url")


def _trafilatura(articles: Path, root: Path, report: BuildReport) -> Iterator[Page]:
    folder = articles / "trafilatura"
    index = folder / "evaldata_subset.json"
    if not index.is_file():
        return
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, json.JSONDecodeError):
        report.skip(_rel(index, root), "bad-ground-truth")
        return
    if not isinstance(data, dict):
        report.skip(_rel(index, root), "bad-ground-truth")
        return
    for url, meta in data.items():
        if not isinstance(meta, dict) or not isinstance(meta.get("file"), str):
            report.skip(f"{_rel(index, root)}#{url}", "bad-ground-truth")
            continue
        path = folder / "html" / f"{meta['file']}.gz"
        if not path.is_file():
            path = folder / "html" / meta["file"]
        try:
            body = _read_page(path)
        except _READ_ERRORS:
            report.skip(_rel(path, root), "unreadable")
            continue
        yield Page(
            url=url,
            body=body,
            source=_rel(path, root),
            origin="trafilatura",
            title=_str(meta.get("title")),
            author=_str(meta.get("author")),
            published=_str(meta.get("date")),
            description=_str(meta.get("description")),
            text_with=[s for s in meta.get("with") or [] if isinstance(s, str)],
            text_without=[s for s in meta.get("without") or [] if isinstance(s, str)],
        )


def _goose3(articles: Path, root: Path, report: BuildReport) -> Iterator[Page]:
    folder = articles / "goose3"
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*.html*")):
        stem = path.name.removesuffix(".gz").removesuffix(".html")
        meta_path = path.with_name(f"{stem}.json")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            report.skip(_rel(path, root), "no-url")
            continue
        except (OSError, UnicodeError, json.JSONDecodeError):
            report.skip(_rel(meta_path, root), "bad-ground-truth")
            continue
        url = _str(meta.get("url")) if isinstance(meta, dict) else None
        if not url:
            report.skip(_rel(path, root), "no-url")
            continue
        try:
            body = _read_page(path)
        except _READ_ERRORS:
            report.skip(_rel(path, root), "unreadable")
            continue
        expected = meta.get("expected") if isinstance(meta.get("expected"), dict) else {}
        yield Page(
            url=url,
            body=body,
            source=_rel(path, root),
            origin="goose3",
            title=_str(expected.get("title")),
            author=_str(expected.get("authors")),
            published=_str(expected.get("publish_datetime_utc"))
            or _str(expected.get("publish_date")),
            lead_image_url=_str(expected.get("top_image")),
            description=_str(expected.get("meta_description")),
            text_start=_first_words(_str(expected.get("cleaned_text"))),
        )


def _readability(articles: Path, root: Path, report: BuildReport) -> Iterator[Page]:
    folder = articles / "readability"
    if not folder.is_dir():
        return
    for page_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        source = page_dir / "source.html.gz"
        try:
            body = _read_page(source)
        except _READ_ERRORS:
            report.skip(_rel(source, root), "unreadable")
            continue
        meta: dict[str, Any] = {}
        meta_path = page_dir / "expected-metadata.json"
        try:
            loaded = json.loads(meta_path.read_text(encoding="utf-8"))
            meta = loaded if isinstance(loaded, dict) else {}
        except FileNotFoundError:
            pass  # metadata is optional: the page is still served
        except (OSError, UnicodeError, json.JSONDecodeError):
            report.skip(_rel(meta_path, root), "bad-ground-truth")
        text_start = None
        expected = page_dir / "expected.html.gz"
        if expected.is_file():
            try:
                text_start = _first_words(_html_text(_read_page(expected)))
            except _READ_ERRORS:
                report.skip(_rel(expected, root), "bad-ground-truth")
        yield Page(
            url=f"https://{READABILITY_HOST}/test/{page_dir.name}/page.html",
            body=body,
            source=_rel(source, root),
            origin="readability",
            title=_str(meta.get("title")),
            author=_str(meta.get("byline")),
            published=_str(meta.get("publishedTime")),
            description=_str(meta.get("excerpt")),
            text_start=text_start,
        )


def _saved_pages(folder: Path, root: Path, report: BuildReport) -> Iterator[Page]:
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or not path.name.endswith((".html", ".htm", ".html.gz")):
            continue
        try:
            body = _read_page(path)
        except _READ_ERRORS:
            report.skip(_rel(path, root), "unreadable")
            continue
        url, title = _canonical_and_title(body)
        if not url:
            report.skip(_rel(path, root), "no-url")
            continue
        yield Page(url=url, body=body, source=_rel(path, root), origin="pages", title=title)


def _html_text(body: bytes) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(body.decode("utf-8", errors="replace"))
    node = tree.body or tree.root
    return node.text(separator=" ") if node is not None else ""


def _canonical_and_title(body: bytes) -> tuple[str | None, str | None]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(body.decode("utf-8", errors="replace"))
    url = None
    for selector, attr in (
        ('link[rel="canonical"]', "href"),
        ('meta[property="og:url"]', "content"),
    ):
        node = tree.css_first(selector)
        value = (node.attributes.get(attr) or "").strip() if node is not None else ""
        if value.startswith(("http://", "https://")):
            url = value
            break
    return url, _page_title_of(tree)


def _page_title_of(tree: Any) -> str | None:
    for selector, attr in (('meta[property="og:title"]', "content"), ("title", None)):
        node = tree.css_first(selector)
        if node is None:
            continue
        value = (node.attributes.get(attr) if attr else node.text()) or ""
        if value.strip():
            return " ".join(value.split())
    return None


def _page_title(body: bytes) -> str | None:
    from selectolax.lexbor import LexborHTMLParser

    return _page_title_of(LexborHTMLParser(body.decode("utf-8", errors="replace")))


# -- feeds ----------------------------------------------------------------------------------

_TAG = re.compile(r"<(?:[A-Za-z0-9_]+:)?link\b([^>]*)>", re.I)
_ATTR = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_RSS_LINK = re.compile(r"<link>\s*(?:<!\[CDATA\[)?\s*([^<\s\]]+)", re.I)
_FIRST_ITEM = re.compile(r"<(?:[A-Za-z0-9_]+:)?(?:item|entry)\b", re.I)
_URL = re.compile(r"""https?://[^\s"'<>\]\\]+""")


def sniff_feed(data: bytes) -> str | None:
    """``rss`` / ``atom`` / ``rdf`` / ``json`` for a feed document, None for anything else."""
    head = data[:8192].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if head.startswith(("{", "[")):
        whole = data.decode("latin-1").replace("\\/", "/")
        return "json" if "jsonfeed.org/version" in whole else None
    # Skip the prolog, comments and doctype; the first element decides.
    stripped = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", head, flags=re.S)
    match = re.search(r"<([A-Za-z0-9_:.-]+)", stripped)
    if match is None:
        return None
    name = match.group(1).lower().split(":")[-1]
    return {"rss": "rss", "feed": "atom", "rdf": "rdf", "channel": "rss"}.get(name)


def feed_links(data: bytes, kind: str) -> tuple[str | None, str | None]:
    """The feed's self link and its site (home page) link, read leniently from raw bytes."""
    text = data.decode("utf-8", errors="replace")
    if kind == "json":
        return _json_link(text, "feed_url"), _json_link(text, "home_page_url")
    first = _FIRST_ITEM.search(text)
    top = text[: first.start()] if first else text
    self_link = site_link = None
    for match in _TAG.finditer(top):
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or ""
            for m in _ATTR.finditer(match.group(1))
        }
        href = html.unescape(attrs.get("href", "")).strip()
        rel = attrs.get("rel", "alternate").lower()
        if not href:
            continue
        if rel == "self" and self_link is None:
            self_link = href
        elif rel == "alternate" and site_link is None:
            site_link = href
    if site_link is None:
        rss = _RSS_LINK.search(top)
        if rss:
            site_link = html.unescape(rss.group(1)).strip()
    return _absolute(self_link), _absolute(site_link)


def _json_link(text: str, key: str) -> str | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        match = re.search(rf'"{key}"\s*:\s*"([^"]+)"', text)  # a truncated JSON Feed
        return _absolute(match.group(1).replace("\\/", "/")) if match else None
    value = data.get(key) if isinstance(data, dict) else None
    return _absolute(value) if isinstance(value, str) else None


def _absolute(url: str | None) -> str | None:
    if url and url.startswith(("http://", "https://")):
        try:
            url_key(url)
        except CorpusError:
            return None
        return url
    return None


def _add_feeds(
    folder: Path,
    root: Path,
    writer: CorpusWriter,
    report: BuildReport,
    pages: dict[str, Page],
    listed: dict[str, list[str]],
) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = _rel(path, root)
        try:
            data = path.read_bytes()
        except OSError:
            report.skip(rel, "unreadable")
            continue
        if not data.strip():
            report.skip(rel, "empty")
            continue
        kind = sniff_feed(data)
        if kind is None:
            report.skip(rel, "not-a-feed")
            continue
        self_link, site_link = feed_links(data, kind)
        sub = path.relative_to(folder).as_posix()
        if self_link:
            url = self_link
        elif site_link:
            url = f"https://{urlsplit(site_link).hostname}/feeds/{path.name}"
        else:
            url = f"https://{UNLINKED_FEEDS_HOST}/{sub}"
        if writer.has(url):
            base = self_link or site_link or f"https://{UNLINKED_FEEDS_HOST}/"
            url = f"https://{urlsplit(base).hostname}/feeds/{sub.replace('/', '-')}"
            report.renamed_feeds += 1
            if writer.has(url):
                report.skip(rel, "duplicate-url")
                continue
        writer.add(
            url,
            data,
            content_type=FEED_TYPES[kind],
            folder="feeds",
            suffix=path.suffix,
            headers={"Last-Modified": LAST_MODIFIED},
            kind="feed",
            source=rel,
        )
        report.feeds += 1
        report.hosts.add(normalize_host(urlsplit(url).hostname or ""))
        for link in set(_URL.findall(data.decode("utf-8", errors="replace"))):
            try:
                key = url_key(html.unescape(link))
            except CorpusError:
                continue
            if key in pages:
                listed[key].append(url)


def _generated_feed(host: str, pages: list[Page]) -> tuple[str, bytes]:
    """An RSS 2.0 feed of our own listing a host's captured pages, newest first."""
    schemes = Counter(urlsplit(p.url).scheme for p in pages)
    scheme = "https" if schemes["https"] >= schemes["http"] else "http"
    feed_url = f"{scheme}://{host}{GENERATED_FEED_PATH}"

    def when(page: Page) -> datetime | None:
        return _parse_date(page.published)

    ordered = sorted(
        pages, key=lambda p: (when(p) or datetime.min.replace(tzinfo=UTC), p.url), reverse=True
    )
    items = []
    for page in ordered:
        title = page.title or _page_title(page.body) or page.url
        parts = [
            f"<title>{escape(title)}</title>",
            f"<link>{escape(page.url)}</link>",
            f'<guid isPermaLink="true">{escape(page.url)}</guid>',
        ]
        published = when(page)
        if published is not None:
            parts.append(f"<pubDate>{format_datetime(published)}</pubDate>")
        if page.author:
            parts.append(f"<dc:creator>{escape(page.author)}</dc:creator>")
        if page.description:
            parts.append(f"<description>{escape(page.description)}</description>")
        items.append("<item>" + "".join(parts) + "</item>")
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>{escape(host)} (captured pages)</title>\n"
        f"<link>{scheme}://{host}/</link>\n"
        f'<atom:link rel="self" href="{escape(feed_url)}" type="application/rss+xml"/>\n'
        "<description>Generated by newsline replay build from captured pages.</description>\n"
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )
    return feed_url, body.encode("utf-8")


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    from dateutil import parser as dateparser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dateparser.UnknownTimezoneWarning)
            parsed = dateparser.parse(value)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)

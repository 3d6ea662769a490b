"""Feeds out: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from plain values (no database, no web).

The site and the digest publisher both build a :class:`FeedInfo` and a list of
:class:`FeedEntry` and call :func:`rss`, :func:`atom` or :func:`json_feed`.

Every field is plain text (publisher text included) except ``FeedEntry.content_html``,
which is sanitized HTML. Each format gets text in the type its element declares: RSS
readers parse ``<description>`` (and, by common practice, ``<title>``) as HTML, so plain
text is HTML-escaped there before the XML layer escapes it again; Atom text constructs say
``type="text"``; JSON Feed keeps text in ``title``, ``description``, ``summary`` and
``content_text``, and HTML only in ``content_html``.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("content", CONTENT_NS)
ET.register_namespace("dc", DC_NS)
ET.register_namespace("media", MEDIA_NS)

# Characters XML 1.0 forbids (feeds carry them surprisingly often).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@dataclass(frozen=True)
class FeedInfo:
    """The feed as a whole."""

    title: str
    home_url: str
    feed_url: str
    description: str = ""
    language: str | None = "en"
    updated: datetime | None = None
    icon_url: str | None = None
    author: str | None = None
    hub_url: str | None = None  # a WebSub hub the feed advertises (rel="hub")


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed. `url` is our page for it, `external_url` the source article."""

    id: str
    url: str
    title: str
    published: datetime
    updated: datetime | None = None
    author: str | None = None
    summary: str = ""
    content_html: str | None = None
    external_url: str | None = None
    image_url: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)


def _x(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def _html_text(text: str | None) -> str:
    """Plain text for an element readers parse as HTML: markup in it is shown, not run."""
    return html.escape(text or "", quote=False)


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _updated(info: FeedInfo, entries: Sequence[FeedEntry]) -> datetime:
    if info.updated is not None:
        return info.updated
    stamps = [e.updated or e.published for e in entries]
    return max(stamps) if stamps else datetime(1970, 1, 1, tzinfo=UTC)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k.rstrip("_"): _x(v) for k, v in attrib.items()})
    if text is not None:
        el.text = _x(text)
    return el


def _serialize(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def rss(info: FeedInfo, entries: Sequence[FeedEntry]) -> str:
    """An RSS 2.0 document (with atom:link self, content:encoded, dc:creator, media:content)."""
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", _html_text(info.title))
    _sub(channel, "link", info.home_url)
    _sub(channel, "description", _html_text(info.description or info.title))
    _sub(channel, f"{{{ATOM_NS}}}link", href=info.feed_url, rel="self", type="application/rss+xml")
    if info.hub_url:
        _sub(channel, f"{{{ATOM_NS}}}link", href=info.hub_url, rel="hub")
    if info.language:
        _sub(channel, "language", info.language)
    _sub(
        channel,
        "lastBuildDate",
        format_datetime(_updated(info, entries).astimezone(UTC), usegmt=True),
    )
    _sub(channel, "generator", "newsline")
    if info.icon_url:
        image = _sub(channel, "image")
        _sub(image, "url", info.icon_url)
        _sub(image, "title", _html_text(info.title))
        _sub(image, "link", info.home_url)
    for entry in entries:
        item = _sub(channel, "item")
        _sub(item, "title", _html_text(entry.title))
        _sub(item, "link", entry.url)
        _sub(item, "guid", entry.id, isPermaLink="true" if entry.id == entry.url else "false")
        _sub(item, "pubDate", format_datetime(entry.published.astimezone(UTC), usegmt=True))
        if entry.author:
            _sub(item, f"{{{DC_NS}}}creator", entry.author)
        _sub(item, "description", _html_text(entry.summary))
        if entry.content_html:
            _sub(item, f"{{{CONTENT_NS}}}encoded", entry.content_html)
        for tag in entry.tags:
            _sub(item, "category", tag)
        if entry.image_url:
            _sub(item, f"{{{MEDIA_NS}}}content", url=entry.image_url, medium="image")
    return _serialize(root)


def atom(info: FeedInfo, entries: Sequence[FeedEntry]) -> str:
    """An Atom 1.0 document."""
    # Plain tag names under an explicit default namespace (no global prefix registry).
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    if info.language:
        root.set("{http://www.w3.org/XML/1998/namespace}lang", info.language)
    _sub(root, "id", info.feed_url)
    _sub(root, "title", info.title, type="text")
    if info.description:
        _sub(root, "subtitle", info.description, type="text")
    _sub(root, "updated", _rfc3339(_updated(info, entries)))
    _sub(root, "link", href=info.feed_url, rel="self", type="application/atom+xml")
    _sub(root, "link", href=info.home_url, rel="alternate", type="text/html")
    if info.hub_url:
        _sub(root, "link", href=info.hub_url, rel="hub")
    author = _sub(root, "author")
    _sub(author, "name", info.author or info.title)
    _sub(root, "generator", "newsline")
    if info.icon_url:
        _sub(root, "icon", info.icon_url)
    for entry in entries:
        el = _sub(root, "entry")
        _sub(el, "id", entry.id)
        _sub(el, "title", entry.title, type="text")
        _sub(el, "link", href=entry.url, rel="alternate", type="text/html")
        if entry.external_url:
            _sub(el, "link", href=entry.external_url, rel="related")
        _sub(el, "published", _rfc3339(entry.published))
        _sub(el, "updated", _rfc3339(entry.updated or entry.published))
        if entry.author:
            who = _sub(el, "author")
            _sub(who, "name", entry.author)
        if entry.summary:
            _sub(el, "summary", entry.summary, type="text")
        if entry.content_html:
            _sub(el, "content", entry.content_html, type="html")
        for tag in entry.tags:
            _sub(el, "category", term=tag)
    return _serialize(root)


def json_feed_dict(info: FeedInfo, entries: Sequence[FeedEntry]) -> dict[str, object]:
    """A JSON Feed 1.1 document as a dict."""
    feed: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        "feed_url": info.feed_url,
    }
    if info.description:
        feed["description"] = info.description
    if info.icon_url:
        feed["icon"] = info.icon_url
    if info.language:
        feed["language"] = info.language
    feed["authors"] = [{"name": info.author or info.title}]
    if info.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub_url}]
    items: list[dict[str, object]] = []
    for entry in entries:
        item: dict[str, object] = {"id": entry.id, "url": entry.url, "title": entry.title}
        if entry.external_url:
            item["external_url"] = entry.external_url
        if entry.content_html:
            item["content_html"] = entry.content_html
        else:
            item["content_text"] = entry.summary
        if entry.summary:
            item["summary"] = entry.summary
        if entry.image_url:
            item["image"] = entry.image_url
        item["date_published"] = _rfc3339(entry.published)
        item["date_modified"] = _rfc3339(entry.updated or entry.published)
        if entry.author:
            item["authors"] = [{"name": entry.author}]
        if entry.tags:
            item["tags"] = list(entry.tags)
        items.append(item)
    feed["items"] = items
    return feed


def json_feed(info: FeedInfo, entries: Sequence[FeedEntry]) -> str:
    """A JSON Feed 1.1 document."""
    return json.dumps(json_feed_dict(info, entries), ensure_ascii=False, separators=(",", ":"))


def render(kind: str, info: FeedInfo, entries: Sequence[FeedEntry]) -> str:
    """The feed in one of the formats ``rss``, ``atom`` or ``json``."""
    if kind == "rss":
        return rss(info, entries)
    if kind == "atom":
        return atom(info, entries)
    if kind == "json":
        return json_feed(info, entries)
    raise ValueError(f"unknown feed format {kind!r} (rss, atom or json)")

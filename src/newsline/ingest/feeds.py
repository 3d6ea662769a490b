"""Feeds: parse RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed; discover feeds in HTML; OPML."""

from __future__ import annotations

import calendar
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree as ET

import feedparser
from selectolax.lexbor import LexborHTMLParser

from newsline.errors import NewslineError
from newsline.ingest.decode import decode_html, decode_xml

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
    "application/rdf+xml": "rdf",
    "application/xml": "xml",
    "text/xml": "xml",
}
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")
_XML_SPACE = " \t\r\n\x0b\x0c"


def _join(base: str, href: str) -> str:
    """``urljoin(base, href)``, or `href` as given when either cannot be parsed
    (``http://[::1``): the store refuses such a link and names it in the feed's status."""
    try:
        return urljoin(base, href)
    except ValueError:
        return href


class FeedError(NewslineError):
    """The body is not a usable feed; ``str()`` says why, for the operator."""


class NotAFeedError(FeedError):
    """An HTML page (or other document) where a feed was expected."""

    def __init__(self, message: str, discovered: list[str] | None = None) -> None:
        super().__init__(message)
        self.discovered = discovered or []


@dataclass(frozen=True)
class FeedEntry:
    """One entry, normalized across feed formats."""

    guid: str
    link: str
    title: str
    author: str | None
    published: datetime | None
    summary_html: str
    content_html: str
    image_url: str | None


@dataclass
class ParsedFeed:
    """A parsed feed and whether the parser had to forgive it."""

    title: str
    link: str | None
    version: str
    entries: list[FeedEntry]
    image_url: str | None = None
    warnings: list[str] = field(default_factory=list)


def looks_like_html(body: bytes) -> bool:
    """True when the document starts like an HTML page."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf")
    return bool(_HTML_START.match(head))


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """Parse a feed body fetched from ``url``; raise :class:`FeedError` when it is not one."""
    if not body.strip():
        raise FeedError("empty response where a feed was expected")
    if looks_like_html(body):
        discovered = discover_feeds(body, url)
        hint = f"; it links to feed(s): {', '.join(discovered[:3])}" if discovered else ""
        raise NotAFeedError(f"an HTML page, not a feed{hint}", discovered)
    # Leading whitespace/newlines before <?xml (a common WordPress bug) make strict XML fail.
    text = decode_xml(body, content_type).text.lstrip(_XML_SPACE)
    mime = _feed_media_type(text, content_type)
    if mime == "application/feed+json":
        return _parse_json_feed(text, url)
    # feedparser gets UTF-8 and is told so: the charset was settled by decode_xml.
    headers = {"content-location": url, "content-type": f"{mime}; charset=utf-8"}
    parsed = feedparser.parse(
        text.encode("utf-8"),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=True,
    )
    version = parsed.get("version") or ""
    entries_raw = parsed.get("entries") or []
    warnings: list[str] = []
    if parsed.get("bozo"):
        warnings.append(_describe_bozo(parsed.get("bozo_exception")))
    feed_meta: Any = parsed.get("feed") or {}
    if not version and not entries_raw:
        reason = warnings[0] if warnings else "no RSS, Atom or JSON Feed structure found"
        raise FeedError(f"not a feed: {reason}")
    entries = []
    for raw in entries_raw:
        entry = _entry(raw, url)
        if entry is not None:
            entries.append(entry)
    if warnings and not entries:
        raise FeedError(f"{warnings[0]}; no entries could be recovered")
    image = None
    if isinstance(feed_meta.get("image"), dict):
        image = feed_meta["image"].get("href") or feed_meta["image"].get("url")
    return ParsedFeed(
        title=_text(feed_meta.get("title", "")),
        link=feed_meta.get("link"),
        version=version or "unknown",
        entries=entries,
        image_url=image or feed_meta.get("icon") or feed_meta.get("logo"),
        warnings=warnings,
    )


def _feed_media_type(text: str, declared: str) -> str:
    """The media type to parse with: JSON Feed is sniffed; servers often mislabel XML."""
    if text[:1] in ("{", "["):
        return "application/feed+json"
    mime = declared.partition(";")[0].strip()
    if "xml" in mime or "rss" in mime or "atom" in mime:
        return mime
    return "application/xml"


def _parse_json_feed(text: str, url: str) -> ParsedFeed:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"JSON Feed is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or "jsonfeed.org/version/" not in str(doc.get("version", "")):
        raise FeedError("JSON document is not a JSON Feed (no jsonfeed.org version)")
    version = "json11" if str(doc["version"]).rstrip("/").endswith("1.1") else "json10"
    base = doc.get("feed_url") or url
    entries: list[FeedEntry] = []
    raw_items = doc.get("items")
    for raw in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(raw, dict):
            continue
        link = raw.get("url") or raw.get("external_url") or ""
        guid = str(raw.get("id") or link)
        if not guid:
            continue
        authors = raw.get("authors") or (
            [raw["author"]] if isinstance(raw.get("author"), dict) else []
        )
        names = [str(a["name"]) for a in authors if isinstance(a, dict) and a.get("name")]
        text = raw.get("content_text") or ""
        content = raw.get("content_html") or (f"<p>{html.escape(text)}</p>" if text else "")
        published = _iso(raw.get("date_published")) or _iso(raw.get("date_modified"))
        image = raw.get("image") or raw.get("banner_image")
        entries.append(
            FeedEntry(
                guid=guid[:2000],
                link=_join(base, link) if link else "",
                title=_text(str(raw.get("title") or "")),
                author=", ".join(names)[:500] or None,
                published=published,
                summary_html=html.escape(str(raw.get("summary") or "")),
                content_html=str(content),
                image_url=_join(base, image) if isinstance(image, str) and image else None,
            )
        )
    return ParsedFeed(
        title=_text(str(doc.get("title") or "")),
        link=doc.get("home_page_url"),
        version=version,
        entries=entries,
        image_url=doc.get("icon") or doc.get("favicon"),
    )


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _describe_bozo(exc: Any) -> str:
    name = exc.__class__.__name__ if exc is not None else "unknown problem"
    message = str(exc) if exc is not None else ""
    return f"feed is not well-formed ({name}: {message})".strip()


def _entry(raw: Any, base: str) -> FeedEntry | None:
    link = raw.get("link") or ""
    if not _is_web_url(link, base):
        link = ""
        for candidate in raw.get("links") or []:
            href = candidate.get("href") or ""
            if candidate.get("rel", "alternate") == "alternate" and _is_web_url(href, base):
                link = href
                break
    guid = raw.get("id") or raw.get("guid") or link
    title = _text(raw.get("title", ""))
    if not link and not guid:
        return None
    link = _join(base, link) if link else ""
    content = ""
    for part in raw.get("content") or []:
        value = part.get("value") or ""
        if len(value) > len(content):
            content = value
    summary = raw.get("summary") or ""
    return FeedEntry(
        guid=str(guid)[:2000],
        link=link,
        title=title,
        author=_author(raw),
        published=_when(raw),
        summary_html=summary,
        content_html=content,
        image_url=_entry_image(raw, base),
    )


def _is_web_url(link: str, base: str) -> bool:
    """Whether a link resolves to an http(s) URL (guids such as ``urn:uuid:…`` do not)."""
    return bool(link) and _join(base, link).startswith(("http://", "https://"))


def _text(value: str) -> str:
    return _WS.sub(" ", html.unescape(_TAGS.sub(" ", value or ""))).strip()


def _author(raw: Any) -> str | None:
    author = raw.get("author")
    if not author and raw.get("authors"):
        names = [a.get("name") for a in raw["authors"] if a.get("name")]
        author = ", ".join(names)
    if not author:
        return None
    author = _text(str(author))
    # RSS puts "email (Name)" in <author>; keep the name.
    match = re.match(r"^\S+@\S+\s*\((.+)\)$", author)
    return (match.group(1) if match else author)[:500] or None


def _when(raw: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _entry_image(raw: Any, base: str) -> str | None:
    for media in (raw.get("media_content") or []) + (raw.get("media_thumbnail") or []):
        url = media.get("url")
        if url and (
            media.get("medium") in (None, "image") or "image" in media.get("type", "image")
        ):
            return _join(base, url)
    for enc in raw.get("enclosures") or []:
        if enc.get("type", "").startswith("image/") and enc.get("href"):
            return _join(base, enc["href"])
    image = raw.get("image")
    if isinstance(image, dict) and image.get("href"):
        return _join(base, image["href"])
    if isinstance(image, str) and image:
        return _join(base, image)
    return None


def discover_feeds(body: bytes | str, base_url: str) -> list[str]:
    """Feed URLs announced by ``<link rel="alternate">`` in an HTML page, best first."""
    tree = LexborHTMLParser(body if isinstance(body, str) else decode_html(body).text)
    base = base_url
    base_tag = tree.css_first("base[href]")
    if base_tag is not None:
        base = _join(base_url, base_tag.attributes.get("href") or "")
    found: list[tuple[int, str]] = []
    order = ["rss", "atom", "json", "rdf", "xml"]
    for node in tree.css("link[rel][href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((node.attributes.get("type") or "").split(";")[0].strip().lower())
        if "alternate" not in rels or kind is None:
            continue
        href = (node.attributes.get("href") or "").strip()
        if not href:
            continue
        url = _join(base, href)
        if all(url != u for _, u in found):
            found.append((order.index(kind), url))
    found.sort(key=lambda pair: pair[0])
    return [u for _, u in found]


# -- OPML ---------------------------------------------------------------------------------

OPML_NS = "https://newsline.dev/ns/opml"


@dataclass(frozen=True)
class OpmlSource:
    """A subscription from an OPML file."""

    xml_url: str
    title: str
    html_url: str | None = None
    tag: str | None = None
    republish: str | None = None
    category: str | None = None


def parse_opml(body: bytes) -> list[OpmlSource]:
    """Subscriptions in an OPML document (nested outlines flattened; category kept)."""
    if b"<!ENTITY" in body[:4096]:
        raise FeedError("OPML with entity declarations is refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FeedError(f"OPML is not well-formed XML: {exc}") from exc
    if root.tag.lower() != "opml":
        raise FeedError(f"not an OPML document (root element is <{root.tag}>)")
    found: list[OpmlSource] = []

    def walk(node: ET.Element, category: str | None) -> None:
        for child in node:
            if child.tag != "outline":
                continue
            xml_url = child.get("xmlUrl") or child.get("xmlurl")
            title = child.get("title") or child.get("text") or ""
            if xml_url:
                found.append(
                    OpmlSource(
                        xml_url=xml_url.strip(),
                        title=title.strip(),
                        html_url=(child.get("htmlUrl") or child.get("htmlurl") or None),
                        tag=child.get(f"{{{OPML_NS}}}tag"),
                        republish=child.get(f"{{{OPML_NS}}}republish"),
                        category=category,
                    )
                )
            walk(child, title.strip() or category)

    body_el = root.find("body")
    if body_el is None:
        raise FeedError("OPML has no <body>")
    walk(body_el, None)
    return found


def write_opml(sources: list[OpmlSource], title: str = "newsline subscriptions") -> str:
    """An OPML 2.0 document for these subscriptions (tag and republish mode kept)."""
    ET.register_namespace("newsline", OPML_NS)
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = datetime.now(UTC).strftime(
        "%a, %d %b %Y %H:%M:%S GMT"
    )
    body = ET.SubElement(root, "body")
    groups: dict[str | None, ET.Element] = {None: body}
    for src in sources:
        parent = groups.get(src.category)
        if parent is None:
            parent = ET.SubElement(
                body, "outline", {"text": src.category or "", "title": src.category or ""}
            )
            groups[src.category] = parent
        attrs = {"type": "rss", "text": src.title, "title": src.title, "xmlUrl": src.xml_url}
        if src.html_url:
            attrs["htmlUrl"] = src.html_url
        if src.tag:
            attrs[f"{{{OPML_NS}}}tag"] = src.tag
        if src.republish:
            attrs[f"{{{OPML_NS}}}republish"] = src.republish
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

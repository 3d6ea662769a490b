"""Feeds: parse RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed; discover feeds in HTML; OPML."""

from __future__ import annotations

import calendar
import hashlib
import html
import html.entities
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree as ET

import feedparser
from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from newsline.errors import NewslineError
from newsline.ingest.decode import decode_html, decode_xml, parseable_text
from newsline.ingest.timestamps import parse_datetime, plausible

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
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
#: GUIDs newsline gives entries that have neither GUID nor link (see _content_identity).
CONTENT_GUID_PREFIX = "newsline:content:"

log = logging.getLogger(__name__)

# feedparser resolves <id> / <guid> against xml:base as if they were links (and lets the
# xml:base of an entry's <content> leak onto the <id> after it: reddit's "t3_42tizy"
# becomes "/t3_42tizy"). GUIDs are kept as the publisher wrote them; feeds.py is the only
# user of feedparser in newsline.
feedparser.mixin._FeedParserMixin.can_be_relative_uri = (
    feedparser.mixin._FeedParserMixin.can_be_relative_uri - {"id"}
)


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
    #: Every author's name, in the feed's order (``author`` is them for display: "A, B and C").
    authors: tuple[str, ...] = ()
    enclosure_url: str | None = None
    #: The GUID and link earlier newsline versions derived for this entry, when they differ
    #: (they resolved GUIDs against the feed's URL): store.py matches stored items on them.
    former_guid: str | None = None
    former_link: str | None = None
    #: The publisher's own section/category labels for the entry (RSS ``<category>``, Atom
    #: ``<category label|term>``, JSON Feed ``tags``), cleaned, each once, in feed order.
    sections: tuple[str, ...] = ()


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
    """Parse a feed body fetched from ``url``; raise :class:`FeedError` when it is not one.

    :class:`FeedError` is the only exception that leaves: whatever a publisher sends, one
    bad feed becomes that feed's recorded error and the pass goes on.
    """
    try:
        return _parse_feed(body, url, content_type)
    except FeedError:
        raise
    except RecursionError as exc:
        raise FeedError("feed is nested too deeply to parse") from exc
    except Exception as exc:  # a parser bug on hostile input must not stop the pass
        log.warning("feed parser failed on %s", url, exc_info=True)
        raise FeedError(f"feed could not be parsed ({exc.__class__.__name__}: {exc})") from exc


def _parse_feed(body: bytes, url: str, content_type: str) -> ParsedFeed:
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
    # feedparser's loose parser crashes on a reference to a code point past U+10FFFF.
    text = _CHARREF.sub(_checked_charref, text)
    # feedparser gets UTF-8 and is told so: the charset was settled by decode_xml. It is
    # not told the feed's URL: GUIDs stay verbatim (feedparser would resolve them against
    # it) and relative links are resolved below, against the channel's own link.
    parsed = feedparser.parse(
        text.encode("utf-8"),
        response_headers={"content-type": f"{mime}; charset=utf-8"},
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
    channel_link = _resolve(url, _first_link(feed_meta, url))
    base = channel_link or url
    feed_authors = _names(feed_meta.get("authors")) or _names_from_string(feed_meta.get("author"))
    entries = [_entry(raw, base, url, feed_authors) for raw in entries_raw]
    if warnings:
        # In an ill-formed document, an entry with no link, GUID, text or enclosure is most
        # likely a fragment of a cut-off one (``<item><title>unclo``): not an entry.
        entries = [e for e in entries if not _fragment(e)]
    if warnings and not entries:
        raise FeedError(f"{warnings[0]}; no entries could be recovered")
    image = None
    if isinstance(feed_meta.get("image"), dict):
        image = feed_meta["image"].get("href") or feed_meta["image"].get("url")
    image = image or feed_meta.get("icon") or feed_meta.get("logo")
    return ParsedFeed(
        title=_title(feed_meta),
        link=channel_link or None,
        version=version or "unknown",
        entries=entries,
        image_url=_resolve(base, image) or None,
        warnings=warnings,
    )


_CHARREF = re.compile(r"&#([xX][0-9a-fA-F]+|[0-9]+);")


def _checked_charref(match: re.Match[str]) -> str:
    """A numeric character reference, or U+FFFD's when it names no Unicode code point."""
    ref = match.group(1)
    code = int(ref[1:], 16) if ref[0] in "xX" else int(ref)
    return match.group(0) if code <= 0x10FFFF else "&#xFFFD;"


def _feed_media_type(text: str, declared: str) -> str:
    """The media type to parse with: JSON Feed is sniffed; servers often mislabel XML."""
    if text[:1] in ("{", "["):
        return "application/feed+json"
    mime = declared.partition(";")[0].strip()
    if "xml" in mime or "rss" in mime or "atom" in mime:
        return mime
    return "application/xml"


# -- helpers shared by the XML and JSON readers -------------------------------------------


def _resolve(base: str, href: Any) -> str:
    """``href`` made absolute against ``base`` when that gives an http(s) URL, else ""."""
    if not isinstance(href, str) or not href.strip():
        return ""
    try:
        url = urljoin(base, href.strip())
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port out of range
    except ValueError:
        return ""
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def _first_link(meta: Any, url: str) -> str:
    """The channel's (or entry's) alternate link as the feed gave it."""
    for candidate in meta.get("links") or []:
        href = candidate.get("href") if isinstance(candidate, dict) else None
        if href and candidate.get("rel", "alternate") == "alternate":
            return str(href)
    link = meta.get("link")
    return str(link) if isinstance(link, str) else ""


def _join_names(names: list[str]) -> str | None:
    """ "A", "A and B", "A, B and C"."""
    if not names:
        return None
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text[:500]


def _person(person: Any) -> str:
    """A person's display name: the name, or the e-mail address when that is all there is."""
    if not isinstance(person, dict):
        return ""
    name = person.get("name")
    name = _WS.sub(" ", name).strip() if isinstance(name, str) else ""
    email = person.get("email")
    email = email.strip() if isinstance(email, str) else ""
    if name and email:
        # feedparser cuts "ed@site.example (Ed)" after a 4-letter TLD and leaves the rest of
        # the address in the name ("ple (Ed"); "Ed <ed@x.org>" leaves "<>" behind.
        name = re.sub(r"<[^>]*>", " ", name).strip()
        if "(" in name and ")" not in name:
            before, _, after = (part.strip() for part in name.partition("("))
            # "ple (Ed": the name follows; "Simon (mailto:": it precedes.
            name = after if after and " " not in before and ":" not in after else before
        name = name.strip(" ()<>")
    return name or email


def _names(people: Any) -> list[str]:
    names: list[str] = []
    for person in people if isinstance(people, list) else []:
        name = _person(person)
        if name and name not in names:
            names.append(name)
    return names


def _names_from_string(value: Any) -> list[str]:
    """Names from a bare author string: "mark@example.org (Mark Pilgrim)" -> Mark Pilgrim."""
    if not isinstance(value, str) or not value.strip():
        return []
    text = _WS.sub(" ", value).strip()
    match = re.fullmatch(r"\S+@\S+\s*\((.+)\)", text) or re.fullmatch(r"(.+?)\s*<\S+@\S+>", text)
    return [(match.group(1) if match else text).strip()]


def _content_identity(title: str, published: datetime | None, enclosure: str, fallback: str) -> str:
    """A GUID for an entry with neither GUID nor link: a digest of what identifies it.

    Title, date and enclosure stay the same when a feed is fetched again; the content is
    only used when the entry has none of those three.
    """
    parts = [title, published.isoformat() if published else "", enclosure]
    if not any(parts):
        # An entry with nothing at all to show still counts as an entry of the feed; the
        # store does not keep it (see newsline.ingest.store).
        parts = ["", "", "", fallback]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"{CONTENT_GUID_PREFIX}{digest[:40]}"


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _plain(value: Any) -> str:
    """Plain text with its whitespace collapsed (nothing stripped: it is not markup)."""
    return _WS.sub(" ", value).strip() if isinstance(value, str) else ""


#: At most this many section labels are kept per entry, each at most this long.
MAX_SECTIONS = 12
MAX_SECTION_CHARS = 100


def _sections(labels: Any) -> tuple[str, ...]:
    """Clean section labels: markup-free text, each once (case-insensitively), short ones.

    Numeric codes ("45121504") and URLs name no section a reader would recognise.
    """
    kept: dict[str, str] = {}
    for label in labels if isinstance(labels, list | tuple) else []:
        text = parseable_text(_text(label)).strip() if isinstance(label, str) else ""
        if (
            not text
            or len(text) > MAX_SECTION_CHARS
            or text.replace(" ", "").isdigit()
            or "://" in text
        ):
            continue
        kept.setdefault(text.casefold(), text)
        if len(kept) == MAX_SECTIONS:
            break
    return tuple(kept.values())


def _entry_sections(raw: Any) -> tuple[str, ...]:
    """An RSS/Atom entry's categories as feedparser reads them (Atom's label before term)."""
    tags = raw.get("tags")
    return _sections(
        [
            _str(t.get("label")) or _str(t.get("term"))
            for t in (tags if isinstance(tags, list) else [])
            if isinstance(t, dict)
        ]
    )


def _title(meta: Any) -> str:
    """A title as text: tags are removed only where the feed says the title is HTML."""
    value = meta.get("title")
    if not isinstance(value, str):
        return ""
    detail = meta.get("title_detail")
    kind = str(detail.get("type") or "") if isinstance(detail, dict) else ""
    return _text(value) if "html" in kind else _plain(value)


# -- JSON Feed ------------------------------------------------------------------------------


def _json_version(doc: dict[str, Any]) -> tuple[str, str | None]:
    """(our version name, a warning) for a JSON Feed's ``version``; FeedError when not one."""
    value = doc.get("version")
    text = str(value).strip() if isinstance(value, (str, int, float)) else ""
    if "jsonfeed.org/version/" in text:
        return ("json11" if text.rstrip("/").endswith("1.1") else "json10"), None
    if text in ("1", "1.0", "1.1") and not isinstance(value, bool):
        name = "json11" if text == "1.1" else "json10"
        return name, (
            f"JSON Feed version {value!r} is not the spec's URL "
            f"(https://jsonfeed.org/version/{'1.1' if name == 'json11' else '1'}); read anyway"
        )
    raise FeedError("JSON document is not a JSON Feed (no jsonfeed.org version)")


def _parse_json_feed(text: str, url: str) -> ParsedFeed:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1), whatever the types inside."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"JSON Feed is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise FeedError("JSON Feed is nested too deeply") from exc
    if not isinstance(doc, dict):
        raise FeedError("JSON document is not a JSON Feed (not an object)")
    version, warning = _json_version(doc)
    warnings = [warning] if warning else []
    base = _resolve(url, doc.get("feed_url")) or url
    feed_authors = _json_authors(doc)
    entries: list[FeedEntry] = []
    raw_items = doc.get("items")
    if raw_items is not None and not isinstance(raw_items, list):
        warnings.append("JSON Feed 'items' is not a list")
    for raw in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(raw, dict):
            continue
        link = _resolve(base, raw.get("url")) or _resolve(base, raw.get("external_url"))
        raw_id = raw.get("id")
        guid = "" if isinstance(raw_id, bool) else _plain(str(raw_id)) if raw_id else ""
        content_text = _str(raw.get("content_text"))
        content = _str(raw.get("content_html"))
        content = content or (f"<p>{html.escape(content_text)}</p>" if content_text else "")
        summary = _str(raw.get("summary"))
        published = _iso(raw.get("date_published")) or _iso(raw.get("date_modified"))
        title = _plain(raw.get("title"))
        attachments = raw.get("attachments")
        enclosure = ""
        for attachment in attachments if isinstance(attachments, list) else []:
            if isinstance(attachment, dict) and isinstance(attachment.get("url"), str):
                enclosure = attachment["url"]
                break
        guid = guid or link or _content_identity(title, published, enclosure, content or summary)
        image = _resolve(base, raw.get("image")) or _resolve(base, raw.get("banner_image"))
        names = _json_authors(raw) or feed_authors
        entries.append(
            FeedEntry(
                guid=guid[:2000],
                link=link,
                title=title,
                author=_join_names(names),
                published=published,
                summary_html=html.escape(summary),
                content_html=content,
                image_url=image or None,
                authors=tuple(names),
                sections=_sections(raw.get("tags")),
            )
        )
    return ParsedFeed(
        title=_plain(doc.get("title")),
        link=_resolve(url, doc.get("home_page_url")) or None,
        version=version,
        entries=entries,
        image_url=_resolve(base, doc.get("icon")) or _resolve(base, doc.get("favicon")) or None,
        warnings=warnings,
    )


def _json_authors(obj: dict[str, Any]) -> list[str]:
    """Names of a JSON Feed object's ``authors`` (1.1) or ``author`` (1.0)."""
    people = obj.get("authors")
    if not isinstance(people, list):
        people = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    names = []
    for person in people:
        name = _plain(person.get("name")) if isinstance(person, dict) else ""
        if name and name not in names:
            names.append(name)
    return names


def _iso(value: Any) -> datetime | None:
    when = parse_datetime(value)
    return when.astimezone(UTC) if when is not None else None


def _describe_bozo(exc: Any) -> str:
    name = exc.__class__.__name__ if exc is not None else "unknown problem"
    message = str(exc) if exc is not None else ""
    return f"feed is not well-formed ({name}: {message})".strip()


# -- RSS / Atom entries ---------------------------------------------------------------------


def _entry(raw: Any, base: str, doc_url: str, feed_authors: list[str]) -> FeedEntry:
    link = _resolve(base, _first_link_of_entry(raw))
    raw_id = raw.get("id")
    guid = _plain(raw_id) if isinstance(raw_id, str) else ""
    if not link and guid and raw.get("guidislink"):
        link = _resolve("", guid)  # a permalink GUID is a link only when it is a full URL
    title = _title(raw)
    published = _when(raw)
    enclosure = _enclosure(raw)
    content = ""
    for part in raw.get("content") or []:
        value = part.get("value") if isinstance(part, dict) else None
        if isinstance(value, str) and len(value) > len(content):
            content = value
    summary = _str(raw.get("summary"))
    guid = guid or link or _content_identity(title, published, enclosure, content or summary)
    names = (
        _names(raw.get("authors"))
        or _names_from_string(raw.get("author"))
        or _names((raw.get("source") or {}).get("authors"))
        or feed_authors
    )
    former_guid, former_link = _former_identity(raw, doc_url)
    return FeedEntry(
        guid=guid[:2000],
        link=link,
        title=title,
        author=_join_names(names),
        published=published,
        summary_html=summary,
        content_html=content,
        image_url=_entry_image(raw, base),
        authors=tuple(names),
        enclosure_url=_resolve(base, enclosure) or None,
        former_guid=former_guid if former_guid != guid else None,
        former_link=former_link if former_link != link else None,
        sections=_entry_sections(raw),
    )


def _fragment(entry: FeedEntry) -> bool:
    return entry.guid.startswith(CONTENT_GUID_PREFIX) and not (
        entry.content_html.strip() or entry.summary_html.strip() or entry.enclosure_url
    )


def _first_link_of_entry(raw: Any) -> str:
    for candidate in raw.get("links") or []:
        if not isinstance(candidate, dict):
            continue
        href = candidate.get("href")
        # _resolve against a dummy base skips mailto:, javascript:, ...
        alternate = candidate.get("rel", "alternate") == "alternate"
        if isinstance(href, str) and alternate and _resolve("https://x.invalid/", href):
            return href
    return ""


def _former_identity(raw: Any, doc_url: str) -> tuple[str | None, str | None]:
    """The GUID and link newsline stored for this entry before GUIDs were kept verbatim.

    Versions before this one let feedparser resolve permalink GUIDs and links against the
    feed's URL, and used the link as GUID when there was none: store.py looks these up
    too, so entries stored then are not stored again.
    """
    link = ""
    raw_link = raw.get("link")
    if isinstance(raw_link, str) and raw_link:
        link = _resolve(doc_url, raw_link)
    if not link:
        link = _resolve(doc_url, _first_link_of_entry(raw))
    raw_id = raw.get("id")
    if isinstance(raw_id, str) and raw_id:
        guid = _resolve(doc_url, raw_id) if raw.get("guidislink") else ""
        guid = guid or raw_id
    else:
        guid = link
    return (guid or None), (link or None)


def _enclosure(raw: Any) -> str:
    for enc in raw.get("enclosures") or []:
        if isinstance(enc, dict) and isinstance(enc.get("href"), str) and enc["href"]:
            return str(enc["href"])
    return ""


def _text(value: str) -> str:
    return _WS.sub(" ", html.unescape(_TAGS.sub(" ", value or ""))).strip()


def _when(raw: Any) -> datetime | None:
    """The entry's date: its published, else updated, else created date, read from the
    text as written (feedparser misreads "2026/11/30 10:00" as 1 November and knows no
    "Mon,30 Nov" or "November 30, 2026"), else feedparser's reading (dates in other
    languages), never an implausible year."""
    for key in ("published", "updated", "created"):
        when = parse_datetime(_str(raw.get(key)))
        if when is not None:  # to the second, as entry identities have always been
            return when.astimezone(UTC).replace(microsecond=0)
        value = raw.get(f"{key}_parsed")
        if value:
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
            if plausible(when):
                return when
    return None


def _entry_image(raw: Any, base: str) -> str | None:
    for media in (raw.get("media_content") or []) + (raw.get("media_thumbnail") or []):
        if not isinstance(media, dict):
            continue
        url = media.get("url")
        kind = media.get("type", "image")
        if url and (
            media.get("medium") in (None, "image") or (isinstance(kind, str) and "image" in kind)
        ):
            return _resolve(base, url) or None
    for enc in raw.get("enclosures") or []:
        if str(enc.get("type", "")).startswith("image/") and enc.get("href"):
            return _resolve(base, enc["href"]) or None
    image = raw.get("image")
    if isinstance(image, dict) and image.get("href"):
        return _resolve(base, image["href"]) or None
    if isinstance(image, str) and image:
        return _resolve(base, image) or None
    return None


#: An ``<a href>`` that leads to a feed: ``/feed``, ``/rss/``, ``atom.xml``, ``index.rss``,
#: ``?feed=rss2`` (WordPress); a sitemap is not one.
_FEED_HREF = re.compile(
    r"(?:/(?:feed|feeds|rss|atom)(?:\.xml|\.json)?/?|\.(?:rss|atom|rdf)|(?<!sitemap)\.xml)$"
    r"|[?&]feed=(?:rss2?|atom|rdf)(?:&|$)",
    re.I,
)
_COMMENTS = re.compile(r"comment", re.I)
#: Where sites keep their feed without announcing it (WordPress, Jekyll, Hugo, others), tried
#: in this order when a page announces none.
WELL_KNOWN_FEEDS = ("/feed", "/rss", "/feed.xml", "/index.xml", "/atom.xml")


def discover_feeds(body: bytes | str, base_url: str) -> list[str]:
    """Feed URLs an HTML page offers, best first: those it announces (``<link
    rel="alternate">`` with a feed type, or ``rel="feed"``), else its links that look like
    feeds (``<a href=".../feed">``, ``.rss``, ``.xml``), the site's own before others'.
    Comment feeds come after the others."""
    tree = LexborHTMLParser(body if isinstance(body, str) else decode_html(body).text)
    base = base_url
    base_tag = tree.css_first("base[href]")
    if base_tag is not None:
        base = urljoin(base_url, base_tag.attributes.get("href") or "")
    found: list[tuple[tuple[int, int], str]] = []
    order = ["rss", "atom", "json", "rdf", "xml"]
    for node in tree.css("link[rel][href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((node.attributes.get("type") or "").split(";")[0].strip().lower())
        if "feed" in rels and "alternate" not in rels:
            kind = kind or "xml"
        elif "alternate" not in rels or kind is None:
            continue
        href = (node.attributes.get("href") or "").strip()
        if not href:
            continue
        url = urljoin(base, href)
        label = f"{node.attributes.get('title') or ''} {url}"
        if all(url != u for _, u in found):
            found.append(((bool(_COMMENTS.search(label)), order.index(kind)), url))
    if not found:
        site = urlsplit(base_url).hostname
        for node in tree.css("a[href]"):
            url = urljoin(base, (node.attributes.get("href") or "").strip())
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not _FEED_HREF.search(
                parts.path + (f"?{parts.query}" if parts.query else "")
            ):
                continue
            if all(url != u for _, u in found):
                found.append(((bool(_COMMENTS.search(url)), parts.hostname != site), url))
    found.sort(key=lambda pair: pair[0])
    return [u for _, u in found]


def well_known_feeds(url: str) -> list[str]:
    """The feed addresses to try on ``url``'s site when its page announces no feed."""
    parts = urlsplit(url)
    return [f"{parts.scheme}://{parts.netloc}{path}" for path in WELL_KNOWN_FEEDS]


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


@dataclass(frozen=True)
class OpmlDocument:
    """What an OPML file holds: its usable subscriptions and the outlines that were not."""

    sources: list[OpmlSource]
    #: One line per outline that names a feed without a usable URL.
    skipped: list[str] = field(default_factory=list)
    #: Outlines whose feed URL an earlier outline of the file already gave.
    duplicates: int = 0


# A "&" that starts no well-formed reference: the most common flaw of real OPML files.
_BARE_AMP = re.compile(rb"&(?!#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z_][\w.-]{0,31};)")
_NAMED_REF = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_REFS = {b"amp", b"lt", b"gt", b"quot", b"apos"}


def _repair_references(body: bytes) -> bytes:
    """Escape bare ``&`` and turn HTML named references (``&eacute;``) into numeric ones.

    A recovering XML parser would drop them, and with them text after them ("a=1&b=2"
    would lose "&b"). Numeric references keep working whatever the file's encoding.
    """
    body = _BARE_AMP.sub(b"&amp;", body)

    def named(match: re.Match[bytes]) -> bytes:
        name = match.group(1)
        if name in _XML_REFS:
            return match.group(0)
        char = html.entities.html5.get(name.decode("ascii") + ";")
        if char is None:
            return b"&amp;" + name + b";"
        return "".join(f"&#{ord(c)};" for c in char).encode("ascii")

    return _NAMED_REF.sub(named, body)


# White space that wraps a long URL over lines: a line break and the indentation around it,
# which XML hands over as a run of spaces (attribute values are normalised).
_URL_WRAP = re.compile(r"\s{2,}|\s*[\r\n\t]\s*")


def _opml_href(value: str) -> str:
    """An OPML URL attribute as the URL it means: unwrapped where a tool broke it over
    lines, and a space left inside it (``/My Feed.xml``) sent as ``%20``, as browsers do."""
    return _URL_WRAP.sub("", value.strip()).replace(" ", "%20")


def _opml_url(value: str, bases: list[str | None]) -> str | None:
    """An outline's feed URL as an absolute http(s) URL, or None when it has no usable one."""
    url = _opml_href(value)
    if url.lower().startswith("feed:"):  # feed://host/x and feed:https://host/x
        url = url[5:]
        url = url if url.lower().startswith(("http:", "https:")) else "http:" + url
    if url.startswith("//"):
        url = "https:" + url
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url):
        base = next((b for b in bases if b and _resolve("", b)), None)
        if base is not None:
            url = urljoin(base, url)
        elif re.match(r"[\w-]+(\.[\w-]+)+(:\d+)?(/|$)", url):
            url = "https://" + url  # "example.com/feed": a host without its scheme
    return _resolve("", url) or None


def load_opml(body: bytes) -> OpmlDocument:
    """Subscriptions in an OPML document, read as forgivingly as feed readers do.

    The parser recovers from malformed XML (a bare ``&`` or ``<`` in an attribute is the
    usual flaw); only outlines without a usable feed URL are skipped, and named in
    :attr:`OpmlDocument.skipped`. Nested outlines are categories (kept as "A / B").
    Entity declarations are refused and external entities are never loaded.
    """
    # Decoded as feeds are (one place: newsline.ingest.decode), so a file saved in
    # windows-1252 or Latin-1 without saying so keeps its accents, and one whose
    # declaration lies is read in what it really is; lxml is then given these UTF-8 bytes,
    # so they are what the entity check reads, whatever the file's own encoding.
    data = parseable_text(decode_xml(body).text).lstrip(_XML_SPACE).encode("utf-8")
    if _ENTITY_DECL.search(data):
        raise FeedError("OPML with entity declarations is refused")
    parser = etree.XMLParser(
        encoding="utf-8",
        recover=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        # Lifts libxml2's depth limit of 256 (files nest outlines deeper); safe here as
        # entities are refused above and never resolved.
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(_repair_references(data), parser)
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"OPML is not well-formed XML: {exc}") from exc
    errors = [f"line {e.line}: {e.message}" for e in parser.error_log]
    if any("Excessive depth" in e for e in errors):
        raise FeedError("OPML outlines are nested too deeply (more than 2,048 levels)")
    if root is None:
        raise FeedError(f"OPML is not well-formed XML: {errors[0] if errors else 'empty'}")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise FeedError("OPML with entity declarations is refused")
    if _local(root.tag).lower() != "opml":
        raise FeedError(f"not an OPML document (root element is <{_local(root.tag)}>)")
    body_el = next((el for el in root if _local(el.tag).lower() == "body"), None)
    if body_el is None and any(_local(el.tag).lower() == "outline" for el in root):
        body_el = root  # outlines straight under <opml>, as some exporters write them
    if body_el is None:
        if errors:
            raise FeedError(f"OPML is not well-formed XML: {errors[0]}")
        raise FeedError("OPML has no <body>")
    found: list[OpmlSource] = []
    skipped: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    # lxml walks the tree in document order without recursion (files nest deeply).
    paths: dict[Any, tuple[str, ...]] = {body_el: ()}
    for child in body_el.iter():
        if child is body_el or _local(child.tag).lower() != "outline":
            continue
        path = paths.get(child.getparent(), ())
        attrs = {(k if k.startswith("{") else k.lower()): v for k, v in child.attrib.items()}
        title = _plain(attrs.get("title") or attrs.get("text") or "")
        kind = (attrs.get("type") or "").strip().lower()
        raw_url = attrs.get("xmlurl") or (
            attrs.get("url") if kind in ("rss", "atom", "feed", "json") else None
        )
        html_url = _resolve("", _opml_href(attrs.get("htmlurl") or "")) or None
        label = f"outline {title or '(untitled)'!r}"
        if raw_url is not None and raw_url.strip():
            xml_url = _opml_url(raw_url, [child.base, html_url])
            if xml_url is None:
                skipped.append(f"{label}: no usable feed URL ({raw_url.strip()[:200]!r})")
            elif xml_url in seen:
                duplicates += 1
            else:
                seen.add(xml_url)
                found.append(
                    OpmlSource(
                        xml_url=xml_url,
                        title=title,
                        html_url=html_url,
                        tag=attrs.get(f"{{{OPML_NS}}}tag"),
                        republish=attrs.get(f"{{{OPML_NS}}}republish"),
                        category=" / ".join(path) or _category_attribute(attrs) or None,
                    )
                )
        elif kind in ("rss", "atom", "feed", "json"):
            skipped.append(f"{label}: a feed outline without xmlUrl")
        paths[child] = (*path, title) if title and not raw_url else path
    if not found and errors and not skipped:
        raise FeedError(f"OPML is not well-formed XML: {errors[0]}")
    return OpmlDocument(sources=found, skipped=skipped, duplicates=duplicates)


def _category_attribute(attrs: dict[str, str]) -> str:
    """An outline's own OPML 2.0 ``category`` (comma-separated slash paths, "/Tech/AI,/News"):
    its first path as "Tech / AI", for outlines that sit in no folder."""
    first = (attrs.get("category") or "").split(",")[0]
    return " / ".join(p for p in (_plain(part) for part in first.split("/")) if p)


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def parse_opml(body: bytes) -> list[OpmlSource]:
    """The usable subscriptions of an OPML document (see :func:`load_opml`)."""
    return load_opml(body).sources


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

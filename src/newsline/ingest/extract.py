"""Article extraction: main text (trafilatura) plus metadata, lead image and safe HTML.

``extract(html, url)`` is the public entry point. The page is decoded (BOM, then
``<meta charset>``, then UTF-8, then detection), parsed once with lxml, and then:

* metadata comes from the page's own structured data — JSON-LD, OpenGraph/Twitter cards,
  ``<meta>`` and ``itemprop`` tags, ``<link rel=canonical>``, a byline element, the URL
  path — with htmldate only as a fallback for a missing date; the order of sources per
  field was chosen by measurement (``bench/extract_quality.py``, docs/benchmarks.md);
* the body comes from trafilatura's main-text cascade in fast mode, with a second, full
  pass only when the fast result looks wrong; it is rendered to plain text and to HTML,
  the page's figures are anchored between the paragraphs they sat between (lazy images
  resolved, each caption once), share/subscribe/"Read more" furniture is dropped, and
  the HTML goes through nh3 with the allowlist of :mod:`newsline.ingest.sanitize`;
* the language is identified on the text (py3langid), falling back to the page's
  declared language for short texts.

Non-HTML input (PDF, images, JSON, feeds, binary data) raises :class:`ExtractError`.
"""

from __future__ import annotations

import codecs
import html as htmllib
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from lxml import html as lxml_html

from newsline.ingest.sanitize import absolute_http_url, best_image_url, clean_generated_html

__all__ = [
    "ExtractError",
    "ExtractOptions",
    "Extracted",
    "decode_html",
    "extract",
    "extract_with",
    "parse_datetime",
]

log = logging.getLogger(__name__)


class ExtractError(ValueError):
    """The input cannot be extracted as an article page (not HTML, empty, unparseable)."""


@dataclass(frozen=True, slots=True)
class Extracted:
    """What one article page yields. Strings are stripped; missing values are None/""."""

    url: str
    """The URL the page was extracted as (what relative links resolve against)."""
    canonical_url: str | None
    """``<link rel=canonical>`` or ``og:url``, made absolute; same-site policy is the caller's."""
    title: str | None
    author: str | None
    """Byline; several people are joined with ", "."""
    published: datetime | None
    """Publication time, always timezone-aware (naive page values are taken as UTC;
    a date without a time is midnight UTC of that date)."""
    modified: datetime | None
    site_name: str | None
    description: str | None
    """The page's own summary (meta/og description), useful as a teaser."""
    language: str | None
    """ISO 639-1 code of the text (py3langid), or the page's declared language."""
    image_url: str | None
    """Lead image (og:image, JSON-LD, first figure), absolute; the body HTML does not
    repeat it."""
    image_caption: str | None
    text: str
    """Body as plain text, blocks separated by a blank line."""
    html: str
    """Body as sanitized HTML (see ``sanitize.ALLOWED_TAGS``)."""
    charset: str | None = None
    """Character encoding used to decode bytes input (None for str input)."""
    tags: tuple[str, ...] = field(default=())
    """Keywords/section tags the page declares (article:tag, keywords, JSON-LD)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of all fields (datetimes as ISO 8601)."""
        data = asdict(self)
        for key in ("published", "modified"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """Knobs for the body extraction; the defaults are what ``extract`` uses (measured)."""

    favor_precision: bool = False
    favor_recall: bool = False
    fast: bool = True
    """Skip trafilatura's readability/justext comparison unless the text comes out short."""
    rescue_below_chars: int = 1000
    """When the fast pass yields fewer characters than this, retry with the full cascade."""
    captions_in_text: bool = False
    """Figure captions in `text` too (they stay in `html`); off scored higher."""
    include_images: bool = False
    """Let trafilatura keep images (it then keeps more junk); off: figures are anchored
    from the page between the extracted paragraphs instead."""
    include_links: bool = True
    include_formatting: bool = True
    url_date: bool = True
    """Take a date from the URL path when the page declares none."""
    date_fallback: bool = True
    """Use htmldate's heuristics when the page declares no publication date."""
    author_fallback: bool = False
    """Use trafilatura's byline heuristics when the page declares no author."""


DEFAULT_OPTIONS = ExtractOptions()
MAX_PAGE_CHARS = 20_000_000
"""Larger inputs are refused (trafilatura's own default limit); the fetcher caps bodies."""

# ---------------------------------------------------------------------------------------
# Decoding bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE
)
_XML_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]{0,200}encoding\s*=\s*["']([a-z0-9_.:-]+)""", re.I)
# WHATWG: these labels mean a superset encoding in practice; utf-16 in a <meta> is a lie.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "x-sjis": "shift_jis",
    "sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
    "unicode": "utf-8",
    "utf8": "utf-8",
}
_SNIFF_LIMIT = 16384
# A few replacement characters in a long page are damage; many mean the wrong codec.
_MAX_BAD_RATIO = 0.0005

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"RIFF", "a RIFF media file (WebP/WAV/AVI)"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\xd0\xcf\x11\xe0", "an MS Office document"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 file"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
    (b"\x00asm", "a WebAssembly module"),
)


def _charset_label(label: bytes | str) -> str | None:
    name = label.decode("ascii", "ignore") if isinstance(label, bytes) else label
    name = name.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _declared_charset(head: bytes) -> str | None:
    match = _XML_ENCODING_RE.search(head) or _META_CHARSET_RE.search(head)
    return _charset_label(match.group(1)) if match else None


def _decode_tolerant(data: bytes, encoding: str) -> str | None:
    """``data`` decoded if that needs no (or very few) replacement characters."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    text = data.decode(encoding, errors="replace")
    bad = text.count("\ufffd") - data.decode("latin-1").count("\ufffd")
    return text if bad <= max(1, int(len(text) * _MAX_BAD_RATIO)) else None


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode an HTML page without HTTP headers: BOM, then the page's declared charset
    (``<meta charset>``/``http-equiv``/XML declaration), then UTF-8, then detection
    (charset_normalizer). Returns ``(text, encoding)``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    declared = _declared_charset(data[:_SNIFF_LIMIT])
    if declared:
        text = _decode_tolerant(data, declared)
        if text is not None:
            return text, declared
    text = _decode_tolerant(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        encoding = _charset_label(best.encoding) or best.encoding
        return data.decode(encoding, errors="replace"), encoding
    fallback = declared or "cp1252"
    return data.decode(fallback, errors="replace"), fallback


def _refuse_non_html(data: bytes | None, text: str | None) -> None:
    """Raise ExtractError when the input is plainly not an HTML page."""
    if data is not None:
        head = data[:16].lstrip()
        for magic, what in _MAGIC:
            if head.startswith(magic):
                raise ExtractError(f"input is {what}, not an HTML page")
    if text is None:
        return
    start = text[:4096].lstrip("\ufeff \t\r\n")
    if not start:
        raise ExtractError("input is empty, not an HTML page")
    if "\x00" in start:
        raise ExtractError("input is binary data, not an HTML page")
    if start[0] in "{[":
        try:
            json.loads(text)
        except ValueError:
            if "<" not in start[:200]:
                raise ExtractError("input looks like JSON, not an HTML page") from None
        else:
            raise ExtractError("input is JSON, not an HTML page")
    lowered = start[:1024].lower()
    if re.match(r"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(rss|feed|rdf:rdf)\b", lowered, re.S):
        raise ExtractError("input is an RSS/Atom feed, not an HTML page")
    if not re.search(
        r"<(html|head|body|p|div|article|main|section|h[1-6]|title|meta|!doctype)\b",
        text[:200_000],
        re.IGNORECASE,
    ):
        raise ExtractError("input has no HTML markup")


# ---------------------------------------------------------------------------------------
# Parsing

_PARSERS = threading.local()  # one parser per thread: the pipeline extracts in a pool


def _parser() -> lxml_html.HTMLParser:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = lxml_html.HTMLParser(
            collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True
        )
        _PARSERS.parser = parser
    return parser


_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _parse(text: str) -> lxml_html.HtmlElement:
    try:
        tree = lxml_html.document_fromstring(_XML_DECL_RE.sub("", text, count=1), parser=_parser())
    except (etree.ParserError, ValueError) as exc:
        raise ExtractError(f"unparseable HTML: {exc}") from exc
    if tree is None:
        raise ExtractError("unparseable HTML: empty document")
    return tree


# ---------------------------------------------------------------------------------------
# Small text helpers

_WS_RE = re.compile(r"\s+")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z]{2,8});", re.IGNORECASE)


def _clean(value: object) -> str | None:
    """A display string: entities resolved (also doubly-escaped ones), whitespace collapsed."""
    if not isinstance(value, str):
        return None
    if "&" in value and _ENTITY_RE.search(value):
        value = htmllib.unescape(value)
    value = unicodedata.normalize("NFC", _WS_RE.sub(" ", value)).strip()
    return value or None


def _fold(value: str | None) -> str:
    """Comparison key: case-folded, punctuation-light."""
    if not value:
        return ""
    value = value.casefold().replace("’", "'").replace("‘", "'").replace("“", '"')
    value = value.replace("”", '"').replace("–", "-").replace("—", "-")
    return _WS_RE.sub(" ", value).strip(" .:;,-|")


# ---------------------------------------------------------------------------------------
# Structured metadata: <meta>, itemprop, JSON-LD


@dataclass
class _Page:
    url: str
    meta: dict[str, list[str]] = field(default_factory=dict)
    itemprops: dict[str, list[str]] = field(default_factory=dict)
    article: dict[str, Any] | None = None
    graph: list[dict[str, Any]] = field(default_factory=list)
    html_lang: str | None = None
    title_tag: str | None = None
    h1s: list[str] = field(default_factory=list)
    canonical: str | None = None
    image_src_link: str | None = None
    tree: Any = None

    def first(self, *keys: str) -> str | None:
        for key in keys:
            for value in self.meta.get(key, ()):
                cleaned = _clean(value)
                if cleaned:
                    return cleaned
        return None


_ARTICLE_TYPES = {
    "newsarticle": 3,
    "reportagenewsarticle": 3,
    "analysisnewsarticle": 3,
    "opinionnewsarticle": 3,
    "reviewnewsarticle": 3,
    "backgroundnewsarticle": 3,
    "liveblogposting": 3,
    "article": 3,
    "blogposting": 3,
    "techarticle": 2,
    "scholarlyarticle": 2,
    "report": 2,
    "socialmediaposting": 2,
    "posting": 2,
    "creativework": 1,
    "webpage": 1,
    "itempage": 1,
    "videoobject": 1,
}
_BYLINE_CLASS_RE = re.compile(
    r"(?:^|[\s_-])(?:byline|by-line|authors?|autor|auteur|writer|creator)(?:$|[\s_-])",
    re.IGNORECASE,
)


def _types(obj: dict[str, Any]) -> list[str]:
    raw = obj.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return [str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for v in values if v]


def _walk_jsonld(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk_jsonld(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        graph = data.get("@graph")
        if graph is not None:
            yield from _walk_jsonld(graph, depth + 1)
        main = data.get("mainEntity")
        if isinstance(main, dict | list):
            yield from _walk_jsonld(main, depth + 1)


def _load_jsonld(text: str) -> Any:
    text = text.strip()
    if text.startswith("<!--"):
        text = text[4:].rsplit("-->", 1)[0]
    text = text.replace("<![CDATA[", "").replace("]]>", "").strip().rstrip(";")
    try:
        return json.loads(text)
    except ValueError:
        # Raw newlines/tabs inside strings are the commonest breakage.
        try:
            return json.loads(re.sub(r"[\r\n\t]+", " ", text))
        except ValueError:
            log.debug("unreadable JSON-LD block skipped")
            return None


_ITEMPROP_XPATH = etree.XPath("//*[@itemprop][not(self::meta)]")
_ITEMPROPS = frozenset({"author", "creator", "datepublished", "image"})


def _collect(tree: lxml_html.HtmlElement, url: str) -> _Page:
    page = _Page(url=url)
    best_score = 0
    # One walk over the document for all the tags we read (each walk costs).
    for el in tree.iter("meta", "script", "link", "title", "h1"):
        tag = el.tag
        if tag == "meta":
            # Some saved pages (and a few CMSs) carry the value in ``value=`` instead.
            content = el.get("content") or el.get("value")
            if content is None or not content.strip():
                continue
            for attr in ("property", "name", "itemprop", "http-equiv"):
                keys = el.get(attr)
                if keys:
                    for key in keys.lower().split():
                        page.meta.setdefault(key, []).append(content)
        elif tag == "script":
            kind = el.get("type")
            if not kind or kind.strip().lower() != "application/ld+json" or not el.text:
                continue
            for obj in _walk_jsonld(_load_jsonld(el.text)):
                page.graph.append(obj)
                score = max((_ARTICLE_TYPES.get(t, 0) for t in _types(obj)), default=0)
                if score and (obj.get("headline") or obj.get("datePublished")):
                    score += 1
                if score > best_score:
                    page.article, best_score = obj, score
        elif tag == "link":
            href = el.get("href")
            if not href:
                continue
            rel = (el.get("rel") or "").lower().split()
            if "canonical" in rel and page.canonical is None:
                page.canonical = href.strip()
            elif "image_src" in rel and page.image_src_link is None:
                page.image_src_link = href.strip()
        elif tag == "title":
            if page.title_tag is None:
                page.title_tag = _clean(el.text_content())
        elif len(page.h1s) < 5:
            text = _clean(el.text_content())
            if text:
                page.h1s.append(text)
    for el in _ITEMPROP_XPATH(tree):
        keys = el.get("itemprop", "").lower().split()
        if not any(k in _ITEMPROPS for k in keys):
            continue
        value = el.get("content") or el.get("datetime")
        if value is None:
            if el.tag == "img":
                value = el.get("src")
            elif el.tag == "link":
                value = el.get("href")
            else:
                value = el.text_content()
        if value and value.strip():
            for key in keys:
                page.itemprops.setdefault(key, []).append(value)
    html_el = tree if tree.tag == "html" else tree.find(".//html")
    if html_el is not None:
        page.html_lang = html_el.get("lang") or html_el.get("xml:lang")
    page.tree = tree
    return page


# The scans below walk the whole document: only done when the metadata lacks the field.
_REL_AUTHOR_XPATH = etree.XPath('//a[contains(@rel, "author")]')
_BYLINE_XPATH = etree.XPath(
    '//*[contains(@class, "yline") or contains(@class, "uthor")]'
    "[not(self::body)][not(self::html)][not(self::article)]"
)
_TIME_XPATH = etree.XPath("//time[@datetime]")


def _rel_authors(page: _Page) -> list[str]:
    names = [_clean(a.text_content()) for a in _REL_AUTHOR_XPATH(page.tree)[:3]]
    return [n for n in names if n]


def _byline_texts(page: _Page) -> list[str]:
    for el in _BYLINE_XPATH(page.tree)[:20]:
        if not _BYLINE_CLASS_RE.search(el.get("class") or ""):
            continue
        # A byline box mixes the name with a date, a job title, a share button: its links
        # and its first text segment that reads as a name are the likeliest name.
        links = [_clean(a.text_content()) for a in el.iter("a")]
        names = [n for n in links if n and _clean_author(n) and not any(c.isdigit() for c in n)]
        if names:
            return names[:4]
        for segment in el.itertext():
            text = _clean(segment)
            if not text or _fold(text) in ("by", "von", "par", "por", "door"):
                continue
            if len(text) < 160 and _clean_author(text):
                return [text]
            break
    return []


def _time_datetimes(page: _Page) -> list[str]:
    return [el.get("datetime") for el in _TIME_XPATH(page.tree)[:1]]


# ---------------------------------------------------------------------------------------
# Field pickers


def _jsonld_text(value: Any) -> str | None:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list):
        for item in value:
            text = _jsonld_text(item)
            if text:
                return text
    if isinstance(value, dict):
        return _jsonld_text(value.get("name") or value.get("@value"))
    return None


_SEPARATORS_RE = re.compile(r"\s+(?:\||-|–|—|·|::|»|/|:)\s+")


def _site_tokens(page: _Page, site_name: str | None) -> set[str]:
    tokens = set()
    if site_name:
        tokens.add(_fold(site_name).replace(" ", ""))
    host = (urlsplit(page.url).hostname or "").lower()
    for part in host.split("."):
        if part not in ("www", "com", "org", "net", "co", "uk", "de", "fr", "news", "m", "amp"):
            tokens.add(part)
    return {t for t in tokens if t}


def _strip_site(title: str, page: _Page, site_name: str | None) -> str:
    parts = _SEPARATORS_RE.split(title)
    if len(parts) < 2:
        return title
    tokens = _site_tokens(page, site_name)

    def is_site(part: str) -> bool:
        key = _fold(part).replace(" ", "").replace(".", "")
        return bool(key) and any(t in key or key in t for t in tokens if len(t) > 2)

    while len(parts) > 1 and is_site(parts[-1]):
        parts.pop()
    while len(parts) > 1 and is_site(parts[0]):
        parts.pop(0)
    if len(parts) == len(_SEPARATORS_RE.split(title)):
        return title
    # Re-split on the original separators to keep the title's own punctuation.
    start = title.find(parts[0])
    end = title.rfind(parts[-1]) + len(parts[-1])
    return title[start:end].strip() if start >= 0 and end > start else title


def _pick_title(page: _Page, site_name: str | None) -> str | None:
    article = page.article or {}
    structured = [
        t
        for t in (
            _jsonld_text(article.get("headline")),
            page.first("og:title"),
            page.first("twitter:title"),
            page.first("title", "dc.title", "sailthru.title", "parsely-title"),
            _jsonld_text(article.get("name")),
        )
        if t
    ]
    candidates = [*structured, page.title_tag] if page.title_tag else structured
    stripped = [_strip_site(t, page, site_name) for t in candidates]
    folded = {_fold(t) for t in candidates} | {_fold(t) for t in stripped}
    # An <h1> that one of the metadata titles agrees with is the headline as shown
    # (exactly, or inside a metadata title that adds a kicker or the site's name).
    for h1 in page.h1s:
        key = _fold(h1)
        if key in folded:
            return h1
    for h1 in page.h1s:
        key = _fold(h1)
        if len(key) >= 15 and any(key in other for other in folded):
            return h1
    if structured:
        return stripped[0]
    if page.title_tag:
        title = stripped[-1]
        if title == page.title_tag:
            title = _strip_trailing_segment(title)
        return title
    return page.h1s[0] if page.h1s else None


def _strip_trailing_segment(title: str) -> str:
    """Readability's rule for a bare <title>: drop a short last " | Site" segment."""
    match = re.match(r"^(.*\S)\s+(?:\||-|–|—|·|»|::)\s+([^|–—·»]{1,40})$", title)
    if match and len(match.group(1).split()) >= 3 and len(match.group(2).split()) <= 4:
        return match.group(1)
    return title


_BY_PREFIX_RE = re.compile(
    r"^(?:written\s+)?(?:by|von|par|por|door|di|af|av|przez|от|автор[:\s])\s*[:\s]?\s*",
    re.IGNORECASE,
)
_NAME_SPLIT_RE = re.compile(r"\s*(?:,|;|\band\b|&|\bund\b|\bet\b|\by\b|\be\b|\|)\s*", re.IGNORECASE)


_AUTHOR_CUT_RE = re.compile(
    r"(?:\s+(?:on\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d"
    r"|\s+\d{1,4}[./-]\d{1,2}|\s*\b(?:link copied|updated|published|posted|share|follow|"
    r"e-?mail|twitter|facebook|view profile|more by|more from|read more|min read)\b).*$",
    re.IGNORECASE,
)
_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:[|·•;]|\s[-–—]\s)\s*")


def _clean_author(value: str | None) -> str | None:
    value = _clean(value)
    if not value:
        return None
    if value.startswith(("http://", "https://", "/", "www.")) or "@" in value.split()[0]:
        return None
    value = _BY_PREFIX_RE.sub("", value)
    value = _AUTHOR_SPLIT_RE.split(value, maxsplit=1)[0]
    value = _AUTHOR_CUT_RE.sub("", value)
    value = re.sub(r"\d.*$", "", value).strip(" ,|:-–—/")  # names have no digits
    if len(value) < 2 or len(value) > 100 or not any(ch.isalpha() for ch in value):
        return None
    return value


def _jsonld_authors(value: Any) -> list[str]:
    people: list[str] = []
    orgs: list[str] = []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            name = _clean_author(item)
            if name:
                people.append(name)
        elif isinstance(item, dict):
            name = _clean_author(_jsonld_text(item.get("name")))
            if not name:
                continue
            (orgs if "organization" in _types(item) else people).append(name)
    return people or orgs


def _join_names(names: Iterable[str]) -> str | None:
    seen: list[str] = []
    keys: set[str] = set()
    for name in names:
        key = _fold(name)
        if key and key not in keys:
            keys.add(key)
            seen.append(name)
    return ", ".join(seen) if seen else None


def _org_keys(page: _Page, site_name: str | None) -> set[str]:
    """Names that are the publisher, not a person: site name, publisher, host labels."""
    keys = {_ascii_key(t) for t in _site_tokens(page, site_name) if len(t) > 2}
    publisher = (page.article or {}).get("publisher")
    name = _jsonld_text(publisher) if publisher else None
    if name:
        keys.add(_ascii_key(name))
    keys.add("condenast")  # the publisher of many magazines puts itself in meta author
    return {k for k in keys if k}


def _ascii_key(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", _fold(value))
    return "".join(c for c in decomposed if c.isalnum())


def _author_ok(name: str | None, page: _Page, site_name: str | None) -> str | None:
    if not name:
        return None
    key = _ascii_key(name)
    orgs = _org_keys(page, site_name)
    if key in orgs or any(key == org or (len(key) > 4 and key in org) for org in orgs):
        return None
    return name


def _pick_author(page: _Page, site_name: str | None) -> str | None:
    article = page.article or {}

    def accept(values: Iterable[str | None]) -> str | None:
        names = [_author_ok(_clean_author(v), page, site_name) for v in values]
        return _join_names(n for n in names if n and not n.startswith("@"))

    if article.get("author"):
        names = [_author_ok(n, page, site_name) for n in _jsonld_authors(article["author"])]
        joined = _join_names(n for n in names if n)
        if joined:
            return joined
    for key in (
        "author",
        "article:author",
        "parsely-author",
        "sailthru.author",
        "byl",
        "dc.creator",
        "dcterms.creator",
        "cxenseparse:author",
        "twitter:creator",
    ):
        joined = accept(page.meta.get(key, ()))
        if joined:
            return joined
    for source in (
        lambda: page.itemprops.get("author", ()),
        lambda: page.itemprops.get("creator", ()),
        lambda: _rel_authors(page),
        lambda: _byline_texts(page),
    ):
        joined = accept(source())
        if joined:
            return joined
    return None


_TZINFOS = {
    "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "BST": 1, "CET": 1, "CEST": 2, "MSK": 3, "IST": 5.5,
    "JST": 9, "AEST": 10, "AEDT": 11,
}  # fmt: skip
_TZ = {name: timezone(timedelta(hours=hours)) for name, hours in _TZINFOS.items()}


def parse_datetime(value: str | None) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 / RFC 2822 / epoch string, or None.

    Naive values are taken as UTC; implausible years (before 1990, after next year) are
    rejected."""
    value = _clean(value)
    if not value:
        return None
    result: datetime | None = None
    if value.isdigit() and len(value) in (10, 13):
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        try:
            result = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        try:
            result = datetime.fromisoformat(
                value.replace(" ", "T", 1) if len(value) > 10 else value
            )
        except ValueError:
            import warnings

            from dateutil import parser as dateparser

            try:
                with warnings.catch_warnings():
                    # an unknown zone name leaves the value naive: taken as UTC below
                    warnings.simplefilter("ignore", dateparser.UnknownTimezoneWarning)
                    result = dateparser.parse(value, tzinfos=_TZ)
            except (ValueError, OverflowError, TypeError):
                return None
    if result is None:
        return None
    if result.tzinfo is None or result.utcoffset() is None:
        result = result.replace(tzinfo=UTC)
    if not 1990 <= result.year <= datetime.now(UTC).year + 1:
        return None
    return result


_DATE_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "published_time",
    "article:published",
    "datepublished",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "dcterms.created",
    "dc.date.created",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "date",
    "og:published_time",
    "article.published",
    "displaydate",
    "cxenseparse:recs:publishtime",
    "originalpublicationdate",
)


def _pick_published(page: _Page) -> datetime | None:
    article = page.article or {}
    for key in ("datePublished", "dateCreated", "uploadDate"):
        when = parse_datetime(_jsonld_text(article.get(key)))
        if when:
            return when
    for key in _DATE_META_KEYS:
        for value in page.meta.get(key, ()):
            when = parse_datetime(value)
            if when:
                return when
    for value in [*page.itemprops.get("datepublished", ()), *_time_datetimes(page)]:
        when = parse_datetime(value)
        if when:
            return when
    return None


def _pick_modified(page: _Page) -> datetime | None:
    article = page.article or {}
    when = parse_datetime(_jsonld_text(article.get("dateModified")))
    if when:
        return when
    for key in ("article:modified_time", "og:updated_time", "datemodified", "dc.date.modified"):
        for value in page.meta.get(key, ()):
            when = parse_datetime(value)
            if when:
                return when
    return None


def _pick_site_name(page: _Page) -> str | None:
    article = page.article or {}
    name = page.first("og:site_name")
    if name:
        return name
    publisher = article.get("publisher")
    name = _jsonld_text(publisher) if publisher else None
    if name:
        return name
    for obj in page.graph:
        if {"website", "newsmediaorganization", "organization"} & set(_types(obj)):
            name = _jsonld_text(obj.get("name"))
            if name:
                return name
    return page.first("application-name", "al:ios:app_name", "al:android:app_name")


def _jsonld_image(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, str):
        return value.strip() or None, None
    if isinstance(value, list):
        for item in value:
            url, caption = _jsonld_image(item)
            if url:
                return url, caption
    if isinstance(value, dict):
        url = value.get("url") or value.get("contentUrl") or value.get("@id")
        if isinstance(url, str) and url.strip():
            return url.strip(), _clean(value.get("caption")) or _clean(value.get("description"))
    return None, None


def _pick_image(page: _Page) -> tuple[str | None, str | None]:
    """Lead image URL (absolute) and a caption the metadata gives for it."""
    alt = page.first("og:image:alt", "twitter:image:alt")
    for key in ("og:image:secure_url", "og:image", "og:image:url"):
        for value in page.meta.get(key, ()):
            og_url = absolute_http_url(value, page.url)
            if og_url:
                return og_url, alt
    article = page.article or {}
    url, caption = _jsonld_image(article.get("image") or article.get("thumbnailUrl"))
    resolved = absolute_http_url(url, page.url)
    if resolved:
        return resolved, caption
    candidates: tuple[str | None, ...] = (
        page.first("twitter:image", "twitter:image:src"),
        page.image_src_link,
        next(iter(page.itemprops.get("image", ())), None),
        page.first("thumbnail", "thumbnailurl"),
    )
    for candidate in candidates:
        other = absolute_http_url(candidate, page.url)
        if other:
            return other, alt
    return None, None


def _pick_description(page: _Page) -> str | None:
    article = page.article or {}
    return (
        page.first("og:description")
        or page.first("description")
        or page.first("twitter:description")
        or _jsonld_text(article.get("description"))
    )


def _pick_tags(page: _Page) -> tuple[str, ...]:
    tags: list[str] = []
    for value in page.meta.get("article:tag", ()):
        tags.append(value)
    if not tags:
        for value in [*page.meta.get("keywords", ()), *page.meta.get("news_keywords", ())]:
            tags.extend(value.split(","))
    if not tags and page.article:
        keywords = page.article.get("keywords")
        if isinstance(keywords, str):
            tags.extend(keywords.split(","))
        elif isinstance(keywords, list):
            tags.extend(k for k in keywords if isinstance(k, str))
    seen: dict[str, str] = {}
    for tag in tags:
        cleaned = _clean(tag)
        if cleaned and len(cleaned) <= 60:
            seen.setdefault(cleaned.casefold(), cleaned)
    return tuple(list(seen.values())[:30])


def _pick_canonical(page: _Page) -> str | None:
    for value in (page.canonical, page.first("og:url")):
        url = absolute_http_url(value, page.url)
        if url:
            return url
    return None


# ---------------------------------------------------------------------------------------
# Images and captions: taken from the page itself and anchored between extracted blocks

_SIZE_TOKEN_RE = re.compile(
    r"([-_.]?\d{2,4}x\d{2,4}|[-_](?:large|medium|small|thumb|master)|@\dx)", re.IGNORECASE
)
_CAPTION_CLASS_RE = re.compile(r"caption|credit|legend|cutline", re.IGNORECASE)
_ANCHOR_MIN = 20
_ANCHOR_LEN = 60


def _image_keys(url: str) -> tuple[str, str]:
    """Exact-ish and loose keys for matching two URLs of the same picture."""
    parts = urlsplit(url)
    path = parts.path.lower()
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{parts.hostname}{path}", _SIZE_TOKEN_RE.sub("", stem)


def _image_matches(a: str, b: str) -> bool:
    ea, la = _image_keys(a)
    eb, lb = _image_keys(b)
    return ea == eb or (bool(la) and la == lb and len(la) >= 6)


def _anchor_key(text: str) -> str | None:
    key = _WS_RE.sub(" ", text).strip()[:_ANCHOR_LEN].casefold()
    return key if len(key) >= _ANCHOR_MIN else None


def _figure_from(el: lxml_html.HtmlElement, base_url: str) -> _Block | None:
    """A figure block for a page ``<figure>`` (first usable image + its caption) or a
    loose ``<img>``."""
    imgs = [el] if el.tag == "img" else list(el.iter("img"))
    for img in imgs:
        src = best_image_url(img.attrib, base_url)
        if src is None:
            continue
        caption = None
        if el.tag == "figure":
            caption_el = el.find(".//figcaption")
            if caption_el is None:
                for sub in el.iter():
                    if isinstance(sub.tag, str) and _CAPTION_CLASS_RE.search(
                        sub.get("class") or ""
                    ):
                        caption_el = sub
                        break
            if caption_el is not None:
                caption = _clean(caption_el.text_content())
        return _Block(
            "figure", "", caption or "", src=src, alt=_clean(img.get("alt")), caption=caption
        )
    return None


_LOOSE_IMG = (
    "//img[not(ancestor::figure or ancestor::a or ancestor::noscript or ancestor::header"
    " or ancestor::footer or ancestor::nav or ancestor::aside)]"
)
_FIGURES_XPATH = etree.XPath(f"//figure | {_LOOSE_IMG}")
# Anchors are paragraphs and headings (not list items: menus have hundreds of them).
_ANCHORS_XPATH = etree.XPath(f"//p | //h2 | //h3 | //h4 | //blockquote | //figure | {_LOOSE_IMG}")


def _loose_image_ok(img: lxml_html.HtmlElement) -> bool:
    """Loose images worth keeping (the XPath already excluded linked thumbnails,
    noscript copies and page furniture): not icons."""
    for attr in ("width", "height"):
        value = img.get(attr, "")
        if value.isdigit() and int(value) < 150:
            return False
    return True


def _shares_container(a: etree._Element, b: etree._Element) -> bool:
    ancestors = {id(x) for x in a.iterancestors()}
    for ancestor in b.iterancestors():
        if id(ancestor) in ancestors:
            return ancestor.tag not in ("body", "html")
    return False


def _anchor_figures(
    tree: lxml_html.HtmlElement, blocks: list[_Block], base_url: str
) -> tuple[list[_Block], list[_Block]]:
    """Insert the page's figures between the extracted blocks they sit between in the
    page. Figures outside the extracted run of text (rails, teasers) are left out; only
    the one closest before the first paragraph may lead (the hero). Returns the new
    block list and every figure seen (for the lead image's caption)."""
    keys: dict[str, int] = {}
    for i, block in enumerate(blocks):
        key = _anchor_key(block.text)
        if key is not None:
            keys.setdefault(key, i)
    inserts: dict[int, list[_Block]] = {}
    seen: list[_Block] = []
    seen_src: set[str] = set()
    pending: list[tuple[etree._Element, _Block]] = []
    anchored = False
    if not _FIGURES_XPATH(tree):
        return blocks, seen
    for el in _ANCHORS_XPATH(tree):
        if el.tag in ("figure", "img"):
            if el.tag == "img" and not _loose_image_ok(el):
                continue
            figure = _figure_from(el, base_url)
            if figure is not None and figure.src not in seen_src:
                seen_src.add(figure.src or "")
                seen.append(figure)
                pending.append((el, figure))
            continue
        if not keys or (anchored and not pending):
            continue  # nothing waits for a position: skip the text scan
        key = _anchor_key("".join(islice(el.itertext(), 8)))
        if key is None or key not in keys:
            continue
        index = keys.pop(key)
        if pending:
            if not anchored:
                el_fig, first = pending[-1]
                pending = [(el_fig, first)] if _shares_container(el_fig, el) else []
            inserts.setdefault(index, []).extend(fig for _, fig in pending)
            pending = []
        anchored = True
    if not inserts:
        return blocks, seen
    result: list[_Block] = []
    for i, block in enumerate(blocks):
        result.extend(inserts.get(i, ()))
        result.append(block)
    return result, seen


# ---------------------------------------------------------------------------------------
# Rendering trafilatura's body to HTML + text


@dataclass
class _Block:
    kind: str  # p, h2..h6, ul, ol, blockquote, figure
    html: str
    text: str
    src: str | None = None
    alt: str | None = None
    caption: str | None = None
    link_only: bool = False


# Block elements trafilatura leaves nested inside a paragraph or list item.
_NESTED_BLOCKS = frozenset({"p", "head", "list", "item", "quote", "div", "code", "table", "row"})
_HI_TAGS = {"#b": "strong", "#i": "em", "#u": "", "#t": "", "#sub": "", "#sup": ""}
_LIST_ITEM_SEP = "\n"


def _esc(text: str | None) -> str:
    return htmllib.escape(text or "", quote=False)


def _inline(el: etree._Element, figures: list[_Block], base_url: str) -> str:
    """HTML for ``el``'s content (not the element itself); graphics go to ``figures``."""
    out = [_esc(el.text)]
    for child in el:
        tag = child.tag
        if tag == "hi":
            inner = _inline(child, figures, base_url)
            html_tag = _HI_TAGS.get(child.get("rend", ""), "")
            out.append(f"<{html_tag}>{inner}</{html_tag}>" if html_tag and inner.strip() else inner)
        elif tag == "ref":
            inner = _inline(child, figures, base_url)
            href = absolute_http_url(child.get("target"), base_url)
            if href and inner.strip():
                out.append(f'<a href="{htmllib.escape(href)}">{inner}</a>')
            else:
                out.append(inner)
        elif tag == "lb":
            out.append("<br>")
        elif tag == "graphic":
            figure = _figure_block(child, base_url)
            if figure is not None:
                figures.append(figure)
        elif tag == "del":
            pass
        elif tag in _NESTED_BLOCKS:
            inner = _inline(child, figures, base_url).strip()
            if inner:
                out.append(f"<br>{inner}" if "".join(out).strip() else inner)
        elif isinstance(tag, str):
            out.append(_inline(child, figures, base_url))
        out.append(_esc(child.tail))
    return "".join(out)


def _text_of(el: etree._Element) -> str:
    parts: list[str] = []
    for node in el.iter():
        if node is not el and node.tag in _NESTED_BLOCKS:
            parts.append("\n")
        if node.tag == "lb":
            parts.append("\n")
        elif node.tag == "graphic" or node.tag == "del":
            pass
        elif node.text:
            parts.append(node.text)
        if node is not el and node.tail:
            parts.append(node.tail)
    lines = (_WS_RE.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _figure_block(el: etree._Element, base_url: str) -> _Block | None:
    src = best_image_url(el.attrib, base_url)
    if not src:
        return None
    alt = _clean(el.get("alt")) or _clean(el.get("title"))
    return _Block("figure", "", "", src=src, alt=alt)


def _blocks(body: etree._Element, base_url: str) -> list[_Block]:
    blocks: list[_Block] = []

    def add(el: etree._Element) -> None:
        tag = el.tag
        figures: list[_Block] = []
        if tag in ("p", "head", "code", "quote") and not any(c.tag == "p" for c in el):
            inner = _inline(el, figures, base_url).strip()
            text = _text_of(el)
            if tag == "head":
                rend = el.get("rend") or "h2"
                level = rend if re.fullmatch(r"h[2-6]", rend) else "h2"
                kind = level
            elif tag == "quote":
                kind = "blockquote"
                inner = f"<p>{inner}</p>"
            else:
                kind = "p"
            if text:
                link_only = _is_link_only(el, text)
                blocks.append(_Block(kind, f"<{kind}>{inner}</{kind}>", text, link_only=link_only))
        elif tag == "quote":
            inner_blocks = _blocks(el, base_url)
            html = "".join(b.html for b in inner_blocks if b.kind != "figure")
            text = "\n\n".join(b.text for b in inner_blocks if b.text)
            if text:
                blocks.append(_Block("blockquote", f"<blockquote>{html}</blockquote>", text))
        elif tag == "list":
            kind = "ol" if (el.get("rend") or "").startswith("ol") else "ul"
            items_html: list[str] = []
            items_text: list[str] = []
            links = 0
            for item in el.iter("item"):
                if item.getparent() is not el:
                    continue
                inner = _inline(item, figures, base_url).strip()
                text = _text_of(item)
                if text:
                    items_html.append(f"<li>{inner}</li>")
                    items_text.append(text)
                    links += _is_link_only(item, text)
            if items_text:
                blocks.append(
                    _Block(
                        kind,
                        f"<{kind}>{''.join(items_html)}</{kind}>",
                        _LIST_ITEM_SEP.join(items_text),
                        link_only=links == len(items_text),
                    )
                )
        elif tag == "graphic":
            figure = _figure_block(el, base_url)
            if figure is not None:
                figures.append(figure)
        elif tag == "table":
            for row in el.iter("row"):
                cells = [_text_of(cell) for cell in row.iter("cell")]
                cells = [c for c in cells if c]
                if cells:
                    text = " | ".join(cells)
                    blocks.append(_Block("p", f"<p>{_esc(text)}</p>", text))
        elif tag == "lb":
            return
        elif isinstance(tag, str):
            if len(el):
                for child in el:
                    add(child)
            else:
                text = _text_of(el)
                if text:
                    blocks.append(_Block("p", f"<p>{_esc(text)}</p>", text))
        blocks.extend(figures)

    def add_loose(text: str | None) -> None:
        cleaned = _clean(text)
        if cleaned:
            blocks.append(_Block("p", f"<p>{_esc(cleaned)}</p>", cleaned))

    add_loose(body.text)
    for child in body:
        add(child)
        add_loose(child.tail)
    return blocks


def _is_link_only(el: etree._Element, text: str) -> bool:
    link_text = "".join("".join(ref.itertext()) for ref in el.iter("ref"))
    return bool(link_text) and len(_WS_RE.sub("", link_text)) >= 0.8 * len(_WS_RE.sub("", text))


# Blocks that are site furniture, not article: matched on short blocks only.
_BOILERPLATE_EXACT = re.compile(
    r"^(advertisement|advertising|anzeige|publicité|sponsored( content)?|ad|"
    r"share( this( article| story| post)?)?|share on \w+|share via \w+|tweet|email|print|"
    r"copy link|comments?|\d+ comments?|read more|more|continue reading|show more|"
    r"load more|subscribe( now)?|sign up|log ?in|register|follow us|"
    r"recommended( stories| articles| for you| reading)?|related( stories| articles| content|"
    r" coverage| posts| topics)?|more (stories|from \w+( \w+)?|on this( story| topic)?)|"
    r"you (may|might) also like|most (read|popular|viewed|shared)|trending( now)?|"
    r"top stories|editor'?s picks|don'?t miss|see also|also read|read also|read next|"
    r"up next|listen to (this|the) (article|story)|\d+ min(ute)?s? read|image|photo|"
    r"(facebook|twitter|x|whatsapp|linkedin|reddit|pinterest|telegram|flipboard)"
    r"([ ,/|]+(facebook|twitter|x|whatsapp|linkedin|reddit|pinterest|email|telegram|"
    r"flipboard|print|copy link))*)[\s.:!…»›>|-]*$",
    re.IGNORECASE,
)
_BOILERPLATE_PREFIX = re.compile(
    r"^(read more|read also|also read|see also|related|recommended|more on this|watch|"
    r"listen|click here|sign up|subscribe|get (our|the) [\w\s]{0,40}newsletter|"
    r"follow (us|\w+ on)|share (this|on)|join (us|our)|download (our|the) app|"
    r"this (article|story) (was|is) (produced|brought)|©|copyright\b|all rights reserved)\b"
    r"[^.]{0,160}$",
    re.IGNORECASE,
)
_NEWSLETTER_RE = re.compile(
    r"\b(newsletter|subscribe|subscription|sign up|sign-up|inbox|unsubscribe)\b", re.IGNORECASE
)
_READMORE_COLON_RE = re.compile(
    r"^(read more|read also|also read|see also|related|recommended|more|read|watch|listen|"
    r"related story|related article|lire aussi|lesen sie auch|mehr zum thema|leia também|"
    r"lee también|читайте также)\s*[:›»>|–-]",
    re.IGNORECASE,
)


_DATELINE_RE = re.compile(
    r"\b(\d{1,2}\.? [^\W\d]{3,9}\.? \d{4}|[^\W\d]{3,9}\.? \d{1,2},? \d{4}|\d{4}-\d{2}-\d{2}|"
    r"\d{1,2}[./]\d{1,2}[./]\d{2,4}|updated|published|from the section|\d+ comments?)\b",
    re.IGNORECASE,
)


def _is_meta_list(block: _Block) -> bool:
    """A list of short items that is a dateline / section / comment-count strip."""
    items = block.text.split(_LIST_ITEM_SEP)
    if not 1 < len(items) <= 6 or any(len(item.split()) > 8 for item in items):
        return False
    furniture = sum(
        bool(_BOILERPLATE_EXACT.match(item) or _DATELINE_RE.search(item)) for item in items
    )
    return furniture * 2 >= len(items)


def _is_boilerplate(block: _Block) -> bool:
    text = block.text.strip()
    words = len(text.split())
    if block.kind == "figure":
        return False
    if block.kind in ("ul", "ol") and _is_meta_list(block):
        return True
    if words <= 12 and _BOILERPLATE_EXACT.match(text):
        return True
    if words <= 30 and _READMORE_COLON_RE.match(text):
        return True
    if words <= 25 and _BOILERPLATE_PREFIX.match(text):
        return True
    return words <= 30 and len(_NEWSLETTER_RE.findall(text)) >= 2


def _is_section_heading_boilerplate(block: _Block) -> bool:
    return block.kind.startswith("h") and bool(_BOILERPLATE_EXACT.match(block.text.strip()))


def _same_caption(a: str | None, b: str | None) -> bool:
    """Two renderings of one caption (alt vs figcaption, a credit appended, small edits)."""
    fa, fb = _fold(a), _fold(b)
    if not fa or not fb:
        return False
    if fa == fb:
        return True
    shorter, longer = sorted((fa, fb), key=len)
    if len(shorter) < 0.6 * len(longer):
        return False
    from rapidfuzz import fuzz

    return longer.startswith(shorter) or fuzz.ratio(fa, fb) >= 90


def _tidy(blocks: list[_Block]) -> list[_Block]:
    """Captions once, no boilerplate, no repeated blocks."""
    # 1. Attach captions to figures; drop paragraphs that repeat a caption or an alt text.
    for i, block in enumerate(blocks):
        if block.kind != "figure" or block.src is None:
            continue
        for j in (i + 1, i + 2, i - 1):
            if not 0 <= j < len(blocks) or blocks[j].kind == "figure" or not blocks[j].text:
                continue
            other = blocks[j].text
            if _same_caption(other, block.caption):
                blocks[j].kind = "dropped"
            elif block.caption is None and _same_caption(other, block.alt):
                # A caption printed as a paragraph next to its image: it becomes the caption.
                block.caption = _clean(other)
                blocks[j].kind = "dropped"
    kept = [b for b in blocks if b.kind != "dropped"]
    # 2. Boilerplate: furniture paragraphs, and link lists under furniture headings.
    result: list[_Block] = []
    skip_links = False
    for block in kept:
        if _is_section_heading_boilerplate(block):
            skip_links = True
            continue
        if skip_links and block.link_only:
            continue
        skip_links = False
        if _is_boilerplate(block):
            continue
        result.append(block)
    # 3. Consecutive duplicates (the same caption or paragraph printed twice).
    deduped: list[_Block] = []
    previous = ""
    for block in result:
        folded = _fold(block.text) if block.kind != "figure" else ""
        if folded and folded == previous:
            continue
        previous = folded
        deduped.append(block)
    # Trailing link lists are "more stories" rails.
    while deduped and deduped[-1].link_only and deduped[-1].kind in ("ul", "ol"):
        deduped.pop()
    return deduped


def _figure_html(block: _Block) -> str:
    alt = block.alt or ""
    if block.caption and (_same_caption(alt, block.caption) or _fold(alt) in _fold(block.caption)):
        alt = ""  # the caption says it: screen readers and text crawlers read it once
    img = f'<img src="{htmllib.escape(block.src or "")}" alt="{htmllib.escape(alt)}">'
    caption = f"<figcaption>{_esc(block.caption)}</figcaption>" if block.caption else ""
    return f"<figure>{img}{caption}</figure>"


# ---------------------------------------------------------------------------------------
# Language


_LANG_IDENTIFIER: Any = None


def _detect_language(text: str, declared: str | None) -> str | None:
    global _LANG_IDENTIFIER
    declared_code = None
    if declared:
        declared_code = declared.strip().replace("_", "-").split("-")[0].lower() or None
        if declared_code and not re.fullmatch(r"[a-z]{2,3}", declared_code):
            declared_code = None
    sample = text[:300]
    if len(sample) < 40:
        return declared_code
    if _LANG_IDENTIFIER is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _LANG_IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lang, prob = _LANG_IDENTIFIER.classify(sample)
    if prob < 0.5 and declared_code:
        return declared_code
    return str(lang)


# ---------------------------------------------------------------------------------------
# The entry points


def extract(html: str | bytes, url: str) -> Extracted:
    """Extract the article in ``html`` (page bytes or text) fetched from ``url``.

    Raises :class:`ExtractError` when the input is not an HTML page (PDF, image, JSON,
    a feed, binary or empty data) or cannot be parsed.
    """
    return extract_with(html, url, DEFAULT_OPTIONS)


def extract_with(html: str | bytes, url: str, options: ExtractOptions) -> Extracted:
    """:func:`extract` with explicit :class:`ExtractOptions` (for benchmarks and tuning)."""
    charset: str | None = None
    if isinstance(html, str | bytes | bytearray | memoryview) and len(html) > MAX_PAGE_CHARS:
        raise ExtractError(f"page too large to extract ({len(html)} > {MAX_PAGE_CHARS})")
    if isinstance(html, bytes | bytearray | memoryview):
        data = bytes(html)
        _refuse_non_html(data, None)
        text, charset = decode_html(data)
    elif isinstance(html, str):
        text = html
    else:
        raise TypeError(f"extract() needs str or bytes, not {type(html).__name__}")
    _refuse_non_html(None, text)
    tree = _parse(text)
    page = _collect(tree, url)
    # Metadata first: the fallbacks scan the page as published, before the main-text
    # extraction prunes comment and boilerplate sections from the tree.
    site_name = _pick_site_name(page)
    title = _pick_title(page, site_name)
    published = _pick_published(page)
    author = _pick_author(page, site_name)
    if published is None:
        published = _url_date(page.canonical or url) if options.url_date else None
    if published is None and options.date_fallback:
        published = _fallback_date(tree, url)
    if author is None and options.author_fallback:
        author = _fallback_author(tree, page, site_name)

    body, length = _run_trafilatura(tree, options, options.fast)
    if options.fast and _needs_rescue(tree, page, title, body, length, options):
        # The fast pass looks wrong: let trafilatura compare with its other algorithms
        # (readability, jusText), as its default mode does.
        retry_body, retry_length = _run_trafilatura(tree, options, False)
        if retry_length > length or (retry_body is not None and length >= 1000):
            body, length = retry_body, retry_length
    blocks = _blocks(body, url) if body is not None else []
    figures: list[_Block] = []
    if not options.include_images:
        blocks, figures = _anchor_figures(tree, blocks, url)
    blocks = _tidy(blocks)

    # The title is shown apart: a heading repeating it at the top of the body goes.
    while blocks and blocks[0].kind.startswith("h") and _fold(blocks[0].text) == _fold(title):
        del blocks[0]

    image_url, image_caption = _pick_image(page)
    leading = 0  # figures before the first paragraph (only headings above them) lead
    while leading < len(blocks) and blocks[leading].kind.startswith(("h", "figure")):
        leading += 1
    if image_url is None:
        image_url = next((b.src for b in blocks if b.kind == "figure"), None)
    if image_url is not None:
        # The hero is shown from image_url: do not repeat it at the top of the body.
        for i, block in enumerate(blocks[:leading]):
            if block.kind == "figure" and block.src and _image_matches(block.src, image_url):
                image_caption = block.caption or image_caption
                del blocks[i]
                break
        else:
            for figure in figures:
                if figure.caption and figure.src and _image_matches(figure.src, image_url):
                    image_caption = image_caption or figure.caption
                    break

    body_html = "".join(_figure_html(b) if b.kind == "figure" else b.html for b in blocks)
    text_parts = [
        (b.caption or "") if b.kind == "figure" else b.text
        for b in blocks
        if b.kind != "figure" or options.captions_in_text
    ]
    body_text = unicodedata.normalize("NFC", "\n\n".join(t for t in text_parts if t))

    return Extracted(
        url=url,
        canonical_url=_pick_canonical(page),
        title=title,
        author=author,
        published=published,
        modified=_pick_modified(page),
        site_name=site_name,
        description=_pick_description(page),
        language=_detect_language(
            body_text or (title or ""),
            page.html_lang
            or page.first("og:locale", "content-language", "language", "dc.language")
            or _jsonld_text((page.article or {}).get("inLanguage")),
        ),
        image_url=image_url,
        image_caption=_clean(image_caption),
        text=body_text,
        # Built here from escaped text and resolved URLs; nh3 still has the last word.
        html=clean_generated_html(body_html),
        charset=charset,
        tags=_pick_tags(page),
    )


_URL_DATE_RE = re.compile(
    r"/((?:19|20)\d{2})[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?:[/_.-]|$)"
)


def _url_date(url: str) -> datetime | None:
    """A date spelled in the article's URL path (``/2016/12/09/``, ``/20161209/``)."""
    match = _URL_DATE_RE.search(urlsplit(url).path)
    if not match:
        return None
    try:
        when = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        return None
    return when if when <= datetime.now(UTC) + timedelta(days=1) else None


def _run_trafilatura(
    tree: lxml_html.HtmlElement, options: ExtractOptions, fast: bool
) -> tuple[etree._Element | None, int]:
    """trafilatura's main-text cascade over ``tree``: (body element, text length).

    Calls the cascade directly rather than through ``bare_extraction``, which would first
    deep-copy the whole document (a sixth of the extraction time). The cascade only
    prunes comment and boilerplate sections from the tree it is given (idempotent), so
    the same tree serves a second pass and the figure anchoring afterwards.
    """
    if _SEQUENCE is None:  # a trafilatura without the internal entry point
        import trafilatura

        document = trafilatura.bare_extraction(
            tree,
            fast=fast,
            favor_precision=options.favor_precision,
            favor_recall=options.favor_recall,
            include_comments=False,
            include_tables=True,
            include_images=options.include_images,
            include_links=options.include_links,
            include_formatting=options.include_formatting,
        )
        if document is None or isinstance(document, dict):
            return None, 0
        return document.body, len(document.text or "")
    from trafilatura.settings import Extractor

    extractor = Extractor(
        output_format="python",
        fast=fast,
        precision=options.favor_precision,
        recall=options.favor_recall,
        comments=False,
        formatting=options.include_formatting,
        links=options.include_links,
        images=options.include_images,
        tables=True,
    )
    try:
        body, text, _, _ = _SEQUENCE(tree, extractor, None)
    except ValueError as exc:  # what bare_extraction treats as "nothing extracted"
        log.debug("trafilatura found no main text: %s", exc)
        return None, 0
    return body, len(text)


_P_TEXT_XPATH = etree.XPath("//p//text()", smart_strings=False)
_BODY_TEXT_XPATH = etree.XPath(
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript)]",
    smart_strings=False,
)


def _needs_rescue(
    tree: lxml_html.HtmlElement,
    page: _Page,
    title: str | None,
    body: etree._Element | None,
    length: int,
    options: ExtractOptions,
) -> bool:
    """Whether the fast pass probably missed the article (rules measured on the corpora):
    its text is short while the page's paragraphs (1.5-fold) or its whole text (12-fold)
    hold much more; or it shares few words
    with the headline and lacks the page's own description, which the paragraphs have."""
    if length < options.rescue_below_chars:
        paragraphs = sum(len(t.strip()) for t in _P_TEXT_XPATH(tree))
        if paragraphs > 1.5 * length:
            return True
        # text held outside <p> (div-based layouts): a page with far more words
        return sum(len(t.strip()) for t in _BODY_TEXT_XPATH(tree)) > 12 * length
    description = _pick_description(page)
    words = description.casefold().split() if description else []
    if len(words) < 10 or body is None or not title:
        return False
    extracted = " ".join(" ".join(body.itertext()).casefold().split())
    title_words = set(re.findall(r"\w{4,}", title.casefold()))
    if not title_words or sum(w in extracted for w in title_words) >= 0.3 * len(title_words):
        return False
    probe = " ".join(words[:6])
    if probe in extracted:
        return False
    return probe in " ".join(" ".join(_P_TEXT_XPATH(tree)).casefold().split())


def _load_sequence() -> Any:
    try:
        from trafilatura.core import trafilatura_sequence
    except ImportError:
        return None
    return trafilatura_sequence


_SEQUENCE = _load_sequence()


def _fallback_date(tree: lxml_html.HtmlElement, url: str) -> datetime | None:
    """htmldate's heuristics (URL, visible dates) when the page has no date metadata."""
    from htmldate import find_date

    try:
        found = find_date(tree, url=url, extensive_search=False, original_date=True)
    except (ValueError, TypeError) as exc:
        log.debug("htmldate failed on %s: %s", url, exc)
        return None
    return parse_datetime(found) if found else None


def _fallback_author(tree: lxml_html.HtmlElement, page: _Page, site_name: str | None) -> str | None:
    """trafilatura's byline heuristics when the page declares no author."""
    from trafilatura.metadata import extract_author

    return _author_ok(_clean_author(extract_author(tree)), page, site_name)

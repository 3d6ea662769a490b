"""The article's fields from what the page declares (:class:`.page.Page`): title, dates,
site name, lead image, description, tags, canonical URL, declared language.

For each field the first source that has it wins; the order of sources was chosen by
measurement (``bench/extract_quality.py``, docs/benchmarks.md). The byline is in
:mod:`.authors`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from lxml import etree

from newsline.ingest.extract.dates import parse_datetime
from newsline.ingest.extract.page import Page, jsonld_text, jsonld_types, site_tokens
from newsline.ingest.extract.textutil import clean, fold
from newsline.ingest.sanitize import absolute_http_url

__all__ = [
    "pick_canonical",
    "pick_declared_language",
    "pick_description",
    "pick_image",
    "pick_modified",
    "pick_published",
    "pick_site_name",
    "pick_tags",
    "pick_title",
]

_SEPARATORS_RE = re.compile(r"\s+(?:\||-|–|—|·|::|»|/|:)\s+")


def _strip_site(title: str, page: Page, site_name: str | None) -> str:
    parts = _SEPARATORS_RE.split(title)
    if len(parts) < 2:
        return title
    tokens = site_tokens(page, site_name)

    def is_site(part: str) -> bool:
        key = fold(part).replace(" ", "").replace(".", "")
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


def pick_title(page: Page, site_name: str | None) -> str | None:
    """The headline as shown: an ``<h1>`` a metadata title agrees with, else the metadata
    title without the site's name, else ``<title>``, else the first ``<h1>``."""
    article = page.article or {}
    structured = [
        t
        for t in (
            jsonld_text(article.get("headline")),
            page.first("og:title"),
            page.first("twitter:title"),
            page.first("title", "dc.title", "sailthru.title", "parsely-title"),
            jsonld_text(article.get("name")),
        )
        if t
    ]
    candidates = [*structured, page.title_tag] if page.title_tag else structured
    stripped = [_strip_site(t, page, site_name) for t in candidates]
    folded = {fold(t) for t in candidates} | {fold(t) for t in stripped}
    # An <h1> that one of the metadata titles agrees with is the headline as shown
    # (exactly, or inside a metadata title that adds a kicker or the site's name).
    for h1 in page.h1s:
        key = fold(h1)
        if key in folded:
            return h1
    for h1 in page.h1s:
        key = fold(h1)
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
# Walks the whole document: only done when the metadata lacks the field.
_TIME_XPATH = etree.XPath("//time[@datetime]")


def _time_datetimes(page: Page) -> list[str]:
    return [el.get("datetime") for el in _TIME_XPATH(page.tree)[:1]]


def pick_published(page: Page) -> datetime | None:
    """Publication time: JSON-LD, then ``<meta>`` (21 names), itemprop, ``<time>``."""
    article = page.article or {}
    for key in ("datePublished", "dateCreated", "uploadDate"):
        when = parse_datetime(jsonld_text(article.get(key)))
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


def pick_modified(page: Page) -> datetime | None:
    """Last modification time the page declares."""
    article = page.article or {}
    when = parse_datetime(jsonld_text(article.get("dateModified")))
    if when:
        return when
    for key in ("article:modified_time", "og:updated_time", "datemodified", "dc.date.modified"):
        for value in page.meta.get(key, ()):
            when = parse_datetime(value)
            if when:
                return when
    return None


def pick_site_name(page: Page) -> str | None:
    """The publication's name: og:site_name, the JSON-LD publisher or website, app names."""
    article = page.article or {}
    name = page.first("og:site_name")
    if name:
        return name
    publisher = article.get("publisher")
    name = jsonld_text(publisher) if publisher else None
    if name:
        return name
    for obj in page.graph:
        if {"website", "newsmediaorganization", "organization"} & set(jsonld_types(obj)):
            name = jsonld_text(obj.get("name"))
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
            return url.strip(), clean(value.get("caption")) or clean(value.get("description"))
    return None, None


def pick_image(page: Page) -> tuple[str | None, str | None]:
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


def pick_description(page: Page) -> str | None:
    """The page's own summary (og/meta/twitter description, JSON-LD)."""
    article = page.article or {}
    return (
        page.first("og:description")
        or page.first("description")
        or page.first("twitter:description")
        or jsonld_text(article.get("description"))
    )


def pick_tags(page: Page) -> tuple[str, ...]:
    """Keywords and section tags the page declares (at most 30, each once)."""
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
        cleaned = clean(tag)
        if cleaned and len(cleaned) <= 60:
            seen.setdefault(cleaned.casefold(), cleaned)
    return tuple(list(seen.values())[:30])


def pick_canonical(page: Page) -> str | None:
    """``<link rel=canonical>`` or ``og:url``, made absolute."""
    for value in (page.canonical, page.first("og:url")):
        url = absolute_http_url(value, page.url)
        if url:
            return url
    return None


def pick_declared_language(page: Page) -> str | None:
    """The language the page says it is in (``<html lang>``, og:locale, JSON-LD), raw."""
    return (
        page.html_lang
        or page.first("og:locale", "content-language", "language", "dc.language")
        or jsonld_text((page.article or {}).get("inLanguage"))
    )

"""What the page declares about itself, collected in one walk: ``<meta>`` and ``itemprop``
values, the JSON-LD article, ``<link rel=canonical>``, ``<title>``, the ``<h1>``\\s and the
declared language. The field pickers (:mod:`.metadata`, :mod:`.authors`) read from here."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from lxml import html as lxml_html

from newsline.ingest.extract.textutil import clean, fold

__all__ = ["Page", "collect", "jsonld_text", "jsonld_types", "site_tokens"]

log = logging.getLogger(__name__)


@dataclass
class Page:
    """The page's declared metadata (keys lower-cased) and its parsed tree."""

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
        """The first non-empty ``<meta>`` value under any of ``keys``, cleaned."""
        for key in keys:
            for value in self.meta.get(key, ()):
                cleaned = clean(value)
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


def jsonld_types(obj: dict[str, Any]) -> list[str]:
    """A JSON-LD object's ``@type``\\s, lower-cased, without their vocabulary prefix."""
    raw = obj.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return [str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for v in values if v]


def jsonld_text(value: Any) -> str | None:
    """A display string from a JSON-LD value (a string, a list, or an object's name)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        for item in value:
            text = jsonld_text(item)
            if text:
                return text
    if isinstance(value, dict):
        return jsonld_text(value.get("name") or value.get("@value"))
    return None


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


def collect(tree: lxml_html.HtmlElement, url: str) -> Page:
    """Everything the page declares, in one walk over the document (each walk costs)."""
    page = Page(url=url)
    best_score = 0
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
                score = max((_ARTICLE_TYPES.get(t, 0) for t in jsonld_types(obj)), default=0)
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
                page.title_tag = clean(el.text_content())
        elif len(page.h1s) < 5:
            text = clean(el.text_content())
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


def site_tokens(page: Page, site_name: str | None) -> set[str]:
    """Words that name the site (its name, its host's labels): for stripping them from
    titles and refusing them as authors."""
    tokens = set()
    if site_name:
        tokens.add(fold(site_name).replace(" ", ""))
    host = (urlsplit(page.url).hostname or "").lower()
    for part in host.split("."):
        if part not in ("www", "com", "org", "net", "co", "uk", "de", "fr", "news", "m", "amp"):
            tokens.add(part)
    return {t for t in tokens if t}

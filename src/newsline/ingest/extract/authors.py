"""The byline: JSON-LD persons, ``meta author``-like tags, itemprop, ``rel=author``, a byline
element; names cleaned of "By", dates and share buttons; the publisher refused as a person."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from lxml import etree
from lxml import html as lxml_html
from trafilatura.metadata import extract_author

from newsline.ingest.extract.page import Page, jsonld_text, jsonld_types, site_tokens
from newsline.ingest.extract.textutil import clean, fold

__all__ = ["fallback_author", "pick_author"]

_BYLINE_CLASS_RE = re.compile(
    r"(?:^|[\s_-])(?:byline|by-line|authors?|autor|auteur|writer|creator)(?:$|[\s_-])",
    re.IGNORECASE,
)
# The scans below walk the whole document: only done when the metadata lacks the field.
_REL_AUTHOR_XPATH = etree.XPath('//a[contains(@rel, "author")]')
_BYLINE_XPATH = etree.XPath(
    '//*[contains(@class, "yline") or contains(@class, "uthor")]'
    "[not(self::body)][not(self::html)][not(self::article)]"
)


def _rel_authors(page: Page) -> list[str]:
    names = [clean(a.text_content()) for a in _REL_AUTHOR_XPATH(page.tree)[:3]]
    return [n for n in names if n]


def _byline_texts(page: Page) -> list[str]:
    for el in _BYLINE_XPATH(page.tree)[:20]:
        if not _BYLINE_CLASS_RE.search(el.get("class") or ""):
            continue
        # A byline box mixes the name with a date, a job title, a share button: its links
        # and its first text segment that reads as a name are the likeliest name.
        links = [clean(a.text_content()) for a in el.iter("a")]
        names = [n for n in links if n and _clean_author(n) and not any(c.isdigit() for c in n)]
        if names:
            return names[:4]
        for segment in el.itertext():
            text = clean(segment)
            if not text or fold(text) in ("by", "von", "par", "por", "door"):
                continue
            if len(text) < 160 and _clean_author(text):
                return [text]
            break
    return []


_BY_PREFIX_RE = re.compile(
    r"^(?:written\s+)?(?:by|von|par|por|door|di|af|av|przez|от|автор[:\s])\s*[:\s]?\s*",
    re.IGNORECASE,
)
_AUTHOR_CUT_RE = re.compile(
    r"(?:\s+(?:on\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d"
    r"|\s+\d{1,4}[./-]\d{1,2}|\s*\b(?:link copied|updated|published|posted|share|follow|"
    r"e-?mail|twitter|facebook|view profile|more by|more from|read more|min read)\b).*$",
    re.IGNORECASE,
)
_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:[|·•;]|\s[-–—]\s)\s*")


def _clean_author(value: str | None) -> str | None:
    value = clean(value)
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
            name = _clean_author(jsonld_text(item.get("name")))
            if not name:
                continue
            (orgs if "organization" in jsonld_types(item) else people).append(name)
    return people or orgs


def _join_names(names: Iterable[str]) -> str | None:
    seen: list[str] = []
    keys: set[str] = set()
    for name in names:
        key = fold(name)
        if key and key not in keys:
            keys.add(key)
            seen.append(name)
    return ", ".join(seen) if seen else None


def _org_keys(page: Page, site_name: str | None) -> set[str]:
    """Names that are the publisher, not a person: site name, publisher, host labels."""
    keys = {_ascii_key(t) for t in site_tokens(page, site_name) if len(t) > 2}
    publisher = (page.article or {}).get("publisher")
    name = jsonld_text(publisher) if publisher else None
    if name:
        keys.add(_ascii_key(name))
    keys.add("condenast")  # the publisher of many magazines puts itself in meta author
    return {k for k in keys if k}


def _ascii_key(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", fold(value))
    return "".join(c for c in decomposed if c.isalnum())


def _author_ok(name: str | None, page: Page, site_name: str | None) -> str | None:
    if not name:
        return None
    key = _ascii_key(name)
    orgs = _org_keys(page, site_name)
    if key in orgs or any(key == org or (len(key) > 4 and key in org) for org in orgs):
        return None
    return name


def pick_author(page: Page, site_name: str | None) -> str | None:
    """The byline from the page's own data (first source that has one), or None."""
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


def fallback_author(tree: lxml_html.HtmlElement, page: Page, site_name: str | None) -> str | None:
    """trafilatura's byline heuristics when the page declares no author."""
    return _author_ok(_clean_author(extract_author(tree)), page, site_name)

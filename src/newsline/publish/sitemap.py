"""Sitemaps (urlset and index, sitemaps.org 0.9) and robots.txt, from plain values."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
#: The protocol's limit of URLs per sitemap file; larger sets get an index.
MAX_URLS = 50_000


def _lastmod(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _document(root_tag: str, child_tag: str, entries: Iterable[tuple[str, datetime | None]]) -> str:
    root = ET.Element(root_tag, {"xmlns": SITEMAP_NS})
    for loc, modified in entries:
        node = ET.SubElement(root, child_tag)
        ET.SubElement(node, "loc").text = loc
        stamp = _lastmod(modified)
        if stamp:
            ET.SubElement(node, "lastmod").text = stamp
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def urlset(urls: Iterable[tuple[str, datetime | None]]) -> str:
    """A sitemap listing (absolute URL, last modified) pairs."""
    return _document("urlset", "url", urls)


def sitemap_index(sitemaps: Iterable[tuple[str, datetime | None]]) -> str:
    """A sitemap index listing (absolute sitemap URL, last modified) pairs."""
    return _document("sitemapindex", "sitemap", sitemaps)


def page_count(total_urls: int, per_page: int = MAX_URLS) -> int:
    """How many sitemap files `total_urls` URLs need (at least one)."""
    return max(1, -(-total_urls // per_page))


def robots_txt(sitemaps: Sequence[str], disallow: Sequence[str] = ()) -> str:
    """A robots.txt allowing everything but `disallow`, naming the sitemaps."""
    lines = ["User-agent: *"]
    lines += [f"Disallow: {path}" for path in disallow]
    if not disallow:
        lines.append("Disallow:")
    lines.append("")
    lines += [f"Sitemap: {url}" for url in sitemaps]
    return "\n".join(lines) + "\n"

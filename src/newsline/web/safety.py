"""Making untrusted strings safe for pages: URL checks, nh3 for body HTML, highlight marks."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

import nh3
from markupsafe import Markup, escape

#: Markers the search snippets put around matches (control characters never in our text).
MARK_START = "\x02"
MARK_END = "\x03"

_sanitize_html: Callable[[str, str], str] | None
try:  # the ingest pipeline's sanitizer, when present, is the single source of truth
    from newsline.ingest.sanitize import sanitize_html as _sanitize_html
except ImportError:
    _sanitize_html = None

_BODY_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area", "center", "details", "summary"}
_BODY_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "acronym": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "ol": {"start", "reversed"},
}


def safe_url(url: str | None) -> str | None:
    """The URL if it is absolute http(s), else None (drops ``javascript:``, ``data:`` …)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _nh3_body(html: str, base_url: str) -> str:
    del base_url  # nh3 keeps relative URLs as they are; ingest makes them absolute
    return nh3.clean(
        html,
        tags=_BODY_TAGS,
        attributes=_BODY_ATTRIBUTES,
        clean_content_tags={"script", "style", "noscript", "iframe", "object", "svg", "math"},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


@lru_cache(maxsize=512)
def clean_body(html: str, base_url: str = "") -> Markup:
    """Article body HTML made safe to embed: through the ingest sanitizer, then nh3 again."""
    if _sanitize_html is not None:
        html = _sanitize_html(html, base_url)
    # Always a final nh3 pass with our own tight allow-list: whatever the stored HTML is,
    # no script, style attribute or event handler reaches the page (CSP blocks them too).
    return Markup(_nh3_body(html, base_url))


def highlighted(text: str) -> Markup:
    """Escape a snippet and turn its match markers into ``<mark>`` elements."""
    escaped = str(escape(text))
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site (for redirects), else `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target

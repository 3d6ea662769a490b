"""Sanitize article and feed HTML down to a small, safe allowlist (nh3 is the last word).

Two passes:

1. A structural pass on an lxml tree: resolve relative and lazy-loaded image URLs
   (``data-src``, ``data-lazy-src``, ``srcset`` ...), drop images without a usable URL,
   keep a caption once (an ``alt`` that repeats the figure's caption is emptied), turn
   ``h1`` into ``h2`` and caption-less layout ``div``\\s into paragraphs so block
   boundaries survive the allowlist.
2. nh3 (ammonia) with the allowlist :data:`newsline.sanitize.ARTICLE_BODY`. nh3 runs last
   on a re-serialised string, so whatever the first pass misunderstood, nothing outside
   the allowlist survives.

URLs go through :func:`newsline.sanitize.web_url`: links must be absolute ``http``/``https`` after resolving
against the page's URL (anything else — ``javascript:``, ``data:``, ``mailto:``, a bare
``#fragment`` — loses its ``href`` and the ``<a>`` is unwrapped); image ``src`` must be
absolute ``https``, a plain ``http`` image being upgraded (see
:func:`newsline.sanitize.https_image_url`).
"""

from __future__ import annotations

import re

from lxml import etree, html

from newsline.sanitize import ARTICLE_BODY, DROPPED_WITH_CONTENT, https_image_url, web_url

__all__ = [
    "absolute_http_url",
    "best_image_url",
    "clean_generated_html",
    "sanitize_html",
]

# Attributes where pages keep the real image URL until JavaScript swaps it in.
LAZY_SRC_ATTRIBUTES = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
    "data-srcset",
    "data-lazy-srcset",
    "srcset",
)
_PLACEHOLDER_RE = re.compile(
    r"^data:|(?:^|/)(?:blank|spacer|pixel|placeholder|transparent|grey|gray|lazy|loading)"
    r"[\w-]*\.(?:gif|png|svg)",
    re.IGNORECASE,
)
_SRCSET_ITEM_RE = re.compile(r"\s*(\S+?)(?:\s+([\d.]+)([wx]))?\s*(?:,|$)")
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "nav",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "pre",
        "hr",
        "address",
        "details",
        "summary",
    }
)
# Containers that become a paragraph when they hold only inline content.
_PARAGRAPHISH = frozenset(
    {
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "pre",
        "address",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "summary",
        "details",
        "caption",
    }
)
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def absolute_http_url(value: str | None, base_url: str) -> str | None:
    """``value`` resolved against ``base_url`` when the result is an http(s) URL, else None.

    :func:`newsline.sanitize.web_url`, except that a bare ``#fragment`` is refused: it
    points into the source page, which ours is not.
    """
    if value is None or value.lstrip().startswith("#"):
        return None
    return web_url(value, base_url)


def _best_srcset_candidate(srcset: str) -> str | None:
    best: str | None = None
    best_score = -1.0
    for match in _SRCSET_ITEM_RE.finditer(srcset):
        url, number, unit = match.group(1), match.group(2), match.group(3)
        if not url or url == ",":
            continue
        url = url.rstrip(",")
        try:
            score = float(number) if number else 1.0
        except ValueError:
            score = 1.0
        if unit == "x":
            score *= 1000  # density descriptors: rank 2x over 1x, comparable to ~1000w
        if score > best_score:
            best, best_score = url, score
    return best


def best_image_url(attrs: dict[str, str] | etree._Attrib, base_url: str) -> str | None:
    """The real URL of an ``<img>`` given its attributes: lazy-load attributes win over a
    placeholder ``src``; ``srcset`` contributes its largest candidate. Absolute, or None."""
    src = (attrs.get("src") or "").strip()
    if src and not _PLACEHOLDER_RE.search(src):
        return absolute_http_url(src, base_url)
    for name in LAZY_SRC_ATTRIBUTES:
        value = (attrs.get(name) or "").strip()
        if not value:
            continue
        candidate = _best_srcset_candidate(value) if "srcset" in name else value
        if candidate and not _PLACEHOLDER_RE.search(candidate):
            resolved = absolute_http_url(candidate, base_url)
            if resolved:
                return resolved
    return None


def _norm(text: str | None) -> str:
    return _WS_RE.sub(" ", text or "").strip()


def _has_block_child(el: html.HtmlElement) -> bool:
    return any(
        isinstance(child.tag, str) and child.tag in _BLOCK_TAGS for child in el.iterdescendants()
    )


def _unwrap(el: html.HtmlElement) -> None:
    el.drop_tag()


def _restructure(root: html.HtmlElement, base_url: str) -> None:
    """The structural pass: URLs, images, captions, block boundaries (mutates ``root``)."""
    for img in list(root.iter("img")):
        url = best_image_url(img.attrib, base_url)
        if url is None:
            img.drop_tree()
            continue
        alt = img.get("alt")
        img.attrib.clear()
        img.set("src", https_image_url(url) or url)
        if alt is not None:
            img.set("alt", _norm(alt))
    for picture in list(root.iter("picture")):
        _unwrap(picture)
    for figure in list(root.iter("figure")):
        caption = figure.find(".//figcaption")
        caption_text = _norm(caption.text_content()) if caption is not None else ""
        imgs = list(figure.iter("img"))
        for img in imgs:
            alt = img.get("alt") or ""
            if caption_text and (alt == caption_text or alt in caption_text):
                img.set("alt", "")  # the caption says it: screen readers and crawlers read it once
        if not imgs and not caption_text and not _norm(figure.text_content()):
            figure.drop_tree()
    for a in list(root.iter("a")):
        url = absolute_http_url(a.get("href"), base_url)
        if url is None:
            _unwrap(a)
        else:
            a.attrib.clear()
            a.set("href", url)
    for h1 in root.iter("h1"):
        h1.tag = "h2"
    # Inline-only containers become paragraphs; containers of blocks are unwrapped by nh3.
    for el in list(root.iter(*_PARAGRAPHISH)):
        if not _has_block_child(el):
            el.tag = "p"


def sanitize_html(html_text: str, base_url: str) -> str:
    """Return ``html_text`` reduced to the article allowlist, with URLs made absolute.

    Allowed: p, h2-h6, ul/ol/li, blockquote, figure/figcaption, img (absolute https src,
    alt), a (absolute http(s) href, rel="noopener nofollow"), em/strong/b/i, br. Scripts,
    styles, SVG, iframes, forms, event handlers and non-http(s) URLs never survive.
    """
    if not html_text or not html_text.strip():
        return ""
    # Control characters mean nothing in HTML (and lxml refuses them).
    html_text = _CONTROL_RE.sub("", html_text)
    try:
        root = html.fragment_fromstring(html_text, create_parent="div")
    except (etree.ParserError, ValueError):
        root = None
    if root is not None:
        for bad in list(root.iter(*DROPPED_WITH_CONTENT)):
            bad.drop_tree()
        _restructure(root, base_url)
        html_text = etree.tostring(root, encoding="unicode", method="html")
    cleaned = ARTICLE_BODY.clean(html_text)
    return _collapse_empty(cleaned).strip()


def clean_generated_html(html_text: str) -> str:
    """nh3 alone, for HTML this package generated itself (already structured, URLs
    already absolute): the same allowlist and URL policy, without the structural pass."""
    return _collapse_empty(ARTICLE_BODY.clean(html_text)).strip()


_EMPTY_BLOCK_RE = re.compile(r"<(p|li|h[2-6]|blockquote|figcaption|ul|ol)>\s*(?:<br>\s*)*</\1>")


def _collapse_empty(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _EMPTY_BLOCK_RE.sub("", text)
    return text

"""Making untrusted HTML and URLs safe: named nh3 policies and one web-URL check.

Every allow-list of newsline is a :class:`Policy` here, named by what it cleans:

- :data:`ARTICLE_BODY` — an article body as ingest stores it: a small allow-list, absolute
  http(s) links, https images (``ingest.sanitize`` restructures the page's HTML first).
- :data:`ARTICLE_PAGE` — the last pass over a stored body on its way to a page, a feed or
  the API: whatever is in the database, no script, style or event handler gets out.
- :data:`DIGEST` — the Digest's own markup as composed: sections, entries, classes, ids.
- :data:`DIGEST_PAGE` — the last pass over a stored Digest on its page: its sections kept,
  its classes dropped (the page styles the Digest by structure).
- :data:`EMAIL` — fragments of the e-mail edition: layout tables and a few inline styles.
- :data:`COMMENT` — readers' comments: text formatting and links (``nofollow ugc``), no
  images.

URLs are checked by :func:`web_url` alone: absolute ``http``/``https`` with a host, after
resolving against a base; ``javascript:``, ``data:``, ``vbscript:`` and every other scheme
are refused, however they are spelled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin, urlsplit

import nh3

__all__ = [
    "ARTICLE_BODY",
    "ARTICLE_PAGE",
    "COMMENT",
    "DIGEST",
    "DIGEST_PAGE",
    "EMAIL",
    "Policy",
    "https_image_url",
    "is_web_url",
    "web_url",
]

# --- the URL check ------------------------------------------------------------------------

#: What browsers strip from both ends of a URL (C0 controls and space), besides whitespace.
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_WEB_SCHEMES = frozenset({"http", "https"})
#: A plain host name (no port, user, brackets or non-ASCII), ended by the path, query or end.
_PLAIN_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(?=[/?#]|$)")


def web_url(value: str | None, base: str = "") -> str | None:
    """`value` as an absolute http(s) URL, resolved against `base` when relative; else None.

    Refuses every other scheme (``javascript:``, ``data:``, ``vbscript:``, ``mailto:`` …),
    whatever its case and whatever whitespace or control characters hide it, and URLs
    without a host. Without a `base`, relative URLs are refused.
    """
    if not value:
        return None
    url = value.strip().strip(_C0_AND_SPACE)
    if not url:
        return None
    if url.startswith(("https://", "http://")):
        # Already absolute (the common case): a plain host name is all it needs.
        host_start = url.index("//") + 2
        if len(url) <= host_start or url[host_start] in "/?#\\":
            return None  # no host (``https:///x``): not to be read as a relative path
        if _PLAIN_HOST.match(url, host_start):
            return url
    try:
        resolved = urljoin(base, url) if base else url
        parts = urlsplit(resolved)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises for a port out of range or not a number
    except ValueError:  # unbalanced brackets, a bad port, a host NFKC breaks, ...
        return None
    if parts.scheme.lower() not in _WEB_SCHEMES or not host:
        return None
    return resolved


def is_web_url(value: str | None, base: str = "") -> bool:
    """Whether :func:`web_url` accepts `value`."""
    return web_url(value, base) is not None


def https_image_url(value: str | None, base: str = "") -> str | None:
    """An image URL fit for ``<img src>`` on our HTTPS pages: :func:`web_url`, http upgraded.

    Upgraded rather than dropped: browsers auto-upgrade such mixed-content images anyway
    (Chromium since v86), so dropping would lose pictures that work, and keeping ``http``
    would leak the reader's visit in clear text.
    """
    resolved = web_url(value, base)
    if resolved is not None and resolved[:5].lower() == "http:":
        resolved = "https:" + resolved[5:]
    return resolved


# --- policies -----------------------------------------------------------------------------

AttributeFilter = Callable[[str, str, str], "str | None"]

#: Elements dropped *with* their content: code, styling, embedded documents, form controls
#: and metadata never belong in a body or a comment.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script",
        "style",
        "svg",
        "math",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "template",
        "noscript",
        "noembed",
        "noframes",
        "textarea",
        "select",
        "button",
        "form",
        "title",
        "head",
        "canvas",
        "audio",
        "video",
        "map",
        "xmp",
        "plaintext",
    }
)


@dataclass(frozen=True)
class Policy:
    """One nh3 allow-list, with what it keeps and how it treats links and URLs."""

    name: str
    tags: frozenset[str]
    #: Per tag; nh3 also keeps ``lang`` and ``title`` on any tag unless ``"*"`` says otherwise.
    attributes: Mapping[str, frozenset[str]]
    url_schemes: frozenset[str]
    #: ``rel`` set on every link; None leaves links as they are.
    link_rel: str | None
    #: Dropped with their content; None: nh3's own choice (script and style).
    clean_content_tags: frozenset[str] | None = None
    #: A last word on each attribute value (None drops the attribute).
    attribute_filter: AttributeFilter | None = None
    #: The CSS properties a ``style`` attribute may keep (None: style is not filtered).
    style_properties: frozenset[str] | None = None
    _cleaner: nh3.Cleaner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cleaner = nh3.Cleaner(
            tags=set(self.tags),
            clean_content_tags=(
                None if self.clean_content_tags is None else set(self.clean_content_tags)
            ),
            attributes={tag: set(names) for tag, names in self.attributes.items()},
            attribute_filter=self.attribute_filter,
            strip_comments=True,
            link_rel=self.link_rel,
            url_schemes=set(self.url_schemes),
            filter_style_properties=(
                None if self.style_properties is None else set(self.style_properties)
            ),
        )
        object.__setattr__(self, "_cleaner", cleaner)

    def clean(self, html: str) -> str:
        """`html` (a fragment) reduced to this policy."""
        return self._cleaner.clean(html)


def _absolute_links_https_images(tag: str, attr: str, value: str) -> str | None:
    # Second guard after ingest's structural pass: absolute http(s) only, https for images.
    del tag
    if attr == "href":
        return web_url(value)
    if attr == "src":
        return https_image_url(value)
    return value


def _absolute_links(tag: str, attr: str, value: str) -> str | None:
    del tag
    return web_url(value) if attr == "href" else value


ARTICLE_BODY = Policy(
    name="article body",
    tags=frozenset(
        {
            "p",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "ul",
            "ol",
            "li",
            "blockquote",
            "figure",
            "figcaption",
            "img",
            "a",
            "em",
            "strong",
            "b",
            "i",
            "br",
        }
    ),
    attributes={"a": frozenset({"href"}), "img": frozenset({"src", "alt"})},
    url_schemes=_WEB_SCHEMES,
    link_rel="noopener nofollow",
    clean_content_tags=DROPPED_WITH_CONTENT,
    attribute_filter=_absolute_links_https_images,
)

_PAGE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "abbr": frozenset({"title"}),
    "acronym": frozenset({"title"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "time": frozenset({"datetime"}),
    "ol": frozenset({"start", "reversed"}),
}

ARTICLE_PAGE = Policy(
    name="article page",
    # Broader than ARTICLE_BODY: a final guard over whatever the database holds, not a style.
    tags=frozenset(nh3.ALLOWED_TAGS) - {"map", "area", "center", "details", "summary"},
    attributes=_PAGE_ATTRIBUTES,
    url_schemes=frozenset({"http", "https", "mailto"}),
    link_rel="noopener noreferrer nofollow",
    clean_content_tags=frozenset(
        {"script", "style", "noscript", "iframe", "object", "svg", "math"}
    ),
)

DIGEST = Policy(
    name="digest",
    tags=frozenset(
        {"section", "article", "footer", "h2", "h3", "p", "a", "img", "span", "ul", "li", "strong"}
    ),
    attributes={
        "section": frozenset({"class", "id"}),
        "article": frozenset({"class"}),
        "footer": frozenset({"class"}),
        "h2": frozenset({"class"}),
        "p": frozenset({"class"}),
        "span": frozenset({"class"}),
        "a": frozenset({"href", "class"}),
        "img": frozenset({"src", "alt", "class", "loading", "width", "height"}),
    },
    url_schemes=_WEB_SCHEMES,
    link_rel="noopener noreferrer",
)

DIGEST_PAGE = replace(
    ARTICLE_PAGE,
    name="digest page",
    tags=ARTICLE_PAGE.tags | {"section"},
    url_schemes=_WEB_SCHEMES,
)

_EMAIL_STYLED = ("table", "tr", "td", "h1", "h2", "h3", "p", "span", "a", "img")
EMAIL = Policy(
    name="email",
    tags=frozenset({*_EMAIL_STYLED, "tbody", "strong", "em", "b", "i", "br", "ul", "li"}),
    attributes={
        "*": frozenset(),
        **{tag: frozenset({"style"}) for tag in _EMAIL_STYLED},
        "table": frozenset({"style", "role", "width", "cellpadding", "cellspacing"}),
        "td": frozenset({"style", "width", "align", "valign"}),
        "a": frozenset({"style", "href"}),
        "img": frozenset({"style", "src", "alt", "width", "height"}),
    },
    url_schemes=frozenset({"http", "https", "mailto"}),
    link_rel=None,  # rel means nothing to a mail client
    clean_content_tags=DROPPED_WITH_CONTENT,
    # Layout and type only: nothing positioned, nothing fetched (no url() backgrounds).
    style_properties=frozenset(
        {
            "border",
            "border-bottom",
            "color",
            "display",
            "font-family",
            "font-size",
            "font-weight",
            "letter-spacing",
            "line-height",
            "margin",
            "max-width",
            "padding",
            "padding-right",
            "text-align",
            "width",
        }
    ),
)

COMMENT = Policy(
    name="comment",
    tags=frozenset(
        {"p", "br", "a", "em", "strong", "b", "i", "blockquote", "code", "pre", "ul", "ol", "li"}
    ),
    attributes={"*": frozenset(), "a": frozenset({"href"})},
    url_schemes=_WEB_SCHEMES,
    # Readers' links earn no ranking (nofollow, ugc) and get no handle on our page (noopener).
    link_rel="nofollow ugc noopener",
    clean_content_tags=DROPPED_WITH_CONTENT,
    attribute_filter=_absolute_links,
)

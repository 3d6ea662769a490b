"""What extraction takes and gives: options in, :class:`Extracted` out, :class:`ExtractError`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from newsline.errors import NewslineError

__all__ = ["DEFAULT_OPTIONS", "ExtractError", "ExtractOptions", "Extracted"]


class ExtractError(NewslineError, ValueError):
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
    """Body as sanitized HTML (the nh3 policy ``newsline.sanitize.ARTICLE_BODY``)."""
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

"""Readers' comments: a small Markdown subset to HTML, made safe by ``sanitize.COMMENT``.

The subset: paragraphs, line breaks, emphasis and strong, inline code, code blocks (fenced
and indented), blockquotes, lists, links and ``<autolinks>``. No images (``![x](u)`` stays a
plain link), no raw HTML (written ``<b>`` shows as text), no headings or tables.

markdown-it-py parses it: a CommonMark parser whose inline rules run in linear time
(delimiter runs are matched with the spec's "openers bottom" bound, nesting is capped by
``maxNesting``). Its output still goes through the comment policy, which keeps only the
tags above, drops every non-http(s) link (``javascript:``, ``data:``, relative paths) via
``sanitize.web_url`` and adds ``rel="nofollow ugc noopener"``: the parser is not trusted
to be safe, only to be fast.

Bodies are refused before parsing when longer than :data:`MAX_BODY_CHARS` or empty.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it import MarkdownIt

from newsline.errors import NewslineError
from newsline.sanitize import COMMENT

#: The longest comment accepted, in characters (about 1,500 words).
MAX_BODY_CHARS = 10_000
#: How deep blockquotes and lists may nest before the parser stops nesting.
MAX_NESTING = 20

_RULES = [
    "paragraph",
    "newline",
    "emphasis",
    "backticks",
    "fence",
    "code",
    "blockquote",
    "list",
    "link",
    "autolink",
    "escape",
    "entity",
]
# Controls other than tab and newline, and the bidi embeddings, overrides and isolates that
# make text read differently from how it is stored (Trojan Source). Zero-width joiners stay
# (emoji need them).
_STRIPPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_LINK = re.compile(r"https?://", re.IGNORECASE)


class CommentBodyError(NewslineError):
    """A comment body that cannot be accepted (empty or too long); the message says why."""


def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": False})
    md.options["maxNesting"] = MAX_NESTING
    md.enable(_RULES)
    return md


_MD = _parser()


def clean_body(text: str) -> str:
    """The body as stored: newlines unified, controls and bidi overrides removed, NFC, trimmed.

    Raises :class:`CommentBodyError` when nothing is left or it is too long.
    """
    if len(text) > 4 * MAX_BODY_CHARS:
        # Refused before any work on it (a megabyte body costs nothing but this check).
        raise CommentBodyError(
            f"This comment is too long: at most {MAX_BODY_CHARS:,} characters, please."
        )
    body = _STRIPPED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    body = unicodedata.normalize("NFC", body).strip()
    if not body:
        raise CommentBodyError("This comment is empty: write something first.")
    if len(body) > MAX_BODY_CHARS:
        raise CommentBodyError(
            f"This comment is too long ({len(body):,} characters): "
            f"at most {MAX_BODY_CHARS:,}, please."
        )
    return body


def render(text: str) -> str:
    """A comment body (checked by :func:`clean_body`) as safe HTML."""
    body = clean_body(text)
    return COMMENT.clean(_MD.render(body)).strip()


def link_count(text: str) -> int:
    """How many http(s) links a body carries (a spam signal)."""
    return len(_LINK.findall(text))

"""Small text helpers shared by the extractor's modules: display strings, comparison keys."""

from __future__ import annotations

import html as htmllib
import re
import unicodedata

__all__ = ["WS_RE", "clean", "esc", "fold"]

WS_RE = re.compile(r"\s+")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z]{2,8});", re.IGNORECASE)


def clean(value: object) -> str | None:
    """A display string: entities resolved (also doubly-escaped ones), whitespace collapsed."""
    if not isinstance(value, str):
        return None
    if "&" in value and _ENTITY_RE.search(value):
        value = htmllib.unescape(value)
    value = unicodedata.normalize("NFC", WS_RE.sub(" ", value)).strip()
    return value or None


def fold(value: str | None) -> str:
    """Comparison key: case-folded, punctuation-light."""
    if not value:
        return ""
    value = value.casefold().replace("’", "'").replace("‘", "'").replace("“", '"')
    value = value.replace("”", '"').replace("–", "-").replace("—", "-")
    return WS_RE.sub(" ", value).strip(" .:;,-|")


def esc(text: str | None) -> str:
    """``text`` escaped for HTML element content."""
    return htmllib.escape(text or "", quote=False)

"""Small text helpers shared by ingest, the site and the Digest."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def truncate_words(text: str, limit: int = 280, ellipsis: str = "...") -> str:
    """Whitespace squeezed, then cut at a word boundary so that, with the ellipsis, the
    result fits ``limit`` characters (cut mid-word only when the last space is too early)."""
    text = _WS.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + ellipsis

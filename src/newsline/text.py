"""Small text helpers shared by ingest, the site, the Digest and the command line."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")

# ANSI escape sequences whole (CSI, OSC ended by BEL or ST, two-byte ESC sequences), then any
# C0 or C1 control character left over except tab and newline.
_TERMINAL_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: escape sequences and control characters
    (C0 and C1, except tab and newline) removed, so publisher data cannot move the cursor,
    clear the screen or retitle the window."""
    return _TERMINAL_CONTROL.sub("", text)


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


def hashtag_name(text: str) -> str:
    """A hashtag as typed (``#Politics``, `` politics``) as the name it is stored under:
    without its "#" and surrounding spaces, in lower case."""
    return text.strip().lstrip("#").lower()

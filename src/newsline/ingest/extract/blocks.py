"""The unit the body is built from: a paragraph, heading, list, quote or figure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIST_ITEM_SEP", "Block"]

LIST_ITEM_SEP = "\n"
"""Separates the items of a list block in its ``text``."""


@dataclass
class Block:
    """One block of the body, as HTML and as plain text (figures: image and caption)."""

    kind: str  # p, h2..h6, ul, ol, blockquote, figure
    html: str
    text: str
    src: str | None = None
    alt: str | None = None
    caption: str | None = None
    link_only: bool = False

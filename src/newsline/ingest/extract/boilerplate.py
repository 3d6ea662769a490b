"""What is not the article: share / subscribe / "Read more" furniture, dateline strips,
link rails under furniture headings, captions printed twice, repeated blocks."""

from __future__ import annotations

import re

from newsline.ingest.extract.blocks import LIST_ITEM_SEP, Block
from newsline.ingest.extract.figures import same_caption
from newsline.ingest.extract.textutil import clean, fold

__all__ = ["tidy"]

# Blocks that are site furniture, not article: matched on short blocks only.
_BOILERPLATE_EXACT = re.compile(
    r"^(advertisement|advertising|anzeige|publicité|sponsored( content)?|ad|"
    r"share( this( article| story| post)?)?|share on \w+|share via \w+|tweet|email|print|"
    r"copy link|comments?|\d+ comments?|read more|more|continue reading|show more|"
    r"load more|subscribe( now)?|sign up|log ?in|register|follow us|"
    r"recommended( stories| articles| for you| reading)?|related( stories| articles| content|"
    r" coverage| posts| topics)?|more (stories|from \w+( \w+)?|on this( story| topic)?)|"
    r"you (may|might) also like|most (read|popular|viewed|shared)|trending( now)?|"
    r"top stories|editor'?s picks|don'?t miss|see also|also read|read also|read next|"
    r"up next|listen to (this|the) (article|story)|\d+ min(ute)?s? read|image|photo|"
    r"(facebook|twitter|x|whatsapp|linkedin|reddit|pinterest|telegram|flipboard)"
    r"([ ,/|]+(facebook|twitter|x|whatsapp|linkedin|reddit|pinterest|email|telegram|"
    r"flipboard|print|copy link))*)[\s.:!…»›>|-]*$",
    re.IGNORECASE,
)
_BOILERPLATE_PREFIX = re.compile(
    r"^(read more|read also|also read|see also|related|recommended|more on this|watch|"
    r"listen|click here|sign up|subscribe|get (our|the) [\w\s]{0,40}newsletter|"
    r"follow (us|\w+ on)|share (this|on)|join (us|our)|download (our|the) app|"
    r"this (article|story) (was|is) (produced|brought)|©|copyright\b|all rights reserved)\b"
    r"[^.]{0,160}$",
    re.IGNORECASE,
)
_NEWSLETTER_RE = re.compile(
    r"\b(newsletter|subscribe|subscription|sign up|sign-up|inbox|unsubscribe)\b", re.IGNORECASE
)
_READMORE_COLON_RE = re.compile(
    r"^(read more|read also|also read|see also|related|recommended|more|read|watch|listen|"
    r"related story|related article|lire aussi|lesen sie auch|mehr zum thema|leia também|"
    r"lee también|читайте также)\s*[:›»>|–-]",
    re.IGNORECASE,
)


_DATELINE_RE = re.compile(
    r"\b(\d{1,2}\.? [^\W\d]{3,9}\.? \d{4}|[^\W\d]{3,9}\.? \d{1,2},? \d{4}|\d{4}-\d{2}-\d{2}|"
    r"\d{1,2}[./]\d{1,2}[./]\d{2,4}|updated|published|from the section|\d+ comments?)\b",
    re.IGNORECASE,
)


def _is_meta_list(block: Block) -> bool:
    """A list of short items that is a dateline / section / comment-count strip."""
    items = block.text.split(LIST_ITEM_SEP)
    if not 1 < len(items) <= 6 or any(len(item.split()) > 8 for item in items):
        return False
    furniture = sum(
        bool(_BOILERPLATE_EXACT.match(item) or _DATELINE_RE.search(item)) for item in items
    )
    return furniture * 2 >= len(items)


def _is_boilerplate(block: Block) -> bool:
    text = block.text.strip()
    words = len(text.split())
    if block.kind == "figure":
        return False
    if block.kind in ("ul", "ol") and _is_meta_list(block):
        return True
    if words <= 12 and _BOILERPLATE_EXACT.match(text):
        return True
    if words <= 30 and _READMORE_COLON_RE.match(text):
        return True
    if words <= 25 and _BOILERPLATE_PREFIX.match(text):
        return True
    return words <= 30 and len(_NEWSLETTER_RE.findall(text)) >= 2


def _is_section_heading_boilerplate(block: Block) -> bool:
    return block.kind.startswith("h") and bool(_BOILERPLATE_EXACT.match(block.text.strip()))


def tidy(blocks: list[Block]) -> list[Block]:
    """Captions once, no boilerplate, no repeated blocks."""
    # 1. Attach captions to figures; drop paragraphs that repeat a caption or an alt text.
    for i, block in enumerate(blocks):
        if block.kind != "figure" or block.src is None:
            continue
        for j in (i + 1, i + 2, i - 1):
            if not 0 <= j < len(blocks) or blocks[j].kind == "figure" or not blocks[j].text:
                continue
            other = blocks[j].text
            if same_caption(other, block.caption):
                blocks[j].kind = "dropped"
            elif block.caption is None and same_caption(other, block.alt):
                # A caption printed as a paragraph next to its image: it becomes the caption.
                block.caption = clean(other)
                blocks[j].kind = "dropped"
    kept = [b for b in blocks if b.kind != "dropped"]
    # 2. Boilerplate: furniture paragraphs, and link lists under furniture headings.
    result: list[Block] = []
    skip_links = False
    for block in kept:
        if _is_section_heading_boilerplate(block):
            skip_links = True
            continue
        if skip_links and block.link_only:
            continue
        skip_links = False
        if _is_boilerplate(block):
            continue
        result.append(block)
    # 3. Consecutive duplicates (the same caption or paragraph printed twice).
    deduped: list[Block] = []
    previous = ""
    for block in result:
        folded = fold(block.text) if block.kind != "figure" else ""
        if folded and folded == previous:
            continue
        previous = folded
        deduped.append(block)
    # Trailing link lists are "more stories" rails.
    while deduped and deduped[-1].link_only and deduped[-1].kind in ("ul", "ol"):
        deduped.pop()
    return deduped

"""Figures: taken from the page itself (lazy images resolved, with their captions) and
anchored between the extracted blocks they sat between; each caption once; the lead image
not repeated at the top of the body."""

from __future__ import annotations

import html as htmllib
import re
from itertools import islice
from urllib.parse import urlsplit

from lxml import etree
from lxml import html as lxml_html
from rapidfuzz import fuzz

from newsline.ingest.extract.blocks import Block
from newsline.ingest.extract.textutil import WS_RE, clean, esc, fold
from newsline.ingest.sanitize import best_image_url

__all__ = ["anchor_figures", "figure_html", "lead_image", "same_caption"]

_SIZE_TOKEN_RE = re.compile(
    r"([-_.]?\d{2,4}x\d{2,4}|[-_](?:large|medium|small|thumb|master)|@\dx)", re.IGNORECASE
)
_CAPTION_CLASS_RE = re.compile(r"caption|credit|legend|cutline", re.IGNORECASE)
_ANCHOR_MIN = 20
_ANCHOR_LEN = 60


def _image_keys(url: str) -> tuple[str, str]:
    """Exact-ish and loose keys for matching two URLs of the same picture."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable: only the very same string matches it
        return url, url
    path = parts.path.lower()
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{parts.hostname}{path}", _SIZE_TOKEN_RE.sub("", stem)


def _image_matches(a: str, b: str) -> bool:
    ea, la = _image_keys(a)
    eb, lb = _image_keys(b)
    return ea == eb or (bool(la) and la == lb and len(la) >= 6)


def _anchor_key(text: str) -> str | None:
    key = WS_RE.sub(" ", text).strip()[:_ANCHOR_LEN].casefold()
    return key if len(key) >= _ANCHOR_MIN else None


def _figure_from(el: lxml_html.HtmlElement, base_url: str) -> Block | None:
    """A figure block for a page ``<figure>`` (first usable image + its caption) or a
    loose ``<img>``."""
    imgs = [el] if el.tag == "img" else list(el.iter("img"))
    for img in imgs:
        src = best_image_url(img.attrib, base_url)
        if src is None:
            continue
        caption = None
        if el.tag == "figure":
            caption_el = el.find(".//figcaption")
            if caption_el is None:
                for sub in el.iter():
                    if isinstance(sub.tag, str) and _CAPTION_CLASS_RE.search(
                        sub.get("class") or ""
                    ):
                        caption_el = sub
                        break
            if caption_el is not None:
                caption = clean(caption_el.text_content())
        return Block(
            "figure", "", caption or "", src=src, alt=clean(img.get("alt")), caption=caption
        )
    return None


_LOOSE_IMG = (
    "//img[not(ancestor::figure or ancestor::a or ancestor::noscript or ancestor::header"
    " or ancestor::footer or ancestor::nav or ancestor::aside)]"
)
_FIGURES_XPATH = etree.XPath(f"//figure | {_LOOSE_IMG}")
# Anchors are paragraphs and headings (not list items: menus have hundreds of them).
_ANCHORS_XPATH = etree.XPath(f"//p | //h2 | //h3 | //h4 | //blockquote | //figure | {_LOOSE_IMG}")


def _loose_image_ok(img: lxml_html.HtmlElement) -> bool:
    """Loose images worth keeping (the XPath already excluded linked thumbnails,
    noscript copies and page furniture): not icons."""
    for attr in ("width", "height"):
        value = img.get(attr, "")
        if value.isdigit() and int(value) < 150:
            return False
    return True


def _shares_container(a: etree._Element, b: etree._Element) -> bool:
    ancestors = {id(x) for x in a.iterancestors()}
    for ancestor in b.iterancestors():
        if id(ancestor) in ancestors:
            return ancestor.tag not in ("body", "html")
    return False


def anchor_figures(
    tree: lxml_html.HtmlElement, blocks: list[Block], base_url: str
) -> tuple[list[Block], list[Block]]:
    """Insert the page's figures between the extracted blocks they sit between in the
    page. Figures outside the extracted run of text (rails, teasers) are left out; only
    the one closest before the first paragraph may lead (the hero). Returns the new
    block list and every figure seen (for the lead image's caption)."""
    keys: dict[str, int] = {}
    for i, block in enumerate(blocks):
        key = _anchor_key(block.text)
        if key is not None:
            keys.setdefault(key, i)
    inserts: dict[int, list[Block]] = {}
    seen: list[Block] = []
    seen_src: set[str] = set()
    pending: list[tuple[etree._Element, Block]] = []
    anchored = False
    if not _FIGURES_XPATH(tree):
        return blocks, seen
    for el in _ANCHORS_XPATH(tree):
        if el.tag in ("figure", "img"):
            if el.tag == "img" and not _loose_image_ok(el):
                continue
            figure = _figure_from(el, base_url)
            if figure is not None and figure.src not in seen_src:
                seen_src.add(figure.src or "")
                seen.append(figure)
                pending.append((el, figure))
            continue
        if not keys or (anchored and not pending):
            continue  # nothing waits for a position: skip the text scan
        key = _anchor_key("".join(islice(el.itertext(), 8)))
        if key is None or key not in keys:
            continue
        index = keys.pop(key)
        if pending:
            if not anchored:
                el_fig, first = pending[-1]
                pending = [(el_fig, first)] if _shares_container(el_fig, el) else []
            inserts.setdefault(index, []).extend(fig for _, fig in pending)
            pending = []
        anchored = True
    if not inserts:
        return blocks, seen
    result: list[Block] = []
    for i, block in enumerate(blocks):
        result.extend(inserts.get(i, ()))
        result.append(block)
    return result, seen


def same_caption(a: str | None, b: str | None) -> bool:
    """Two renderings of one caption (alt vs figcaption, a credit appended, small edits)."""
    fa, fb = fold(a), fold(b)
    if not fa or not fb:
        return False
    if fa == fb:
        return True
    shorter, longer = sorted((fa, fb), key=len)
    if len(shorter) < 0.6 * len(longer):
        return False
    return longer.startswith(shorter) or fuzz.ratio(fa, fb) >= 90


def figure_html(block: Block) -> str:
    """A figure block as ``<figure><img><figcaption>``."""
    alt = block.alt or ""
    if block.caption and (same_caption(alt, block.caption) or fold(alt) in fold(block.caption)):
        alt = ""  # the caption says it: screen readers and text crawlers read it once
    img = f'<img src="{htmllib.escape(block.src or "")}" alt="{htmllib.escape(alt)}">'
    caption = f"<figcaption>{esc(block.caption)}</figcaption>" if block.caption else ""
    return f"<figure>{img}{caption}</figure>"


def lead_image(
    blocks: list[Block],
    figures: list[Block],
    image_url: str | None,
    image_caption: str | None,
) -> tuple[list[Block], str | None, str | None]:
    """The body without its hero, and the lead image and caption.

    ``image_url``/``image_caption`` are what the metadata declares; without a declared
    image the body's first figure leads. The hero is shown from ``image_url``, so a
    matching figure among the leading blocks (only headings above it) is taken out of the
    body, lending its caption; else a caption is looked for among all the page's figures.
    """
    blocks = list(blocks)
    leading = 0
    while leading < len(blocks) and blocks[leading].kind.startswith(("h", "figure")):
        leading += 1
    if image_url is None:
        image_url = next((b.src for b in blocks if b.kind == "figure"), None)
    if image_url is not None:
        for i, block in enumerate(blocks[:leading]):
            if block.kind == "figure" and block.src and _image_matches(block.src, image_url):
                image_caption = block.caption or image_caption
                del blocks[i]
                break
        else:
            for figure in figures:
                if figure.caption and figure.src and _image_matches(figure.src, image_url):
                    image_caption = image_caption or figure.caption
                    break
    return blocks, image_url, image_caption

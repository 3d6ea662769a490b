"""trafilatura's body (its XML: ``p``, ``head``, ``list``, ``quote``, ``hi``, ``ref``…)
rendered to :class:`.blocks.Block`\\s, and blocks to the body's HTML and plain text."""

from __future__ import annotations

import html as htmllib
import re
import unicodedata

from lxml import etree

from newsline.ingest.extract.blocks import LIST_ITEM_SEP, Block
from newsline.ingest.extract.figures import figure_html
from newsline.ingest.extract.textutil import WS_RE, clean, esc
from newsline.ingest.sanitize import absolute_http_url, best_image_url

__all__ = ["body_html", "body_text", "to_blocks"]

# Block elements trafilatura leaves nested inside a paragraph or list item.
_NESTED_BLOCKS = frozenset({"p", "head", "list", "item", "quote", "div", "code", "table", "row"})
_HI_TAGS = {"#b": "strong", "#i": "em", "#u": "", "#t": "", "#sub": "", "#sup": ""}


def _inline(el: etree._Element, figures: list[Block], base_url: str) -> str:
    """HTML for ``el``'s content (not the element itself); graphics go to ``figures``."""
    out = [esc(el.text)]
    for child in el:
        tag = child.tag
        if tag == "hi":
            inner = _inline(child, figures, base_url)
            html_tag = _HI_TAGS.get(child.get("rend", ""), "")
            out.append(f"<{html_tag}>{inner}</{html_tag}>" if html_tag and inner.strip() else inner)
        elif tag == "ref":
            inner = _inline(child, figures, base_url)
            href = absolute_http_url(child.get("target"), base_url)
            if href and inner.strip():
                out.append(f'<a href="{htmllib.escape(href)}">{inner}</a>')
            else:
                out.append(inner)
        elif tag == "lb":
            out.append("<br>")
        elif tag == "graphic":
            figure = _figure_block(child, base_url)
            if figure is not None:
                figures.append(figure)
        elif tag == "del":
            pass
        elif tag in _NESTED_BLOCKS:
            inner = _inline(child, figures, base_url).strip()
            if inner:
                out.append(f"<br>{inner}" if "".join(out).strip() else inner)
        elif isinstance(tag, str):
            out.append(_inline(child, figures, base_url))
        out.append(esc(child.tail))
    return "".join(out)


def _text_of(el: etree._Element) -> str:
    parts: list[str] = []
    for node in el.iter():
        if node is not el and node.tag in _NESTED_BLOCKS:
            parts.append("\n")
        if node.tag == "lb":
            parts.append("\n")
        elif node.tag == "graphic" or node.tag == "del":
            pass
        elif node.text:
            parts.append(node.text)
        if node is not el and node.tail:
            parts.append(node.tail)
    lines = (WS_RE.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _figure_block(el: etree._Element, base_url: str) -> Block | None:
    src = best_image_url(el.attrib, base_url)
    if not src:
        return None
    alt = clean(el.get("alt")) or clean(el.get("title"))
    return Block("figure", "", "", src=src, alt=alt)


def to_blocks(body: etree._Element, base_url: str) -> list[Block]:
    """The blocks of trafilatura's ``body`` element, links and images made absolute."""
    blocks: list[Block] = []

    def add(el: etree._Element) -> None:
        tag = el.tag
        figures: list[Block] = []
        if tag in ("p", "head", "code", "quote") and not any(c.tag == "p" for c in el):
            inner = _inline(el, figures, base_url).strip()
            text = _text_of(el)
            if tag == "head":
                rend = el.get("rend") or "h2"
                level = rend if re.fullmatch(r"h[2-6]", rend) else "h2"
                kind = level
            elif tag == "quote":
                kind = "blockquote"
                inner = f"<p>{inner}</p>"
            else:
                kind = "p"
            if text:
                link_only = _is_link_only(el, text)
                blocks.append(Block(kind, f"<{kind}>{inner}</{kind}>", text, link_only=link_only))
        elif tag == "quote":
            inner_blocks = to_blocks(el, base_url)
            html = "".join(b.html for b in inner_blocks if b.kind != "figure")
            text = "\n\n".join(b.text for b in inner_blocks if b.text)
            if text:
                blocks.append(Block("blockquote", f"<blockquote>{html}</blockquote>", text))
        elif tag == "list":
            kind = "ol" if (el.get("rend") or "").startswith("ol") else "ul"
            items_html: list[str] = []
            items_text: list[str] = []
            links = 0
            for item in el.iter("item"):
                if item.getparent() is not el:
                    continue
                inner = _inline(item, figures, base_url).strip()
                text = _text_of(item)
                if text:
                    items_html.append(f"<li>{inner}</li>")
                    items_text.append(text)
                    links += _is_link_only(item, text)
            if items_text:
                blocks.append(
                    Block(
                        kind,
                        f"<{kind}>{''.join(items_html)}</{kind}>",
                        LIST_ITEM_SEP.join(items_text),
                        link_only=links == len(items_text),
                    )
                )
        elif tag == "graphic":
            figure = _figure_block(el, base_url)
            if figure is not None:
                figures.append(figure)
        elif tag == "table":
            for row in el.iter("row"):
                cells = [_text_of(cell) for cell in row.iter("cell")]
                cells = [c for c in cells if c]
                if cells:
                    text = " | ".join(cells)
                    blocks.append(Block("p", f"<p>{esc(text)}</p>", text))
        elif tag == "lb":
            return
        elif isinstance(tag, str):
            if len(el):
                for child in el:
                    add(child)
            else:
                text = _text_of(el)
                if text:
                    blocks.append(Block("p", f"<p>{esc(text)}</p>", text))
        blocks.extend(figures)

    def add_loose(text: str | None) -> None:
        cleaned = clean(text)
        if cleaned:
            blocks.append(Block("p", f"<p>{esc(cleaned)}</p>", cleaned))

    add_loose(body.text)
    for child in body:
        add(child)
        add_loose(child.tail)
    return blocks


def _is_link_only(el: etree._Element, text: str) -> bool:
    link_text = "".join("".join(ref.itertext()) for ref in el.iter("ref"))
    return bool(link_text) and len(WS_RE.sub("", link_text)) >= 0.8 * len(WS_RE.sub("", text))


def body_html(blocks: list[Block]) -> str:
    """The blocks as one HTML string (not yet sanitized)."""
    return "".join(figure_html(b) if b.kind == "figure" else b.html for b in blocks)


def body_text(blocks: list[Block], *, captions: bool) -> str:
    """The blocks as plain text, separated by a blank line (figure captions if asked)."""
    text_parts = [
        (b.caption or "") if b.kind == "figure" else b.text
        for b in blocks
        if b.kind != "figure" or captions
    ]
    return unicodedata.normalize("NFC", "\n\n".join(t for t in text_parts if t))

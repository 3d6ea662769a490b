"""From the input to an lxml tree: size cap, refusal of what is plainly not HTML, decoding
(:mod:`newsline.ingest.decode`), removal of the control characters lxml chokes on, and
parsing."""

from __future__ import annotations

import json
import re
import threading

from lxml import etree
from lxml import html as lxml_html

from newsline.ingest.decode import decode_html, parseable_text
from newsline.ingest.extract.model import ExtractError

__all__ = ["MAX_PAGE_CHARS", "load"]

MAX_PAGE_CHARS = 20_000_000
"""Larger inputs are refused (trafilatura's own default limit); the fetcher caps bodies."""

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"RIFF", "a RIFF media file (WebP/WAV/AVI)"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\xd0\xcf\x11\xe0", "an MS Office document"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 file"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
    (b"\x00asm", "a WebAssembly module"),
)


def load(html: str | bytes, content_type: str = "") -> tuple[lxml_html.HtmlElement, str | None]:
    """The parsed page and the charset its bytes were decoded with (None for str input).

    ``content_type`` is the HTTP header the bytes came with: its charset, when the bytes
    decode with it, beats the page's own declaration (:func:`newsline.ingest.decode.decode_html`).

    Raises :class:`ExtractError` for input that is too large, plainly not HTML (PDF,
    image, JSON, a feed, binary or empty data) or unparseable.
    """
    charset: str | None = None
    if isinstance(html, str | bytes | bytearray | memoryview) and len(html) > MAX_PAGE_CHARS:
        raise ExtractError(f"page too large to extract ({len(html)} > {MAX_PAGE_CHARS})")
    if isinstance(html, bytes | bytearray | memoryview):
        data = bytes(html)
        _refuse_non_html(data, None)
        text, charset = decode_html(data, content_type)
    elif isinstance(html, str):
        text = html
    else:
        raise TypeError(f"extract() needs str or bytes, not {type(html).__name__}")
    _refuse_non_html(None, text)
    # After the refusals (a NUL still says "binary"): a stray control character would make
    # lxml drop the rest of its element, and the extraction come out empty.
    return _parse(parseable_text(text)), charset


def _refuse_non_html(data: bytes | None, text: str | None) -> None:
    """Raise ExtractError when the input is plainly not an HTML page."""
    if data is not None:
        head = data[:16].lstrip()
        for magic, what in _MAGIC:
            if head.startswith(magic):
                raise ExtractError(f"input is {what}, not an HTML page")
    if text is None:
        return
    start = text[:4096].lstrip("\ufeff \t\r\n")
    if not start:
        raise ExtractError("input is empty, not an HTML page")
    if "\x00" in start:
        raise ExtractError("input is binary data, not an HTML page")
    if start[0] in "{[":
        try:
            json.loads(text)
        except ValueError:
            if "<" not in start[:200]:
                raise ExtractError("input looks like JSON, not an HTML page") from None
        else:
            raise ExtractError("input is JSON, not an HTML page")
    lowered = start[:1024].lower()
    if re.match(r"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(rss|feed|rdf:rdf)\b", lowered, re.S):
        raise ExtractError("input is an RSS/Atom feed, not an HTML page")
    if not re.search(
        r"<(html|head|body|p|div|article|main|section|h[1-6]|title|meta|!doctype)\b",
        text[:200_000],
        re.IGNORECASE,
    ):
        raise ExtractError("input has no HTML markup")


_PARSERS = threading.local()  # one parser per thread: the pipeline extracts in a pool


def _parser() -> lxml_html.HTMLParser:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = lxml_html.HTMLParser(
            collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True
        )
        _PARSERS.parser = parser
    return parser


_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _parse(text: str) -> lxml_html.HtmlElement:
    try:
        tree = lxml_html.document_fromstring(_XML_DECL_RE.sub("", text, count=1), parser=_parser())
    except (etree.ParserError, ValueError) as exc:
        raise ExtractError(f"unparseable HTML: {exc}") from exc
    if tree is None:
        raise ExtractError("unparseable HTML: empty document")
    return tree

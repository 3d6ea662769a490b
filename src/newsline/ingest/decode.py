"""Bytes to text, in one place: every page and feed that ingest fetches is decoded here.

The order (the browsers' rules, with Miniflux's preference for valid UTF-8):

1. a byte-order mark (for XML also the UTF-16/32 byte patterns of ``<?xml``);
2. UTF-8, when the bytes are valid UTF-8 and not plain ASCII (as Miniflux does: legacy
   text is almost never valid UTF-8 by chance; UTF-8 labelled Latin-1 is common);
3. the charset of the HTTP ``Content-Type``, when the bytes decode with it (a header that
   lies is ignored);
4. the charset the document declares: the XML declaration, and for HTML also
   ``<meta charset>`` / ``http-equiv``;
5. UTF-8 again, tolerating damage;
6. detection (charset_normalizer, windows-1252 winning a tie), then windows-1252.

Steps 4 and 5 tolerate a few undecodable bytes in a long document (damage, kept as U+FFFD),
not many (the wrong codec). Charset labels are read the WHATWG way: ``iso-8859-1`` means
windows-1252, ``gb2312`` means gb18030, ``utf-16`` without a byte-order mark is a lie.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import NamedTuple

from charset_normalizer import from_bytes

__all__ = ["Decoded", "charset_param", "decode_html", "decode_xml", "parseable_text"]


class Decoded(NamedTuple):
    """A decoded document and the codec that decoded it (a Python codec name)."""

    text: str
    encoding: str


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# ``<?xml`` in UTF-16/32 without a byte-order mark (XML 1.0, appendix F).
_XML_PATTERNS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE
)
_XML_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]{0,200}encoding\s*=\s*["']([a-z0-9_.:-]+)""", re.I)
# WHATWG: these labels mean a superset encoding in practice; utf-16 in a <meta> is a lie.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "x-sjis": "shift_jis",
    "sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
    "unicode": "utf-8",
    "utf8": "utf-8",
}
_SNIFF_LIMIT = 16384
# A few replacement characters in a long page are damage; many mean the wrong codec.
_MAX_BAD_RATIO = 0.0005


def _charset_label(label: bytes | str) -> str | None:
    name = label.decode("ascii", "ignore") if isinstance(label, bytes) else label
    name = name.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _html_declared(head: bytes) -> str | None:
    match = _XML_ENCODING_RE.search(head) or _META_CHARSET_RE.search(head)
    return _charset_label(match.group(1)) if match else None


def _xml_declared(head: bytes) -> str | None:
    match = _XML_ENCODING_RE.search(head)
    return _charset_label(match.group(1)) if match else None


def charset_param(content_type: str) -> str | None:
    """The codec named by the ``charset`` parameter of a ``Content-Type`` value, if any."""
    _mime, _, params = content_type.partition(";")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return _charset_label(value)
    return None


def _decode_tolerant(data: bytes, encoding: str) -> str | None:
    """``data`` decoded if that needs no (or very few) replacement characters."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    text = data.decode(encoding, errors="replace")
    bad = text.count("\ufffd") - data.decode("latin-1").count("\ufffd")
    return text if bad <= max(1, int(len(text) * _MAX_BAD_RATIO)) else None


def decode_html(data: bytes, content_type: str = "") -> Decoded:
    """Decode an HTML page: BOM, HTTP charset, ``<meta charset>`` / ``http-equiv`` / XML
    declaration, UTF-8, detection. ``content_type`` is the HTTP header, if there was one."""
    return _decode(data, content_type, _html_declared, ())


def decode_xml(data: bytes, content_type: str = "") -> Decoded:
    """Decode a feed (XML, or JSON, which declares nothing): BOM, HTTP charset, the XML
    declaration, UTF-8, detection. ``content_type`` is the HTTP header, if there was one."""
    return _decode(data, content_type, _xml_declared, _XML_PATTERNS)


def _decode(
    data: bytes,
    content_type: str,
    declared_in: Callable[[bytes], str | None],
    patterns: tuple[tuple[bytes, str], ...],
) -> Decoded:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return Decoded(data.decode(encoding, errors="replace"), encoding)
    for pattern, encoding in patterns:
        if data.startswith(pattern):
            return Decoded(data.decode(encoding, errors="replace"), encoding)
    if not data.isascii():
        # Valid UTF-8 beats any declaration: legacy text is almost never valid UTF-8 by
        # chance, while UTF-8 served or declared as Latin-1 is a common mistake.
        try:
            return Decoded(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            pass
    header = charset_param(content_type)
    if header:
        try:
            return Decoded(data.decode(header), header)
        except UnicodeDecodeError:
            pass  # the header lies: what the document says and sniffing decide
    declared = declared_in(data[:_SNIFF_LIMIT])
    if declared:
        text = _decode_tolerant(data, declared)
        if text is not None:
            return Decoded(text, declared)
    text = _decode_tolerant(data, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8")
    detected = _detect(data)
    if detected:
        encoding = _charset_label(detected) or detected
        return Decoded(data.decode(encoding, errors="replace"), encoding)
    fallback = declared or "cp1252"
    return Decoded(data.decode(fallback, errors="replace"), fallback)


# What libxml2 (lxml, so trafilatura) refuses in a document: one such character makes it
# drop the rest of the element (``<p>a\x0cb</p>`` left no text at all).
_UNPARSEABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _unparseable(match: re.Match[str]) -> str:
    return " " if match.group() == "\x0c" else ""  # a form feed is white space in HTML


def parseable_text(text: str) -> str:
    """``text`` without the characters an XML/HTML parser chokes on: C0 controls other than
    tab, line feed and carriage return (a form feed becomes a space, as HTML reads it),
    lone surrogates and the non-characters U+FFFE and U+FFFF."""
    if _UNPARSEABLE.search(text) is None:
        return text
    return _UNPARSEABLE.sub(_unparseable, text)


def _detect(data: bytes) -> str | None:
    """charset_normalizer's guess. Several single-byte codecs often read a Western text
    equally cleanly (it then ranks e.g. Baltic cp1257 first for Portuguese): windows-1252,
    the web's legacy default, wins such a tie."""
    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        if match.encoding == "cp1252" and match.chaos <= best.chaos:
            return "cp1252"
    return best.encoding or None

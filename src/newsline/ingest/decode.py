"""Bytes to text, in one place: every page and feed that ingest fetches is decoded here.

An HTML page without HTTP headers is decoded by its byte-order mark, then the charset the
page declares (``<meta charset>``, ``http-equiv``, an XML declaration), then as UTF-8, then
by detection (charset_normalizer). Charset labels are read the WHATWG way: ``iso-8859-1``
means windows-1252, ``gb2312`` means gb18030, a ``utf-16`` ``<meta>`` is a lie.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_html"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
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


def _declared_charset(head: bytes) -> str | None:
    match = _XML_ENCODING_RE.search(head) or _META_CHARSET_RE.search(head)
    return _charset_label(match.group(1)) if match else None


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


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode an HTML page without HTTP headers: BOM, then the page's declared charset
    (``<meta charset>``/``http-equiv``/XML declaration), then UTF-8, then detection
    (charset_normalizer). Returns ``(text, encoding)``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    declared = _declared_charset(data[:_SNIFF_LIMIT])
    if declared:
        text = _decode_tolerant(data, declared)
        if text is not None:
            return text, declared
    text = _decode_tolerant(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        encoding = _charset_label(best.encoding) or best.encoding
        return data.decode(encoding, errors="replace"), encoding
    fallback = declared or "cp1252"
    return data.decode(fallback, errors="replace"), fallback

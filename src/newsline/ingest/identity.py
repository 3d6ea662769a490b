"""Item identity: normalized and canonical URLs, body fingerprints, slugs."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = {
    "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_ga", "_gl", "ref_src", "cmpid", "ocid", "smid", "sr_share", "mbid", "at_medium",
    "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
}  # fmt: skip
AMP_PARAMS = {"amp", "outputtype", "amp_js_v", "usqp"}


def normalize_url(url: str) -> str:
    """The URL as we key items by: no fragment, no tracking parameters, no AMP variant.

    Lower-cases scheme and host, drops default ports, ``utm_*`` and click ids, and maps
    AMP URLs (``/amp/``, ``.amp.html``, ``?amp=1``, ``amp.`` hosts) to their article URL.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host.startswith("amp."):
        host = host[4:]
    port = parts.port
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else f"{host}:{port}"
    )
    path = parts.path or "/"
    path = re.sub(r"/amp/?$", "/", path)
    path = re.sub(r"^/amp/", "/", path)
    path = re.sub(r"\.amp(\.html?)$", r"\1", path)
    path = re.sub(r"/amp(\.html?)$", r"\1", path)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_")
        and k.lower() not in TRACKING_PARAMS
        and not (k.lower() in AMP_PARAMS and v.lower() in ("", "1", "true", "amp"))
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def site_of(url: str) -> str:
    """The registrable-ish site of a URL (last two labels; three for co.uk-style hosts)."""
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def canonical_url(final_url: str, declared: str | None) -> str:
    """rel=canonical / og:url when it is on the same site as the page, else the final URL."""
    if declared:
        parts = urlsplit(declared)
        if parts.scheme in ("http", "https") and site_of(declared) == site_of(final_url):
            return normalize_url(declared)
    return normalize_url(final_url)


def body_fingerprint(text: str) -> str | None:
    """A hash of the body's words, for exact-duplicate detection; None when too short to tell.

    Only paragraph-like lines (eight words or more) count, so copies that differ in their
    headline, captions or credits still match.
    """
    lines = (line for line in text.splitlines() if len(line.split()) >= 8)
    words = re.findall(r"\w+", " ".join(lines).lower())
    if len(words) < 40:
        return None
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


# Latin letters that Unicode does not decompose into an ASCII base letter.
_FOLD = str.maketrans({"ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
                       "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "ð": "d"})  # fmt: skip


def slugify(title: str, max_len: int = 80) -> str:
    """A URL slug from a title: ASCII, lower-case, hyphenated; empty when nothing is left."""
    text = unicodedata.normalize("NFKD", title.translate(_FOLD)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text.lower()).strip("-")
    if len(text) > max_len:
        text = text[:max_len].rsplit("-", 1)[0] or text[:max_len]
    return text

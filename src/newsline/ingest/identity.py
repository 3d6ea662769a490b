"""Item identity: normalized and canonical URLs, body fingerprints, slugs.

URLs here come from publishers. The functions that parse them raise only
:class:`InvalidURLError` (unbalanced brackets, a port out of range, a host that NFKC
normalization breaks, ...), never a bare ``ValueError``: callers record it on the feed or
item it came from and go on.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from newsline.errors import NewslineError
from newsline.text import printable

#: Characters of a URL shown in an error message; longer URLs are cut.
_SHOWN_URL_CHARS = 200


class InvalidURLError(NewslineError, ValueError):
    """A URL that cannot be parsed; ``str()`` names it (cut, control characters removed)."""


def shown_url(url: str) -> str:
    """``url`` fit for a one-line message: control characters and line breaks removed, cut."""
    text = " ".join(printable(url).split())
    return text if len(text) <= _SHOWN_URL_CHARS else text[: _SHOWN_URL_CHARS - 3] + "..."


def split_url(url: str) -> SplitResult:
    """``urlsplit(url)`` with its port checked; raises :class:`InvalidURLError`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises for a port that is not a number or out of range
    except ValueError as exc:
        raise InvalidURLError(f"invalid URL ({shown_url(str(exc))}): {shown_url(url)}") from exc
    return parts


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
    Raises :class:`InvalidURLError` for a URL that cannot be parsed or has no host.
    """
    parts = split_url(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidURLError(f"no host in URL: {shown_url(url)}")
    if host.startswith("amp."):
        host = host[4:]
    if "[" in parts.netloc.rpartition("@")[2]:
        host = f"[{host}]"  # an IP literal keeps its brackets
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
    """The registrable-ish site of a URL (last two labels; three for co.uk-style hosts).

    Raises :class:`InvalidURLError` for a URL that cannot be parsed.
    """
    host = (split_url(url).hostname or "").lower().removeprefix("www.")
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def canonical_url(final_url: str, declared: str | None) -> str:
    """rel=canonical / og:url when it is on the same site as the page, else the final URL.

    A declared URL that cannot be parsed is ignored (:func:`split_url` tells why); raises
    :class:`InvalidURLError` only when `final_url` cannot be parsed.
    """
    if declared:
        try:
            same_site = split_url(declared).scheme in ("http", "https") and site_of(
                declared
            ) == site_of(final_url)
            if same_site:
                return normalize_url(declared)
        except InvalidURLError:
            pass
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

"""Hostile URLs from publishers through every ingest function that parses them (issue 16).

Brackets that never close, ports out of range, Unicode that NFKC turns into ``/`` or ``@``,
control characters, script and data schemes: whatever a feed or a page declares, the only
exceptions that may escape are our documented ones (``InvalidURLError``, ``FeedError``,
``ExtractError``), and whatever is accepted parses again.
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsline.ingest.extract import ExtractError, extract
from newsline.ingest.feeds import FeedError, parse_feed
from newsline.ingest.identity import (
    InvalidURLError,
    canonical_url,
    normalize_url,
    site_of,
)
from newsline.ingest.store import entry_url, stored_web_url
from newsline.sanitize import web_url

SCHEMES = ["http", "https", "HTTPS", "javascript", "JaVaScRiPt", "data", "vbscript", "file",
           "ftp", "mailto", "java\tscript", " http", "\x01https", ""]  # fmt: skip
SEPARATORS = ["://", ":", ":///", "//", ":\\\\", ""]
HOSTS = [
    "news.example", "[::1", "[::1]", "::1]", "[::1]]", "[fe80::1%25eth0]", "[v1.x]", "[x]",
    "127。0。0。1", "ａ.example", "a\u2100b.example", "a\uff03b.example", "a\ufe6bb.example",
    "user:pw@news.example", "@", "news.example.", "xn--", "xn--zz.example", "\u0130.example",
    "a b.example", "a\x00b.example", "a\nb.example", "exa%5Bmple", "%zz", "",
]  # fmt: skip
PORTS = ["", ":", ":80", ":0", ":65535", ":65536", ":99999", ":-1", ":abc", ":8O", ":1_0",
         ":\u0661\u0662", ":" + "9" * 40]  # fmt: skip
TAILS = ["", "/", "/a?b=c#d", "/[", "/]", "?utm_source=x&amp=1", "/%", "/\x00\x0c\u2028",
         "/amp/", "#\ud800", "/a b", "?" + "x" * 3000]  # fmt: skip

hostile_urls = st.one_of(
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(SCHEMES),
            st.sampled_from(SEPARATORS),
            st.one_of(st.sampled_from(HOSTS), st.text(max_size=12)),
            st.one_of(st.sampled_from(PORTS), st.text(alphabet=":0123456789[]", max_size=8)),
            st.one_of(st.sampled_from(TAILS), st.text(max_size=12)),
        ),
    ),
    st.text(max_size=40),
    st.text(alphabet="htps:/[]%@.:9a-\x00\x0c\uff0e\u3002", max_size=30),
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PAGE_URL = "https://news.example/2025/07/story"


def parses(url: str) -> bool:
    """Whether the standard library parses `url`, port included."""
    try:
        urlsplit(url).port  # noqa: B018 -- raises for a port out of range
    except ValueError:
        return False
    return True


@FUZZ
@given(hostile_urls)
def test_normalize_url_raises_only_invalid_url_and_its_result_parses(url: str) -> None:
    try:
        normalized = normalize_url(url)
    except InvalidURLError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert parses(normalized)
    assert normalize_url(normalized) == normalized  # a key is stable


@FUZZ
@given(hostile_urls)
def test_site_of_raises_only_invalid_url(url: str) -> None:
    with contextlib.suppress(InvalidURLError):
        site_of(url)


@FUZZ
@given(hostile_urls)
def test_a_declared_canonical_never_breaks_the_page_url(declared: str) -> None:
    canonical = canonical_url(PAGE_URL, declared)
    assert canonical.startswith(("http://", "https://")) and parses(canonical)


@FUZZ
@given(hostile_urls)
def test_canonical_of_a_hostile_final_url_raises_only_invalid_url(final: str) -> None:
    with contextlib.suppress(InvalidURLError):
        canonical_url(final, None)


@FUZZ
@given(hostile_urls)
def test_store_keeps_only_web_urls_that_parse(link: str) -> None:
    try:
        checked, url = entry_url(link)
    except InvalidURLError:
        assert stored_web_url(link) is None
        return
    assert web_url(checked) == checked and parses(checked)
    assert url.startswith(("http://", "https://")) and parses(url) and len(url) <= 2000
    assert stored_web_url(link) == checked


@FUZZ
@given(hostile_urls)
def test_web_url_accepts_only_urls_that_parse(value: str) -> None:
    accepted = web_url(value, "https://news.example/feed")
    assert accepted is None or (
        accepted.lower().startswith(("http://", "https://")) and parses(accepted)
    )


def json_feed(url: str) -> bytes:
    item = {"id": "1", "url": url, "external_url": url, "image": url, "content_text": "x"}
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [item],
           "home_page_url": url, "icon": url, "feed_url": url}  # fmt: skip
    return json.dumps(doc).encode()


def xml_escape(text: str) -> str:
    # XML cannot carry C0 controls at all; what the feed declares is the rest.
    kept = "".join(c for c in text if c >= " " or c in "\t\n\r")
    return kept.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def rss_feed(url: str) -> bytes:
    link = xml_escape(url)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{link}</link><item><title>i</title><link>{link}</link>"
        f'<guid isPermaLink="true">{link}</guid><enclosure url="{link}" type="image/png"/>'
        f"</item></channel></rss>"
    ).encode("utf-8", "replace")


def atom_feed(url: str) -> bytes:
    link = xml_escape(url)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        f'xml:base="{link}"><title>t</title><id>urn:f</id><link href="{link}"/>'
        f'<entry><title>e</title><id>urn:e</id><link rel="alternate" href="{link}"/></entry></feed>'
    ).encode("utf-8", "replace")


@FUZZ
@given(hostile_urls, st.sampled_from([json_feed, rss_feed, atom_feed]))
def test_feed_links_are_stored_or_refused_with_a_reason(url: str, build: object) -> None:
    """The parser raises only FeedError; the store takes each link or says why not."""
    assert callable(build)
    try:
        parsed = parse_feed(build(url), "https://news.example/feed")
    except FeedError:
        return
    for link in [e.link for e in parsed.entries] + [parsed.link or "", parsed.image_url or ""]:
        try:
            entry_url(link)
        except InvalidURLError as exc:
            assert "\n" not in str(exc)


def page(url: str) -> bytes:
    attr = xml_escape(url)
    body = "".join(
        f"<p>Paragraph {n} of a story long enough to be extracted as the article body.</p>"
        for n in range(8)
    )
    return (
        f'<!DOCTYPE html><html><head><link rel="canonical" href="{attr}">'
        f'<meta property="og:url" content="{attr}"><meta property="og:image" content="{attr}">'
        f'<title>Story</title></head><body><article><h1>Story</h1><img src="{attr}">'
        f'<figure><img src="{attr}"><figcaption>c</figcaption></figure>{body}'
        f'<a href="{attr}">link</a></article></body></html>'
    ).encode("utf-8", "replace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_urls)
def test_extraction_of_a_page_declaring_hostile_urls_raises_only_extract_error(url: str) -> None:
    try:
        extracted = extract(page(url), PAGE_URL)
    except ExtractError:
        return
    if extracted.canonical_url is not None:
        assert canonical_url(PAGE_URL, extracted.canonical_url)

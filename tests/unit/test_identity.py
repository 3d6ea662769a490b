"""Canonical URLs, fingerprints, slugs and teasers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsline.ingest.identity import (
    body_fingerprint,
    canonical_url,
    normalize_url,
    site_of,
    slugify,
)
from newsline.text import truncate_words


def test_tracking_parameters_fragments_and_default_ports_are_dropped() -> None:
    url = "HTTPS://News.Example.com:443/a/b?utm_source=x&id=7&fbclid=abc&gclid=1#top"
    assert normalize_url(url) == "https://news.example.com/a/b?id=7"


def test_amp_variants_map_to_the_article() -> None:
    article = "https://news.example.com/2025/07/story.html"
    for amp in (
        "https://news.example.com/2025/07/story.amp.html",
        "https://amp.news.example.com/2025/07/story.html",
        "https://news.example.com/2025/07/story.html?amp=1",
        "https://news.example.com/2025/07/story.html?outputType=amp",
    ):
        assert normalize_url(amp) == article, amp
    assert normalize_url("https://x.example/world/story/amp/") == "https://x.example/world/story/"
    assert normalize_url("https://x.example/amp/world/story") == "https://x.example/world/story"


@given(
    st.from_regex(
        r"https?://[a-z]{1,8}\.example(/[a-z0-9]{0,6}){0,3}(\?[a-z]=[0-9]&utm_x=1)?", fullmatch=True
    )
)
def test_normalize_is_idempotent(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once
    assert "utm_" not in once


def test_canonical_is_trusted_only_on_the_same_site() -> None:
    final = "https://www.paper.co.uk/news/1?utm_medium=rss"
    assert canonical_url(final, "https://paper.co.uk/news/one") == "https://paper.co.uk/news/one"
    assert canonical_url(final, "https://evil.example/steal") == "https://www.paper.co.uk/news/1"
    assert canonical_url(final, None) == "https://www.paper.co.uk/news/1"
    assert site_of("https://news.bbc.co.uk/x") == "bbc.co.uk"


def test_fingerprint_ignores_markup_noise_but_not_words() -> None:
    text = "The council voted on Tuesday to approve the budget. " * 10
    assert body_fingerprint(text) == body_fingerprint(text.upper().replace(".", " ."))
    assert body_fingerprint(text) != body_fingerprint(text + " extra")
    assert body_fingerprint("too short to tell") is None


def test_slugify() -> None:
    assert (
        slugify("Russia and Ukraine agree — prisoner exchange!")
        == "russia-and-ukraine-agree-prisoner-exchange"
    )
    assert slugify("Çırağan Palace talks") == "ciragan-palace-talks"
    assert slugify("???") == ""
    assert len(slugify("word " * 100)) <= 80


@given(st.text(min_size=0, max_size=600), st.integers(min_value=10, max_value=300))
def test_truncate_words_fits_the_limit(text: str, limit: int) -> None:
    out = truncate_words(text, limit)
    assert len(out) <= limit
    if out.endswith("...") and len(" ".join(text.split())) > limit:
        assert " ".join(text.split()).startswith(out[:-3].rstrip(" ,;:-—"))

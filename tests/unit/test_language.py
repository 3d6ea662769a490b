"""The one language detector (newsline.ingest.language), used for pages and feed content."""

from __future__ import annotations

from newsline.ingest.language import detect_language

ENGLISH = (
    "Delegations from both countries met in the old palace on the shore for a third round "
    "of talks that lasted barely forty minutes, officials said on Wednesday evening."
)
GERMAN = (
    "Die Verhandlungen in Istanbul endeten schon nach vierzig Minuten, sagten die "
    "Delegationen. Beide Seiten einigten sich auf einen größeren Gefangenenaustausch."
)


def test_the_text_decides_when_it_is_long_enough() -> None:
    assert detect_language(ENGLISH) == "en"
    assert detect_language(GERMAN) == "de"
    assert detect_language(GERMAN, "en-US") == "de"  # a template's lang="en" is overruled


def test_short_text_takes_the_declared_language_or_none() -> None:
    assert detect_language("Kurz und gut", "de_DE") == "de"
    assert detect_language("Kurz und gut") is None
    assert detect_language("Kurz und gut", "not a language tag") is None
    assert detect_language("", " FR-ca ") == "fr"


def test_only_the_start_of_a_long_text_is_read() -> None:
    assert detect_language(ENGLISH * 3 + GERMAN * 40) == "en"

"""The snippet chooser on marked bodies (the search engine's markers, as the database gives
them): which sentences, where cut, what is left out."""

from __future__ import annotations

from newsline.web.safety import MARK_END, MARK_START
from newsline.web.snippets import snippet


def m(word: str) -> str:
    return f"{MARK_START}{word}{MARK_END}"


def shown(text: str) -> str:
    return text.replace(MARK_START, "[").replace(MARK_END, "]")


def test_the_sentence_with_most_matches_leads_and_the_next_ones_follow() -> None:
    body = (
        f"The ferry left at dawn. Crews checked the {m('harbour')} {m('wall')} twice. "
        f"The {m('harbour')} master was pleased. Nobody else spoke."
    )
    out = shown(snippet(body, title="Ferry"))
    assert (
        out
        == "Crews checked the [harbour] [wall] twice. The [harbour] master was pleased. Nobody else spoke."
    )


def test_no_match_in_the_body_gives_its_opening_without_the_headline() -> None:
    body = "Gull census\nVolunteers counted birds on Sunday. The count rose."
    assert snippet(body, title="Gull census") == body.split("\n")[1]
    # prose that merely starts with the title's words is kept
    assert snippet("Gulls everywhere; the count rose.", title="Gulls everywhere").startswith(
        "Gulls everywhere;"
    )


def test_bylines_and_datelines_are_left_out_but_not_prose_with_by() -> None:
    body = (
        "By Jo Park and Al Poe, Valley Wire · Nov. 3, 2026 at 2:15 p.m. EST\n"
        f"The {m('levy')} was passed by Council on Monday."
    )
    assert shown(snippet(body, author="Jo Park")) == "The [levy] was passed by Council on Monday."
    own = f"Jo Park 2026-11-03 The {m('levy')} passed."
    assert shown(snippet(own, author="Jo Park")) == "The [levy] passed."


def test_abbreviations_do_not_end_a_sentence() -> None:
    body = f"Lead author Dr. Hana Sato said the {m('study')} showed a link. Others agreed."
    assert (
        shown(snippet(body, words=12))
        == "Lead author Dr. Hana Sato said the [study] showed a link."
    )


def test_a_long_sentence_is_cut_around_its_first_match() -> None:
    words = " ".join(f"w{n}" for n in range(60))
    body = f"{words} {m('river')} {words}."
    out = shown(snippet(body, words=20))
    assert out.startswith("…") and out.endswith("…") and "[river]" in out
    assert len(out.strip("…").split(" ")) == 20


def test_a_digests_text_loses_rules_sections_bullets_and_addresses() -> None:
    body = (
        "The Digest, 7/25/2025\n=====================\n\n#politics\n\n"
        f"* Valley Wire: {m('Dam')} repairs finish\n"
        "  https://wire.example/dam-repairs\n"
        f"  Crews finished the {m('dam')} on Friday — By Jo Park July 24, 2025 09:30 UTC "
        "The road reopens.\n"
        "  also: Harbor Gazette <https://harbor.example/dam>, River Post <https://rp.example/x>\n"
    )
    out = shown(snippet(body, title="The Digest, 7/25/2025"))
    assert "http" not in out and "===" not in out and "#politics" not in out
    assert "Jo Park" not in out and "also:" not in out
    assert out.startswith("Valley Wire: [Dam] repairs finish")


def test_markers_stay_balanced_whatever_the_text_carried() -> None:
    body = f"A stray {MARK_END} end, {m('pier')} and a {MARK_START} start."
    out = snippet(body)
    assert out.count(MARK_START) == out.count(MARK_END) >= 1
    opened = False
    for ch in out:
        if ch in (MARK_START, MARK_END):
            assert opened == (ch == MARK_END)
            opened = not opened
    assert not opened
    assert snippet("") == "" and snippet("https://only.example/a\n====") == ""

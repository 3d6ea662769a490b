"""Extractive summaries, boilerplate filtering and the grounding check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsline.enrich.summarize import (
    grounding_problems,
    is_boilerplate,
    summarize,
    summarize_many,
)

# A synthetic article with page furniture mixed into its paragraphs.
ARTICLE = """Sign up for our free morning newsletter and get the news in your inbox.

The Harbor County board voted 4-1 on Monday to close the old Mill Street bridge for repairs, \
after inspectors found cracked beams under the eastern span.

Photo: John Smith/Getty Images

Drivers will be sent along Route 9 for about six months, the county engineer, Maria Ortiz, said. \
The repairs are expected to cost $3.2 million, paid from a state grant.

Recommended: Ten things to do in Harbor County this weekend

Residents who live near the bridge said they had worried about its condition for years. \
Several told the board that trucks had kept using it despite a weight limit.

Click here to read more stories like this one."""

TITLE = "County closes Mill Street bridge for repairs"


def test_summary_is_two_paragraphs_within_limit_and_free_of_boilerplate() -> None:
    summary = summarize(TITLE, ARTICLE)
    assert 0 < len(summary) <= 280
    paragraphs = summary.split("\n\n")
    assert 1 <= len(paragraphs) <= 2
    for bad in ("newsletter", "Getty", "Recommended", "Click here", "inbox"):
        assert bad not in summary
    # The page shows the lead paragraph right below the summary: never repeat it.
    assert "The Harbor County board voted" not in summary
    assert "Route 9" in summary or "$3.2 million" in summary
    assert not grounding_problems(summary, ARTICLE)


LEAD = (
    "The Harbor County board voted 4-1 on Monday to close the old Mill Street bridge, "
    "after inspectors found cracked beams under the eastern span."
)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_summary_is_never_a_copy_of_the_lead() -> None:
    later = (
        "Drivers will be sent along Route 9 for about six months, the county engineer said. "
        "The repairs to the Mill Street bridge will cost $3.2 million from a state grant."
    )
    closing = "Residents said the bridge had worried them for years before the vote."
    for text in (
        f"{LEAD}\n\n{later}\n\n{closing}",  # paragraphs: the first one is the lead
        f"{LEAD} {later} {closing}",  # one paragraph: its first sentence is the lead
    ):
        for limit in (120, 280, 1000):
            summary = summarize("Mill Street bridge to close", text, max_chars=limit)
            assert summary, (limit, text)
            assert not _flat(text).startswith(_flat(summary).rstrip("…")), summary
            assert "cracked beams" not in summary
            assert len(summary) <= limit
            assert not grounding_problems(summary, text)
    # Nothing but the lead: no summary at all rather than the same words twice.
    assert summarize("Mill Street bridge to close", LEAD) == ""


def test_summary_prefers_central_sentences_across_the_article() -> None:
    text = "\n\n".join(
        [
            LEAD,
            "The weather was mild on Monday and a local choir sang at the fair.",
            "The bridge closure will send traffic onto Route 9, and the bridge repairs "
            "will take six months, the county said of the Mill Street bridge.",
            "A bakery on the corner sold out of bread before noon.",
        ]
    )
    summary = summarize("Mill Street bridge to close", text, max_chars=160)
    assert summary.startswith("The bridge closure will send traffic onto Route 9")


def test_summary_keeps_source_order_and_respects_small_limits() -> None:
    long = summarize(TITLE, ARTICLE, max_chars=1000)
    assert len(long.split("\n\n")) == 2
    first, second = long.split("\n\n")
    assert ARTICLE.index(first) < ARTICLE.index(second)
    short = summarize(TITLE, ARTICLE, max_chars=80)
    assert 0 < len(short) <= 80


def test_boilerplate_detector() -> None:
    for line in (
        "Sign up to our daily briefing",
        "Subscribe now for unlimited access",
        "Photo by Jane Doe for The Daily",
        "Image copyright Reuters",
        "RELATED STORIES",
        "Read more: the full interview",
        "Follow us on Twitter and Facebook",
        "© 2024 Example Media. All rights reserved.",
    ):
        assert is_boilerplate(line), line
    for line in (
        "Streaming subscriptions rose by 10% last year, the company said.",
        "The state-sponsored hackers targeted three ministries, officials said.",
        "Facebook and Twitter both removed the accounts on Tuesday.",
    ):
        assert not is_boilerplate(line), line


def test_empty_and_title_only_inputs() -> None:
    assert summarize("", "") == ""
    assert summarize("Storm closes schools", "") == "Storm closes schools"


def test_grounding_flags_new_numbers_and_names() -> None:
    source = "Mayor Ann Lee said the council voted 7 to 2 to spend $1,500,000 on the library."
    assert grounding_problems("The council voted 7 to 2, Mayor Ann Lee said.", source) == []
    assert grounding_problems("It will spend $1.5 million.", source) == [
        "number '1.5' not in source"
    ]
    assert grounding_problems("The library will cost $1,500,000.", source) == []
    problems = grounding_problems("Governor Tom Banks opposed the plan.", source)
    assert "name 'Governor' not in source" in problems
    assert "name 'Tom' not in source" in problems


def test_summarize_many_overview() -> None:
    texts = [
        ARTICLE,
        "The school board approved a new calendar on Tuesday. Classes will start a week later.",
        "Firefighters put out a barn fire near Elm Road overnight. No one was hurt, they said.",
    ]
    overview = summarize_many(texts, max_chars=400, titles=[TITLE, "New calendar", "Barn fire"])
    assert 0 < len(overview) <= 400
    assert "\n" not in overview
    assert "newsletter" not in overview
    assert "Mill Street" in overview and "barn fire" in overview


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]),
        max_size=600,
    ),
    st.integers(min_value=10, max_value=600),
)
def test_summary_never_exceeds_max_chars(text: str, limit: int) -> None:
    assert len(summarize("A title", text, max_chars=limit)) <= limit

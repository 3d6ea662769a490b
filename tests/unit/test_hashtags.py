"""Hashtags: zero-shot classification, thresholds, #other, and editors' corrections."""

from __future__ import annotations

import pytest

from newsline.config import DEFAULT_HASHTAGS, HashtagSettings
from newsline.enrich.hashtags import (
    OTHER,
    ChannelClassifier,
    Example,
    Hashtag,
    classify,
    default_hashtags,
    hashtags_of,
    tokenize,
)

# Small synthetic articles, written for these tests.
SPORT = (
    "Riverside win cup final on late penalty",
    "Riverside beat Oakfield 2-1 in the cup final on Saturday. The striker scored a penalty "
    "in the last minute after the goalkeeper had kept the team level. The coach praised the "
    "players and the fans who filled the stadium for the match.",
)
ECONOMY = (
    "Bank raises interest rates as inflation climbs",
    "The central bank raised interest rates by half a point on Thursday as inflation reached "
    "its highest level in a decade. Shares fell on the stock market and investors expect "
    "mortgage costs, company profits and consumer spending to suffer.",
)
TECH = (
    "New smartphone chip promises longer battery life",
    "The company unveiled a processor for smartphones and laptops that it says doubles battery "
    "life. The chip runs artificial intelligence software on the device instead of in the "
    "cloud, and developers can download a toolkit for their apps.",
)
ELECTION_TECH = (
    "Election app for smartphones hacked in software trial",
    "Voters in the local election used an app on their smartphones, but hackers broke into the "
    "software and the internet servers crashed. The government minister said the technology "
    "company would fix the computer code and its encryption before the next vote; opposition "
    "parties in parliament called for paper ballots and a new cyber security review of devices.",
)


def test_tokenize_folds_plurals_and_case() -> None:
    assert tokenize("Banks' SHARES fell; the bank's share") == [
        "bank",
        "share",
        "fell",
        "the",
        "bank",
        "share",
    ]


def test_default_list_is_the_spec_list_in_order() -> None:
    tags = default_hashtags()
    assert [h.tag for h in tags] == [t for t, _ in DEFAULT_HASHTAGS]
    assert all(h.keywords for h in tags if h.tag != OTHER)


@pytest.mark.parametrize(
    ("article", "expected"), [(SPORT, "sports"), (ECONOMY, "economy"), (TECH, "technology")]
)
def test_primary_hashtag(article: tuple[str, str], expected: str) -> None:
    result = classify(*article)
    assert result[0][0] == expected
    assert 0 < result[0][1] <= 1
    scores = [s for _, s in result]
    assert scores == sorted(scores, reverse=True)


def test_mixed_article_gets_secondary_tags() -> None:
    result = classify(*ELECTION_TECH)
    tags = [t for t, _ in result]
    assert 2 <= len(tags) <= 3
    assert {"politics", "technology"} <= set(tags)


def test_nothing_fits_is_other() -> None:
    result = classify("Lorem ipsum", "Lorem ipsum dolor sit amet, consectetur adipiscing elit.")
    assert result[0][0] == OTHER
    assert len(result) == 1


def test_custom_hashtag_list_with_keywords() -> None:
    tags = [
        Hashtag("fishing", "Angling reports", ("trout", "bass", "lure", "walleye")),
        Hashtag("council", "Town council business", ("council", "zoning", "ordinance")),
        Hashtag(OTHER, "Anything else"),
    ]
    title, text = (
        "Walleye bite strong on the lake",
        "Anglers report walleye and bass on a jig lure.",
    )
    assert classify(title, text, tags)[0][0] == "fishing"
    assert classify(*SPORT, tags)[0][0] == OTHER


def test_channel_settings_convert_with_default_keywords() -> None:
    tags = hashtags_of([HashtagSettings(tag="#Sports", description="Sport")])
    assert tags[0].tag == "sports"
    assert "football" in tags[0].keywords  # built-in keywords fill in when none are configured
    own = hashtags_of([HashtagSettings(tag="sports", keywords=["curling"])])
    assert own[0].keywords == ("curling",)


def test_editor_corrections_change_the_outcome() -> None:
    # A channel's editors file curling-club news under #sports, which zero-shot calls #outdoors.
    club = (
        "Curling club opens season at the lake rink",
        "The curling club swept the ice at the lake rink for its opening bonspiel. Members "
        "brought stones and brooms, and the club thanked volunteers for flooding the rink.",
    )
    assert classify(*club)[0][0] == "outdoors"
    examples = [
        Example(
            f"Curling bonspiel number {i} at the rink",
            "Club members swept stones on the lake rink ice at the bonspiel; volunteers "
            "flooded the rink and brooms were handed out by the curling club.",
            "sports",
        )
        for i in range(12)
    ]
    model = ChannelClassifier(default_hashtags(), examples)
    assert 0 < model.weight <= 0.7
    assert model.classify(*club)[0][0] == "sports"
    # Unrelated items keep their zero-shot tag.
    assert model.classify(*ECONOMY)[0][0] == "economy"


def test_examples_with_unknown_tags_are_ignored() -> None:
    model = ChannelClassifier(default_hashtags(), [Example("t", "x", "nosuchtag")])
    assert model.weight == 0.0
    assert model.classify(*TECH)[0][0] == "technology"

"""Hashtags: zero-shot classification, thresholds, #other, and editors' corrections."""

from __future__ import annotations

import pytest

from newsline.config import DEFAULT_HASHTAGS, HashtagSettings
from newsline.enrich.hashtags import (
    OTHER,
    ChannelClassifier,
    Example,
    Hashtag,
    _terms,
    classify,
    default_hashtags,
    hashtags_of,
    tokenize,
    words,
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


FLOWER_SHOW = (
    "Flower show opens at the botanic garden",
    "Growers brought roses, orchids and tulips to the flower show in the botanic garden, where "
    "judges awarded prizes for the best displays and visitors admired the gardens.",
)


def _flower_show_corrections(n: int) -> list[Example]:
    # A channel's editors file flower shows under #culture (zero-shot: #outdoors).
    return [
        Example(
            f"Flower show number {i} at the garden",
            "Gardeners exhibited roses and orchids; the judges gave prizes for displays at the "
            "flower show in the garden.",
            "culture",
        )
        for i in range(n)
    ]


def test_editor_corrections_change_the_outcome() -> None:
    assert classify(*FLOWER_SHOW)[0][0] == "outdoors"
    model = ChannelClassifier(default_hashtags(), _flower_show_corrections(12))
    assert model.classify(*FLOWER_SHOW)[0][0] == "culture"
    # Unrelated items keep their zero-shot tag, also hashtags nobody corrected to.
    assert model.classify(*ECONOMY)[0][0] == "economy"
    assert model.classify(*TECH)[0][0] == "technology"


def test_examples_with_unknown_tags_are_ignored() -> None:
    model = ChannelClassifier(default_hashtags(), [Example("t", "x", "nosuchtag")])
    assert model.examples == []
    assert model.classify(*TECH) == classify(*TECH)


def test_headline_without_any_keyword_gets_a_topic_from_word_vectors() -> None:
    # None of these words is in any keyword list; their vectors sit near #sports / #health.
    assert classify("Quarterbacks clash as the Packers host the Bears", "")[0][0] == "sports"
    assert classify("Pilates and stretching routines ease back stiffness", "")[0][0] == "health"


def test_word_tokens_match_the_vector_vocabulary() -> None:
    assert words("Trump’s aides' meeting on semi-final day") == [
        "trump",
        "aides",
        "meeting",
        "on",
        "semi-final",
        "day",
    ]


def test_publication_section_label_moves_an_ambiguous_item() -> None:
    item = (
        "Record crowds for the final day",
        "Thousands came on the last day and the organisers said the numbers beat every year.",
    )
    assert classify(*item)[0][0] == "sports"
    assert classify(*item, sections=["Business"])[0][0] == "economy"
    assert classify(*item, sections=["Arts & culture"])[0][0] == "culture"
    # A label no hashtag knows, or none at all, leaves the zero-shot answer alone.
    assert classify(*item, sections=["Latest", " "])[0][0] == "sports"
    channel = ChannelClassifier(default_hashtags(), _flower_show_corrections(3))
    assert channel.classify(*item, sections=["Sport"])[0][0] == "sports"


def test_shipped_word_vectors_load_and_skip_unknown_words() -> None:
    from newsline.enrich.wordvectors import glove

    vectors = glove()
    found, rows = vectors.rows(["football", "qzxqzxqzx", "soccer"])
    assert found == [0, 2]
    assert rows.shape == (2, vectors.dim)
    assert abs(float((rows * rows).sum(axis=1)[0]) - 1.0) < 1e-5
    assert float(rows[0] @ rows[1]) > 0.7  # neighbours in meaning
    assert vectors.rank["the"] < vectors.rank["football"]  # rows are frequency-ranked


def test_term_vector_keeps_words_and_pairs_counts_the_title_twice() -> None:
    vector = _terms(words("Rovers win the cup"), words("The Rovers won the cup final."))
    assert abs(sum(w * w for w in vector.values()) - 1.0) < 1e-9
    assert "the" not in vector and "rovers win" in vector and "cup final" in vector
    # "rovers" twice in the title (x2) and once in the text outweighs "final" (once).
    assert vector["rovers"] > vector["cup final"] == vector["final"]


def test_item_meaning_is_the_rank_weighted_mean_of_its_word_vectors() -> None:
    import numpy as np

    from newsline.enrich.hashtags import SOFT_MIN_RANK, TITLE_WEIGHT, _model_for

    soft = _model_for(tuple(default_hashtags())).soft
    title, text = "Orchids at the flower show", "Growers brought orchids; the judges gave prizes."
    tokens = [*words(title) * TITLE_WEIGHT, *words(text)]
    found, vecs = soft.vectors.rows(tokens)
    ranks = np.array([soft.vectors.rank[tokens[i]] for i in found])
    weights = np.where(ranks >= SOFT_MIN_RANK, np.log1p(ranks / 1000.0), 0.0)
    expected = (weights @ vecs) / weights.sum() - soft.vectors.centre()
    expected /= np.linalg.norm(expected)
    for _ in range(2):  # the second time from the per-word cache
        assert np.allclose(soft.doc_vector(title, text), expected, atol=1e-5)
    assert not soft.doc_vector("the of and", "").any()  # only stop-like words: no meaning


def test_corrections_teach_what_a_publication_label_means() -> None:
    item = (
        "Record crowds for the final day",
        "Thousands came on the last day and the organisers said the numbers beat every year.",
    )
    # Zero-shot, "Kultur" means nothing (no hashtag's vocabulary knows it).
    assert classify(*item, sections=["Kultur"]) == classify(*item)
    examples = [
        Example(f"Neue Ausstellung {i}", "Die Galerie zeigt Bilder.", "culture", ("Kultur", "News"))
        for i in range(6)
    ] + [
        Example(
            f"Regierung plant Reform {i}", "Das Parlament berät.", "politics", ("Politik", "News")
        )
        for i in range(6)
    ]
    model = ChannelClassifier(default_hashtags(), examples)
    assert model.classify(*item)[0][0] == "sports"
    assert model.classify(*item, sections=[" kultur"])[0][0] == "culture"
    # A label found under every corrected hashtag alike says nothing.
    assert model.classify(*item, sections=["News"]) == model.classify(*item)

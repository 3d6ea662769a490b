"""The hashtag model shared by threads (a worker's tagging units) gives each item the
hashtags it gets alone."""

from __future__ import annotations

import threading
import time

import pytest

from newsline.enrich.hashtags import SoftKeywordModel, default_hashtags

# Short texts written for this test, each with words no other one has, so that every
# thread teaches the shared model words while the others read it.
TEXTS = [
    (f"Report {n}", " ".join(f"{w}{'' if n % 2 else 's'}" for w in words))
    for n, words in enumerate(
        [
            ["senator", "ballot", "stadium", "goalkeeper", "vaccine", "clinic"],
            ["inflation", "mortgage", "harvest", "drought", "orchestra", "novel"],
            ["satellite", "rocket", "telescope", "galaxy", "referee", "tournament"],
            ["smartphone", "software", "hacker", "robot", "cathedral", "pilgrim"],
            ["wildfire", "glacier", "hurricane", "volcano", "museum", "painter"],
            ["prosecutor", "verdict", "burglary", "detective", "tariff", "exporter"],
            ["surgeon", "nurse", "hospital", "patient", "curriculum", "teacher"],
            ["embassy", "diplomat", "ceasefire", "refugee", "festival", "guitarist"],
        ]
    )
]


Result = tuple[list[float], list[float]]


def _alone(model: SoftKeywordModel, n: int) -> Result:
    title, text = TEXTS[n % len(TEXTS)]
    return model.scores(title, text)[0].tolist(), model.doc_vector(title, text).tolist()


def _at_once(model: SoftKeywordModel, threads: int) -> list[Result]:
    """Each thread scores one text, all starting together on the shared model."""
    start = threading.Barrier(threads)
    got: dict[int, Result] = {}

    def score(n: int) -> None:
        start.wait()
        got[n] = _alone(model, n)

    running = [threading.Thread(target=score, args=(n,)) for n in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    return [got[n] for n in range(threads)]


def test_threads_teaching_the_model_at_once_score_as_one_thread_does() -> None:
    hashtags = default_hashtags()
    alone = SoftKeywordModel(hashtags)
    expected = [_alone(alone, n) for n in range(len(TEXTS))]
    for _ in range(20):  # a fresh model each round: every word is new to it
        assert _at_once(SoftKeywordModel(hashtags), 2 * len(TEXTS)) == expected * 2


def test_threads_asking_for_a_model_at_once_share_one_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's tagging units start together: one builds the model (and loads the word
    vectors), the others wait and use it (each built its own before: 8 GloVe loads, and
    word votes learned into models then dropped)."""
    from newsline.enrich import hashtags

    built: list[object] = []
    real_init = hashtags.HashtagModel.__init__

    def slow_init(self: hashtags.HashtagModel, tags: object) -> None:
        real_init(self, tags)  # type: ignore[arg-type]
        built.append(self)
        time.sleep(0.2)  # keeps the build open while the other threads ask

    monkeypatch.setattr(hashtags.HashtagModel, "__init__", slow_init)
    hashtags._built_model.cache_clear()
    tags = tuple(default_hashtags())
    start = threading.Barrier(8)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(hashtags._model_for(tags))

    running = [threading.Thread(target=ask) for _ in range(8)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    hashtags._built_model.cache_clear()  # no model with the slow __init__ left behind
    assert len(built) == 1
    assert len(got) == 8 and all(m is built[0] for m in got)


def test_a_words_vote_does_not_depend_on_the_words_learned_with_it() -> None:
    """Threads learning at once split the new words differently; each word's vote must come
    out the same to the last bit (a matrix product's rows did not: 90 of 90 differed)."""
    import numpy as np

    hashtags = default_hashtags()
    words = [w for _, text in TEXTS for w in text.split()][:18]
    alone = {w: SoftKeywordModel(hashtags)._learn([w])[w] for w in words}
    for size in (2, 3, 5, 7, 18):
        model = SoftKeywordModel(hashtags)
        for i in range(0, len(words), size):
            for w, vote in model._learn(words[i : i + size]).items():
                expected = alone[w]
                assert (vote is None) == (expected is None), w
                assert vote is None or np.array_equal(vote, expected), (w, size)

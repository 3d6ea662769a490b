"""Sentence splitting from several threads at once (a worker's tagging units run so)."""

from __future__ import annotations

import threading

from newsline.enrich.summarize import sentences


def test_threads_splitting_at_once_each_get_their_own_texts_sentences() -> None:
    """Each thread splits its own text many times over: every split is the one a lone call
    gives. With one pysbd Segmenter shared by the process, threads got sentences of each
    other's texts."""
    texts = [
        " ".join(f"Text {n} says thing {k}. It adds detail {k} here." for k in range(30))
        for n in range(6)
    ]
    expected = [sentences(text) for text in texts]
    wrong: list[int] = []
    start = threading.Barrier(len(texts))

    def split(n: int) -> None:
        start.wait(30)
        for _ in range(40):
            if sentences(texts[n]) != expected[n]:
                wrong.append(n)

    threads = [threading.Thread(target=split, args=(n,)) for n in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not wrong

"""Hashtags: zero-shot topic tags from keywords and word vectors, refined by editors' corrections.

Zero-shot, two signals are blended (``SOFT_SHARE``):

* the exact keyword model (:class:`ZeroShotModel`): each hashtag's seed keywords (phrases
  allowed) and description words, weighted by an inverse "hashtag frequency"; matches are
  counted on lightly stemmed tokens, title words ``TITLE_WEIGHT`` times;
* soft keywords (:class:`SoftKeywordModel`): every word of the item votes for the hashtags
  whose keywords its GloVe vector is near (vectors shipped in a wheel, see
  ``wordvectors.py``), so headlines with no listed word still find their topic.

Frames (``FRAME_KEYWORDS``): politics and technology also name *how* a story is told (by
politicians, through software and devices), whatever its subject; the density of their
frame words adds to their share (``FRAME_HALF``), so a minister's asylum plan is #politics.

The publication's own section label, when known, takes ``SECTION_SHARE`` of the result.
Editors' corrections (``ItemHashtag`` rows with ``source='editor'``) make a per-channel
:class:`ChannelClassifier`: the log zero-shot share is the prior, and nearest centroids of
the corrected items (hashed TF-IDF and word vectors) add to it. Nothing is trained on any
evaluation corpus and nothing is downloaded at run time.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from newsline.config import DEFAULT_HASHTAGS
from newsline.enrich.keywords import DEFAULT_KEYWORDS, FRAME_KEYWORDS

if TYPE_CHECKING:
    import numpy as np

    from newsline.config import HashtagSettings

OTHER = "other"
#: A secondary hashtag needs at least this share of the score mass...
SECONDARY_MIN_SHARE = 0.15
#: ...and at least this fraction of the primary's score.
SECONDARY_MIN_RATIO = 0.4
#: Below this keyword evidence (weighted hits per sqrt(word)) nothing fits: ``#other``.
MIN_EVIDENCE = 0.12
TITLE_WEIGHT = 3
#: Share of the zero-shot result given to the publication's own section label, when known.
SECTION_SHARE = 0.5
#: Distinct matched terms a hashtag needs to count next to the best one.
MIN_TERMS = 2
#: Frame word density (hits per sqrt(word), title words ``TITLE_WEIGHT`` times) at which a
#: frame adds half its weight to its hashtag's share.
FRAME_HALF = 0.5

_TOKEN = re.compile(r"[a-z0-9][a-z0-9'&\-]*[a-z0-9]|[a-z0-9]|[$£€%]")
_STOP = frozenset(
    """a an and are as at be been but by for from has have in into is it its of on or that the
    their them they this to was were which will with about after against all also any between
    both each how including such other than there these those through under up what when where
    who whom why anything fits no not one more most some own so very can just over per via""".split()  # noqa: SIM905
)


@lru_cache(maxsize=200_000)
def _stem(token: str) -> str:
    # A deliberately light stemmer: fold plurals and possessives, keep everything else.
    if token.endswith("'s"):
        token = token[:-2]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith("sses"):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lower-cased, lightly stemmed word tokens (currency and percent signs kept)."""
    return [_stem(t) for t in _TOKEN.findall(text.lower().replace("\u2019", "'"))]


@dataclass(frozen=True)
class Hashtag:
    """One hashtag: name (no '#'), a description, seed keywords (phrases allowed), and its
    frame words with their weight (see ``FRAME_KEYWORDS``; none for most hashtags)."""

    tag: str
    description: str = ""
    keywords: tuple[str, ...] = field(default_factory=tuple)
    frame: tuple[str, ...] = field(default_factory=tuple)
    frame_weight: float = 0.0

    @classmethod
    def from_settings(cls, hs: HashtagSettings) -> Hashtag:
        """Convert a channel's configured hashtag; default keywords fill in when none are set.
        A hashtag named like a default frame (#politics, #technology) keeps its frame."""
        keywords = tuple(hs.keywords) or tuple(DEFAULT_KEYWORDS.get(hs.tag, ()))
        return cls(hs.tag, hs.description, keywords, *_frame_of(hs.tag))


def _frame_of(tag: str) -> tuple[tuple[str, ...], float]:
    weight, frame = FRAME_KEYWORDS.get(tag, (0.0, []))
    return tuple(frame), weight


def default_hashtags() -> list[Hashtag]:
    """The spec's default hashtag list with descriptions and the built-in keywords."""
    return [
        Hashtag(t, d, tuple(DEFAULT_KEYWORDS.get(t, ())), *_frame_of(t))
        for t, d in DEFAULT_HASHTAGS
    ]


def hashtags_of(settings: Sequence[HashtagSettings]) -> list[Hashtag]:
    """A channel's hashtag list as ``Hashtag`` values."""
    return [Hashtag.from_settings(h) for h in settings]


class ZeroShotModel:
    """Weighted keyword vocabulary of a hashtag list (build once, score many items)."""

    def __init__(self, hashtags: Sequence[Hashtag]) -> None:
        self.tags = [h.tag for h in hashtags]
        vocab: list[dict[tuple[str, ...], float]] = []
        for h in hashtags:
            terms: set[tuple[str, ...]] = set()
            for kw in h.keywords:
                toks = tuple(tokenize(kw))
                if toks and not (len(toks) == 1 and toks[0] in _STOP):
                    terms.add(toks)
            for tok in tokenize(h.description):
                if tok not in _STOP and len(tok) > 2:
                    terms.add((tok,))
            if h.tag != OTHER:
                terms.add(tuple(tokenize(h.tag)))
            vocab.append({t: 1.0 for t in terms})
        df: Counter[tuple[str, ...]] = Counter(t for v in vocab for t in v)
        n = max(len(self.tags), 1)
        self.max_len = 1
        # term -> list of (tag index, weight)
        self.index: dict[tuple[str, ...], list[tuple[int, float]]] = {}
        for i, v in enumerate(vocab):
            # Long lists would win by sheer size: damp by the list length.
            norm = 1.0 / math.sqrt(max(len(v), 1)) * math.sqrt(60.0)
            for term in v:
                weight = math.log(1.0 + n / df[term]) * norm
                if len(term) > 1:
                    weight *= 1.5  # a phrase is stronger evidence than a single word
                self.index.setdefault(term, []).append((i, weight))
                self.max_len = max(self.max_len, len(term))
        #: First words of the multi-word terms (only there is a longer match worth trying).
        self.starts = {t[0] for t in self.index if len(t) > 1}
        #: Frame word (stemmed) -> the hashtags it frames: (tag index, frame weight).
        self.frames: dict[str, list[tuple[int, float]]] = {}
        for i, h in enumerate(hashtags):
            if h.frame_weight > 0:
                for word in {t for f in h.frame for t in tokenize(f)}:
                    self.frames.setdefault(word, []).append((i, h.frame_weight))

    def scores(self, title: str, text: str) -> tuple[list[float], float, list[float]]:
        """Raw score per tag, the evidence density of the best tag, and the frame bonus per
        tag (to add to its share: its weight times density / (density + ``FRAME_HALF``)).

        A tag matched by fewer than ``MIN_TERMS`` distinct terms scores 0 unless it is the
        best: one stray word ("win" in a business story) is no second topic.
        """
        title_toks = tokenize(title)
        body_toks = tokenize(text)
        counts: Counter[tuple[str, ...]] = Counter()
        index, starts = self.index, self.starts
        for toks, mult in ((title_toks, TITLE_WEIGHT), (body_toks, 1)):
            for j, tok in enumerate(toks):
                gram: tuple[str, ...] = (tok,)
                if gram in index:
                    counts[gram] += mult
                if tok in starts:
                    for n in range(2, self.max_len + 1):
                        gram = tuple(toks[j : j + n])
                        if len(gram) == n and gram in index:
                            counts[gram] += mult
        raw = [0.0] * len(self.tags)
        distinct = [0] * len(self.tags)
        for term, c in counts.items():
            tf = 1.0 + math.log(c)
            for i, w in self.index[term]:
                raw[i] += w * tf
                distinct[i] += 1
        if raw:
            top = max(range(len(raw)), key=raw.__getitem__)
            raw = [r if i == top or distinct[i] >= MIN_TERMS else 0.0 for i, r in enumerate(raw)]
        length = len(body_toks) + TITLE_WEIGHT * len(title_toks)
        density = max(raw, default=0.0) / math.sqrt(max(length, 1))
        return raw, density, self._frame_bonus(title_toks, body_toks, length)

    def _frame_bonus(self, title: list[str], body: list[str], length: int) -> list[float]:
        bonus = [0.0] * len(self.tags)
        frames = self.frames
        if not frames:
            return bonus
        hits: Counter[tuple[int, float]] = Counter()
        for toks, mult in ((title, TITLE_WEIGHT), (body, 1)):
            for tok in toks:
                for frame in frames.get(tok, ()):
                    hits[frame] += mult
        for (i, weight), n in hits.items():
            density = n / math.sqrt(max(length, 1))
            bonus[i] += weight * density / (density + FRAME_HALF)
        return bonus


#: The zero-shot score mixes the word-vector vote (this share) with the exact keyword model.
SOFT_SHARE = 0.7
#: Softmax temperature of one word's vote over the hashtags (cosine units).
SOFT_TEMPERATURE = 0.05
#: A word votes only by how far its best hashtag affinity exceeds this cosine.
SOFT_FLOOR = 0.45
#: Affinity of a word to a hashtag: mean cosine to the hashtag's nearest anchor terms.
SOFT_TOP = 3
#: Words this frequent (GloVe rank) carry no topic.
SOFT_MIN_RANK = 150
#: Below this vote mass per sqrt(word) the soft model has no evidence either.
SOFT_MIN_EVIDENCE = 0.2

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens as the word vectors spell them (possessive 's dropped)."""
    return _WORD.findall(text.lower().replace("\u2019", "'").replace("'s ", " "))


@lru_cache(maxsize=1)
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """Small products run fastest on one thread; a busy machine makes BLAS threads spin."""
    return _blas().limit(limits=1, user_api="blas")


class SoftKeywordModel:
    """Soft keyword matching through word vectors: every word votes for the hashtags near it.

    Each hashtag is anchored by the vectors of its keywords, description words and name. A
    word's affinity to a hashtag is its mean cosine to that hashtag's ``SOFT_TOP`` nearest
    anchors; it spreads one vote over the hashtags by a softmax of those affinities, scaled
    by how clearly topical it is (best affinity above ``SOFT_FLOOR``) and how rare (log of
    its frequency rank). Words never listed anywhere ("kardashian", "yoga", "touchdown")
    still count, which is what short headlines need. Votes are cached per word.
    """

    def __init__(self, hashtags: Sequence[Hashtag]) -> None:
        import numpy as np

        from newsline.enrich.wordvectors import glove

        self.vectors = glove()
        self.n_tags = len(hashtags)
        anchors: list[np.ndarray] = []
        owners: list[int] = []
        for i, h in enumerate(hashtags):
            if h.tag == OTHER:
                continue
            terms = [*h.keywords, *(w for w in words(h.description) if w not in _STOP), h.tag]
            for term in dict.fromkeys(terms):
                _, vecs = self.vectors.rows([w for w in words(term) if w not in _STOP])
                if len(vecs):
                    v = vecs.mean(axis=0)
                    anchors.append(v / max(float(np.linalg.norm(v)), 1e-9))
                    owners.append(i)
        order = sorted(range(len(owners)), key=owners.__getitem__)
        self.anchors = np.array([anchors[j] for j in order], dtype=np.float32).reshape(
            -1, self.vectors.dim
        )
        owner = [owners[j] for j in order]
        self.segments = [
            (t, owner.index(t), len(owner) - owner[::-1].index(t)) for t in sorted(set(owner))
        ]
        self._votes: dict[str, np.ndarray | None] = {}
        #: word -> (its unit vector times its weight, the weight: log of its frequency rank).
        self._weighted: dict[str, tuple[np.ndarray, float] | None] = {}

    def _learn(self, new: list[str]) -> dict[str, np.ndarray | None]:
        """The votes of words not seen yet, also kept in the cache. Threads share the model
        (a worker's units), so a word enters the cache only with its finished vote: a
        placeholder there read as "no vote" by another thread changed its hashtags."""
        found, vecs = self.vectors.rows(new)
        learned: dict[str, np.ndarray | None] = dict.fromkeys(new)
        if found and self.segments:
            self._votes_of(new, found, vecs, learned)
        if len(self._votes) > 500_000:  # bound the cache on a long-running worker; a new
            self._votes = {}  # dict, so readers holding the old one still see whole votes
        self._votes.update(learned)
        return learned

    def _votes_of(
        self,
        new: list[str],
        found: list[int],
        vecs: np.ndarray,
        learned: dict[str, np.ndarray | None],
    ) -> None:
        import numpy as np

        # One product per word (a stack of 1-row products, which numpy runs one by one): a
        # matrix product's rows depend, in their last bits, on how many rows it has, so a
        # word's vote would depend on which words were new with it (threads learning at
        # once split the new words differently).
        with _one_blas_thread():
            sims = np.matmul(vecs[:, None, :], self.anchors.T)[:, 0, :]
        aff = np.full((len(found), self.n_tags), -1.0, dtype=np.float32)
        for t, lo, hi in self.segments:
            seg = sims[:, lo:hi]
            k = min(SOFT_TOP, hi - lo)
            aff[:, t] = np.partition(seg, seg.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
        best = aff.max(axis=1, keepdims=True)
        soft = np.exp((aff - best) / SOFT_TEMPERATURE)
        soft /= soft.sum(axis=1, keepdims=True)
        for row, j in enumerate(found):
            w = new[j]
            rank = self.vectors.rank[w]
            strength = max(float(best[row, 0]) - SOFT_FLOOR, 0.0) * math.log1p(rank / 1000.0)
            learned[w] = soft[row] * strength if rank >= SOFT_MIN_RANK and strength else None

    def scores(self, title: str, text: str) -> tuple[np.ndarray, float]:
        """Vote per hashtag (title words count ``TITLE_WEIGHT`` times) and evidence density."""
        return self.scores_of(words(title), words(text))

    def scores_of(self, title: list[str], text: list[str]) -> tuple[np.ndarray, float]:
        """:meth:`scores` of an item already split by :func:`words`."""
        import numpy as np

        counts: Counter[str] = Counter(text)
        for w in title:
            counts[w] += TITLE_WEIGHT
        votes = self._votes
        new = [w for w in counts if w not in votes]
        learned = self._learn(new) if new else {}
        hits = [
            (c, v)
            for w, c in counts.items()
            if (v := learned[w] if w in learned else votes.get(w)) is not None
        ]
        length = sum(counts.values())
        if not hits:
            return np.zeros(self.n_tags), 0.0
        weights = np.array([c for c, _ in hits], dtype=np.float32)
        total = (weights @ np.array([v for _, v in hits])).astype(np.float64)
        return total, float(total.sum()) / math.sqrt(max(length, 1))

    def doc_vector(self, title: str, text: str) -> np.ndarray:
        """The item's meaning: the mean of its word vectors (rarer words weigh more) minus the
        mean of the vocabulary, as a unit vector. Without the centring any two texts would be
        similar (every mean of many word vectors points roughly the same way)."""
        return self.doc_vector_of(words(title), words(text))

    def doc_vector_of(self, title: list[str], text: list[str]) -> np.ndarray:
        """:meth:`doc_vector` of an item already split by :func:`words`."""
        import numpy as np

        counts: Counter[str] = Counter(text)
        for w in title:
            counts[w] += TITLE_WEIGHT
        cache = self._weighted
        new = [w for w in counts if w not in cache]
        # As in _learn: a word enters the shared cache only with its finished value.
        fresh: dict[str, tuple[np.ndarray, float] | None] = dict.fromkeys(new)
        if new:
            found, vecs = self.vectors.rows(new)
            for row, j in enumerate(found):
                rank = self.vectors.rank[new[j]]
                if rank >= SOFT_MIN_RANK:
                    weight = math.log1p(rank / 1000.0)
                    fresh[new[j]] = (vecs[row] * weight, weight)
            if len(cache) > 500_000:  # bound the cache on a long-running worker
                self._weighted = {}
            self._weighted.update(fresh)
        hits = [
            (c, v)
            for w, c in counts.items()
            if (v := fresh[w] if w in fresh else cache.get(w)) is not None
        ]
        if not hits:
            return np.zeros(self.vectors.dim)
        # Each occurrence weighs log(rank): the weighted mean of the word vectors.
        counts_of = np.array([c for c, _ in hits], dtype=np.float32)
        rows = np.array([v[0] for _, v in hits])
        total = float(counts_of @ np.array([v[1] for _, v in hits], dtype=np.float32))
        centred = (counts_of @ rows) / total - self.vectors.centre()
        norm = float(np.linalg.norm(centred))
        return centred / norm if norm else centred


class HashtagModel:
    """The zero-shot model of one hashtag list: exact keywords plus soft keyword votes."""

    def __init__(self, hashtags: Sequence[Hashtag]) -> None:
        self.keywords = ZeroShotModel(hashtags)
        self.soft = SoftKeywordModel(hashtags)

    def shares(
        self, title: str, text: str, split: tuple[list[str], list[str]] | None = None
    ) -> ZeroShot:
        """Blended per-tag shares, the keyword model's own shares, and the evidence.

        ``split`` is ``(words(title), words(text))`` when the caller has it already.
        """
        raw, kw_evidence, frame = self.keywords.scores(title, text)
        title_words, text_words = split if split is not None else (words(title), words(text))
        votes, soft_evidence = self.soft.scores_of(title_words, text_words)
        kw_total = sum(raw)
        soft_total = float(votes.sum())
        kw = [r / kw_total for r in raw] if kw_total > 0 else [0.0] * len(raw)
        soft = [float(v) / soft_total for v in votes] if soft_total > 0 else [0.0] * len(raw)
        if kw_total > 0 and soft_total > 0:
            mixed = [SOFT_SHARE * s + (1 - SOFT_SHARE) * k for s, k in zip(soft, kw, strict=True)]
        else:
            mixed = soft if soft_total > 0 else kw
        if any(mixed) and any(frame):
            # The frame counts on top of the topic: a politicians' story about fuel duty.
            mixed = [m + f for m, f in zip(mixed, frame, strict=True)]
            total = sum(mixed)
            mixed = [m / total for m in mixed]
        # Either model's evidence is enough (on the keyword model's scale).
        evidence = max(kw_evidence, soft_evidence * MIN_EVIDENCE / SOFT_MIN_EVIDENCE)
        return ZeroShot(mixed, kw, evidence)


@dataclass(frozen=True)
class ZeroShot:
    """Zero-shot result: blended shares (sum to 1 when anything matched), the keyword
    model's shares (they name second topics best), and the evidence density."""

    shares: list[float]
    keyword_shares: list[float]
    evidence: float


_MODEL_LOCK = threading.Lock()


def _model_for(hashtags: tuple[Hashtag, ...]) -> HashtagModel:
    # lru_cache does not hold back threads that miss at once: a worker's 8 tagging units
    # each built their own model (and loaded GloVe) on its first batch, 4x the CPU, and
    # each learned its word votes into a model that was then dropped. One builds; the
    # others wait for it.
    with _MODEL_LOCK:
        return _built_model(hashtags)


@lru_cache(maxsize=32)
def _built_model(hashtags: tuple[Hashtag, ...]) -> HashtagModel:
    return HashtagModel(hashtags)


def _secondaries(tags: list[str], shares: Sequence[float], primary: str) -> set[str]:
    """Tags that hold enough of ``shares``: a share and a fraction of the best share."""
    best = max((s for t, s in zip(tags, shares, strict=True) if t != OTHER), default=0.0)
    return {
        t
        for t, s in zip(tags, shares, strict=True)
        if t not in (OTHER, primary)
        and s > 0
        and s >= SECONDARY_MIN_SHARE
        and s >= SECONDARY_MIN_RATIO * best
    }


def _assign(
    tags: list[str],
    shares: list[float],
    evidence: float,
    also: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    """Primary + up to two secondary tags above the thresholds, or ``#other``.

    A secondary qualifies on ``shares`` or on the ``also`` distribution (the keyword
    model's, whose matched terms name a second topic more reliably than the blend).
    """
    ranked = sorted(
        ((t, s) for t, s in zip(tags, shares, strict=True) if t != OTHER),
        key=lambda p: -p[1],
    )
    if not ranked or ranked[0][1] <= 0.0 or evidence < MIN_EVIDENCE:
        return [(OTHER, round(1.0 - (ranked[0][1] if ranked else 0.0), 4))]
    best = ranked[0]
    second = _secondaries(tags, shares, best[0])
    if also is not None:
        second |= _secondaries(tags, also, best[0])
    score = dict(ranked)
    # Ties go by the channel's order of hashtags: a set's order changes between processes.
    extra = sorted(second, key=lambda t: (-score[t], tags.index(t)))[:2]
    return [(best[0], round(best[1], 4))] + [(t, round(score[t], 4)) for t in extra]


def zero_shot_shares(
    title: str, text: str, hashtags: Sequence[Hashtag]
) -> tuple[list[float], float]:
    """Per-tag share of the zero-shot score (sums to 1 when anything matched), and evidence."""
    result = _model_for(tuple(hashtags)).shares(title, text)
    return result.shares, result.evidence


def _zero_shot(
    model: HashtagModel,
    title: str,
    text: str,
    sections: Sequence[str],
    split: tuple[list[str], list[str]] | None = None,
) -> ZeroShot:
    """The item's zero-shot result, moved toward its publication's own section labels.

    A label the hashtags' vocabulary recognises ("Sport", "World news", "Tech") takes
    ``SECTION_SHARE`` of the shares; a label it does not ("Lifestyle", "Latest") changes
    nothing.
    """
    result = model.shares(title, text, split)
    labels = " ; ".join(s.strip() for s in sections if s and s.strip())
    if not labels:
        return result
    section = model.shares(labels, "")
    if section.evidence < MIN_EVIDENCE or not any(section.shares):
        return result
    if not any(result.shares):
        return ZeroShot(section.shares, section.keyword_shares, section.evidence)
    mixed = [
        (1 - SECTION_SHARE) * a + SECTION_SHARE * b
        for a, b in zip(result.shares, section.shares, strict=True)
    ]
    return ZeroShot(mixed, result.keyword_shares, max(result.evidence, section.evidence))


def classify(
    title: str,
    text: str,
    hashtags: list[Hashtag] | None = None,
    *,
    sections: Sequence[str] = (),
) -> list[tuple[str, float]]:
    """Hashtags of an item, best first: a primary, up to two secondaries, or ``#other``.

    Scores are confidences in [0, 1]. ``hashtags`` defaults to the spec's list;
    ``sections`` are the publication's own section/category labels for the item, when the
    feed or page gives them.
    """
    tags = hashtags if hashtags is not None else default_hashtags()
    result = _zero_shot(_model_for(tuple(tags)), title, text, sections)
    return _assign([h.tag for h in tags], result.shares, result.evidence, result.keyword_shares)


# --- editors' corrections: per-channel nearest centroids over the zero-shot prior --------

#: Weights of the two centroid similarities (cosine) against the log zero-shot share.
TERMS_WEIGHT = 20.0
VECTORS_WEIGHT = 10.0
#: Corrections of a hashtag at which its centroids count half their full weight.
TRUST_HALF = 3.0
#: Weight of the channel's own hashtag frequencies among its corrections (log, add-one).
FREQUENCY_WEIGHT = 0.5
#: Zero-shot shares are floored here before the log: no hashtag is ruled out by the prior.
PRIOR_FLOOR = 1e-3
#: Weight (log-score units) of what the corrections teach about the publications' own
#: section labels: the difference between a hashtag's share of the corrections under the
#: label and its share of all corrections, times this.
SECTION_LABEL_WEIGHT = 4.0


@lru_cache(maxsize=1)
def _term_stop() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _terms(title: list[str], text: list[str]) -> dict[str, float]:
    """An item's term vector: words and adjacent word pairs (stop words left out, the title
    counted twice), sublinear counts, unit length. Built from :func:`words` tokens, so the
    item is split once for every signal."""
    stop = _term_stop()
    counts: Counter[str] = Counter()
    for tokens, times in ((title, 2), (text, 1)):
        kept = [w for w in tokens if len(w) > 1 and w not in stop]
        for w in kept:
            counts[w] += times
        for a, b in pairwise(kept):
            counts[f"{a} {b}"] += times
    weights = {t: math.log1p(c) for t, c in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {t: w / norm for t, w in weights.items()}


@dataclass
class Example:
    """An editor-corrected item: its text, the hashtag the editor chose, and the
    publication's own section labels for it (when the feed gave any)."""

    title: str
    text: str
    tag: str
    sections: Sequence[str] = ()


def _labels(sections: Sequence[str]) -> list[str]:
    """Section labels as compared across items: trimmed, case-folded, each once."""
    return list(dict.fromkeys(s.strip().casefold() for s in sections if s and s.strip()))


def _unit_rows(matrix: Any) -> Any:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-9)


class ChannelClassifier:
    """A channel's hashtags, learning from its editors' corrections.

    Every hashtag's score is the log of its zero-shot share (the prior, never below
    ``PRIOR_FLOOR``) plus, for hashtags with corrections, the cosine similarity of the item
    to the centroid of their corrected items twice over: in term space (the channel's own
    words, pairs and names) and in word-vector space (their meaning, which carries over to
    items sharing no word with any example), plus the log of how often editors chose the
    hashtag. Similarities sharpen as examples accumulate, so the learned part outweighs the
    prior more and more; with no corrections this is exactly :func:`classify`.
    """

    def __init__(
        self, hashtags: Sequence[Hashtag] | None = None, examples: Sequence[Example] = ()
    ) -> None:
        import numpy as np

        self.hashtags = list(hashtags) if hashtags is not None else default_hashtags()
        self.tags = [h.tag for h in self.hashtags]
        known = set(self.tags)
        self.examples = [e for e in examples if e.tag in known]
        self._learned = sorted({e.tag for e in self.examples}, key=self.tags.index)
        self._columns = [self.tags.index(t) for t in self._learned]
        if not self.examples:
            return
        model = _model_for(tuple(self.hashtags))
        split = [(words(e.title), words(e.text)) for e in self.examples]
        meanings = np.array([model.soft.doc_vector_of(*ws) for ws in split])
        counts = Counter(e.tag for e in self.examples)
        # Term centroids as one dense table over the examples' own terms (row per term,
        # column per corrected hashtag): an item's similarity reads only its terms' rows.
        self._term_row: dict[str, int] = {}
        sums: list[dict[int, float]] = [{} for _ in self._learned]
        position = {t: j for j, t in enumerate(self._learned)}
        for e, ws in zip(self.examples, split, strict=True):
            column = sums[position[e.tag]]
            for term, weight in _terms(*ws).items():
                row = self._term_row.setdefault(term, len(self._term_row))
                column[row] = column.get(row, 0.0) + weight
        table = np.zeros((len(self._term_row), len(self._learned)), dtype=np.float32)
        for j, column in enumerate(sums):
            if column:
                table[list(column), j] = list(column.values())
        self._centroids = table / np.maximum(np.linalg.norm(table, axis=0), 1e-9)
        self._meanings = _unit_rows(
            np.vstack(
                [
                    meanings[[i for i, e in enumerate(self.examples) if e.tag == t]].mean(axis=0)
                    for t in self._learned
                ]
            )
        ).T
        # Which hashtags editors chose for items under each section label of their
        # publications ("Kultur", "Life and style"): a channel's own reading of the labels.
        self._by_label: dict[str, Counter[int]] = {}
        for e in self.examples:
            for label in _labels(e.sections):
                self._by_label.setdefault(label, Counter())[self.tags.index(e.tag)] += 1
        self._overall = np.array([counts.get(t, 0) / len(self.examples) for t in self.tags])
        most = max(counts.values())
        # A centroid of few examples is a noisy estimate: its weight grows with their number.
        self._trust = np.array([counts[t] / (counts[t] + TRUST_HALF) for t in self._learned])
        self._frequency = np.array(
            [math.log((counts.get(t, 0) + 1) / (most + 1)) for t in self.tags]
        )

    def classify(
        self, title: str, text: str, *, sections: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """Like :func:`classify`, with this channel's corrections taken into account."""
        import numpy as np

        model = _model_for(tuple(self.hashtags))
        split = (words(title), words(text))
        zero = _zero_shot(model, title, text, sections, split)
        shares, evidence = zero.shares, zero.evidence
        if not self.examples:
            return _assign(self.tags, shares, evidence, zero.keyword_shares)
        term_row = self._term_row
        hits = [(r, w) for t, w in _terms(*split).items() if (r := term_row.get(t)) is not None]
        if hits:
            sims = (
                np.array([w for _, w in hits], dtype=np.float32)
                @ self._centroids[[r for r, _ in hits]]
            )
        else:
            sims = np.zeros(len(self._learned), dtype=np.float32)
        meaning = model.soft.doc_vector_of(*split) @ self._meanings
        # Any two news texts' vectors lean the same way: only how much closer the item is to
        # one corrected hashtag than to the others says something.
        meaning -= meaning.mean()
        scores = np.log(np.maximum(np.array(shares), 0.0) + PRIOR_FLOOR)
        scores += FREQUENCY_WEIGHT * self._frequency
        scores[self._columns] += self._trust * (TERMS_WEIGHT * sims + VECTORS_WEIGHT * meaning)
        scores += self._label_evidence(sections)
        if OTHER in self.tags:
            scores[self.tags.index(OTHER)] = -np.inf  # #other comes from the evidence test
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        # A strong match to an editor's example is evidence in its own right.
        return _assign(self.tags, [float(p) for p in probs], max(evidence, float(sims.max())))

    def _label_evidence(self, sections: Sequence[str]) -> Any:
        """Per hashtag: how much more often editors chose it for the corrected items under
        the item's section labels than for corrected items at large, trusted by their
        number, averaged over the labels the corrections know. A label found under every
        hashtag alike ("News") moves nothing."""
        import numpy as np

        evidence = np.zeros(len(self.tags))
        known = [self._by_label[label] for label in _labels(sections) if label in self._by_label]
        for chosen in known:
            n = sum(chosen.values())
            share = np.zeros(len(self.tags))
            for column, c in chosen.items():
                share[column] = c / n
            evidence += (share - self._overall) * n / (n + TRUST_HALF)
        if known:
            evidence *= SECTION_LABEL_WEIGHT / len(known)
        return evidence

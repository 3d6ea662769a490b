"""Hashtags: zero-shot topic tags from descriptions and keywords, refined by editors' corrections.

The zero-shot scorer is a weighted keyword model. Each hashtag's vocabulary is its seed
keywords plus the content words of its description; a term shared by several hashtags
counts less (an inverse "hashtag frequency", like IDF over the tag list). An item's
score for a hashtag is the sum of its matched terms' weights with sublinear term
frequency, title words counting extra. Editors' corrections (``ItemHashtag`` rows with
``source='editor'``) train a per-channel nearest-centroid model over hashed TF-IDF
features, blended with the zero-shot scores as examples accumulate.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from newsline.config import DEFAULT_HASHTAGS
from newsline.enrich.keywords import DEFAULT_KEYWORDS

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
#: Distinct matched terms a hashtag needs to count next to the best one.
MIN_TERMS = 2

_TOKEN = re.compile(r"[a-z0-9][a-z0-9'&\-]*[a-z0-9]|[a-z0-9]|[$£€%]")
_STOP = frozenset(
    """a an and are as at be been but by for from has have in into is it its of on or that the
    their them they this to was were which will with about after against all also any between
    both each how including such other than there these those through under up what when where
    who whom why anything fits no not one more most some own so very can just over per via""".split()  # noqa: SIM905
)


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
    """One hashtag: name (no '#'), a description, and seed keywords (phrases allowed)."""

    tag: str
    description: str = ""
    keywords: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, hs: HashtagSettings) -> Hashtag:
        """Convert a channel's configured hashtag; default keywords fill in when none are set."""
        keywords = tuple(hs.keywords) or tuple(DEFAULT_KEYWORDS.get(hs.tag, ()))
        return cls(tag=hs.tag, description=hs.description, keywords=keywords)


def default_hashtags() -> list[Hashtag]:
    """The spec's default hashtag list with descriptions and the built-in keywords."""
    return [Hashtag(t, d, tuple(DEFAULT_KEYWORDS.get(t, ()))) for t, d in DEFAULT_HASHTAGS]


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

    def scores(self, title: str, text: str) -> tuple[list[float], float]:
        """Raw score per tag, and the evidence density of the best tag.

        A tag matched by fewer than ``MIN_TERMS`` distinct terms scores 0 unless it is the
        best: one stray word ("win" in a business story) is no second topic.
        """
        title_toks = tokenize(title)
        body_toks = tokenize(text)
        counts: Counter[tuple[str, ...]] = Counter()
        for toks, mult in ((title_toks, TITLE_WEIGHT), (body_toks, 1)):
            for n in range(1, self.max_len + 1):
                for j in range(len(toks) - n + 1):
                    gram = tuple(toks[j : j + n])
                    if gram in self.index:
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
        return raw, density


@lru_cache(maxsize=32)
def _model_for(hashtags: tuple[Hashtag, ...]) -> ZeroShotModel:
    return ZeroShotModel(hashtags)


def _assign(tags: list[str], shares: list[float], evidence: float) -> list[tuple[str, float]]:
    """Primary + up to two secondary tags above the thresholds, or ``#other``."""
    ranked = sorted(
        ((t, s) for t, s in zip(tags, shares, strict=True) if t != OTHER),
        key=lambda p: -p[1],
    )
    if not ranked or ranked[0][1] <= 0.0 or evidence < MIN_EVIDENCE:
        return [(OTHER, 1.0 - (ranked[0][1] if ranked else 0.0))]
    best = ranked[0]
    result = [(best[0], round(best[1], 4))]
    for tag, share in ranked[1:3]:
        if share >= SECONDARY_MIN_SHARE and share >= SECONDARY_MIN_RATIO * best[1]:
            result.append((tag, round(share, 4)))
    return result


def zero_shot_shares(
    title: str, text: str, hashtags: Sequence[Hashtag]
) -> tuple[list[float], float]:
    """Per-tag share of the zero-shot score (sums to 1 when anything matched), and evidence."""
    model = _model_for(tuple(hashtags))
    raw, evidence = model.scores(title, text)
    total = sum(raw)
    return ([r / total for r in raw] if total > 0 else raw), evidence


def classify(
    title: str, text: str, hashtags: list[Hashtag] | None = None
) -> list[tuple[str, float]]:
    """Hashtags of an item, best first: a primary, up to two secondaries, or ``#other``.

    Scores are confidences in [0, 1]. ``hashtags`` defaults to the spec's list.
    """
    tags = hashtags if hashtags is not None else default_hashtags()
    shares, evidence = zero_shot_shares(title, text, tags)
    return _assign([h.tag for h in tags], shares, evidence)


# --- editors' corrections: per-channel nearest-centroid model ---------------------------

_N_FEATURES = 2**18


def _vectorize(docs: Iterable[str]) -> Any:  # a scipy sparse matrix
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.preprocessing import normalize

    vec = HashingVectorizer(
        n_features=_N_FEATURES,
        alternate_sign=False,
        norm=None,
        stop_words="english",
        ngram_range=(1, 2),
    )
    matrix = vec.transform(list(docs))
    matrix.data = np.log1p(matrix.data)  # sublinear term frequency
    return normalize(matrix)


@dataclass
class Example:
    """An editor-corrected item: its text and the hashtag the editor chose."""

    title: str
    text: str
    tag: str


class ChannelClassifier:
    """A channel's hashtags with its editors' corrections blended into the zero-shot scores.

    The weight of the learned part grows with the number of examples
    (``n / (n + half_weight_at)``, at most ``max_weight``).
    """

    def __init__(
        self,
        hashtags: Sequence[Hashtag] | None = None,
        examples: Sequence[Example] = (),
        *,
        half_weight_at: int = 10,
        max_weight: float = 0.7,
    ) -> None:
        self.hashtags = list(hashtags) if hashtags is not None else default_hashtags()
        self.tags = [h.tag for h in self.hashtags]
        known = set(self.tags)
        self.examples = [e for e in examples if e.tag in known]
        n = len(self.examples)
        self.weight = min(max_weight, n / (n + half_weight_at)) if n else 0.0
        self._centroids: dict[str, np.ndarray] = {}
        if self.examples:
            import numpy as np

            matrix = _vectorize(f"{e.title} {e.title} {e.text}" for e in self.examples)
            for tag in {e.tag for e in self.examples}:
                rows = [i for i, e in enumerate(self.examples) if e.tag == tag]
                centroid = np.asarray(matrix[rows].mean(axis=0)).ravel()
                norm = float(np.linalg.norm(centroid))
                self._centroids[tag] = centroid / norm if norm else centroid

    def classify(self, title: str, text: str) -> list[tuple[str, float]]:
        """Like :func:`classify`, with this channel's corrections taken into account."""
        shares, evidence = zero_shot_shares(title, text, self.hashtags)
        if not self._centroids:
            return _assign(self.tags, shares, evidence)
        doc = _vectorize([f"{title} {title} {text}"])
        sims = {t: float(doc.dot(c)[0]) for t, c in self._centroids.items()}
        # Sharpen similarities into a distribution over the tags that have examples.
        powered = {t: max(s, 0.0) ** 3 for t, s in sims.items()}
        total = sum(powered.values())
        learned = [powered.get(t, 0.0) / total if total else 0.0 for t in self.tags]
        blended = [
            (1 - self.weight) * z + self.weight * c for z, c in zip(shares, learned, strict=True)
        ]
        # A strong match to an editor's example is evidence in its own right.
        best_sim = max(sims.values(), default=0.0)
        return _assign(self.tags, blended, max(evidence, best_sim))

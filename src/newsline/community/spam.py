"""Spam: the signals that hold a comment for a moderator, and each channel's learnt model.

Signals (:func:`hold_reason`), each configured per channel (``[channels.comments]``):

- more links than ``max_links``;
- the same text already posted by the same author, or from the same network, lately;
- posting velocity: more than ``velocity_max`` comments by the author in ten minutes;
- a word of the channel's ``blocked_words``;
- a first comment of an account when the channel holds those (``hold_first_comments``);
- the channel's spam model, once moderators have taught it enough.

The model is a naive Bayes classifier over hashed word features (words, link hosts), one
per channel, stored as counts in ``spam_feature``: moderators' decisions teach it
(:func:`learn`: spam or hidden is spam, restored or approved is ham), the way editors'
hashtag corrections teach the tagger. Counts change by atomic upserts, so concurrent
decisions lose nothing, and a comment whose label changes is first unlearnt. Until the
channel has :data:`MIN_DECISIONS` decisions (:data:`MIN_EACH` of each kind) the model says
nothing and the signals decide alone.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsline.config import CommentSettings
from newsline.db.models import Comment, SpamFeature

BUCKETS = 1 << 22
#: The bucket counting the comments themselves.
PRIOR = -1
MIN_DECISIONS = 20
MIN_EACH = 5
MAX_FEATURES = 400
VELOCITY_WINDOW = timedelta(minutes=10)
REPEAT_WINDOW = timedelta(hours=24)

_WORD = re.compile(r"\w{2,30}")
_URL = re.compile(r"https?://[^\s<>()\[\]\"']+", re.IGNORECASE)
Label = str  # "spam" | "ham"


def _bucket(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest()) % BUCKETS


def features(text: str) -> list[int]:
    """The hashed features of a body: its distinct words and link hosts (at most a few hundred)."""
    found: set[str] = set()
    for url in _URL.findall(text):
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        found.add(f"host:{host}")
    links = len(_URL.findall(text))
    found.add(f"links:{min(links, 5)}")
    for word in _WORD.findall(text.casefold()):
        found.add(word)
        if len(found) >= MAX_FEATURES:
            break
    return sorted({_bucket(f) for f in found})


def _upsert(session: Session, channel_id: int, buckets: list[int], spam: int, ham: int) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [{"channel_id": channel_id, "bucket": b, "spam": spam, "ham": ham} for b in buckets]
    statement = insert(SpamFeature).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SpamFeature.channel_id, SpamFeature.bucket],
            set_={
                "spam": SpamFeature.spam + statement.excluded.spam,
                "ham": SpamFeature.ham + statement.excluded.ham,
            },
        )
    )


def learn(session: Session, comment: Comment, label: Label) -> None:
    """Teach the comment's channel that this comment is `label` (``spam`` or ``ham``)."""
    if label not in ("spam", "ham"):
        raise ValueError(f"unknown label {label!r}")
    if comment.trained == label or not comment.body:
        return
    buckets = [PRIOR, *features(comment.body)]
    if comment.trained is not None:  # a moderator changed their mind: unlearn first
        old_spam = 1 if comment.trained == "spam" else 0
        _upsert(session, comment.channel_id, buckets, -old_spam, old_spam - 1)
    is_spam = 1 if label == "spam" else 0
    _upsert(session, comment.channel_id, buckets, is_spam, 1 - is_spam)
    comment.trained = label


@dataclass(frozen=True)
class ModelState:
    """How much a channel's model has learnt."""

    spam: int
    ham: int

    @property
    def ready(self) -> bool:
        return self.spam + self.ham >= MIN_DECISIONS and min(self.spam, self.ham) >= MIN_EACH


def model_state(session: Session, channel_id: int) -> ModelState:
    """The decisions the channel's model has learnt from."""
    row = session.get(SpamFeature, (channel_id, PRIOR))
    return ModelState(spam=row.spam, ham=row.ham) if row is not None else ModelState(0, 0)


def spam_probability(session: Session, channel_id: int, text: str) -> float | None:
    """The model's probability that `text` is spam on this channel; None until it is ready."""
    state = model_state(session, channel_id)
    if not state.ready:
        return None
    buckets = features(text)
    counts = {
        b: (s, h)
        for b, s, h in session.execute(
            select(SpamFeature.bucket, SpamFeature.spam, SpamFeature.ham).where(
                SpamFeature.channel_id == channel_id, SpamFeature.bucket.in_(buckets)
            )
        )
    }
    # Bernoulli naive Bayes over the features present, Laplace-smoothed.
    odds = math.log(state.spam / state.ham)
    for bucket in buckets:
        s, h = counts.get(bucket, (0, 0))
        odds += math.log((s + 1) / (state.spam + 2)) - math.log((h + 1) / (state.ham + 2))
    odds = max(-50.0, min(50.0, odds))
    return 1 / (1 + math.exp(-odds))


def _words_blocked(text: str, words: list[str]) -> str | None:
    folded = text.casefold()
    for word in words:
        needle = word.strip().casefold()
        if needle and re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", folded):
            return word.strip()
    return None


def content_hold_reason(
    session: Session, settings: CommentSettings, channel_id: int, body: str
) -> str | None:
    """Why a body's content alone holds it (links, blocked words, the model), or None."""
    links = len(_URL.findall(body))
    if links > settings.max_links:
        return f"{links} links (more than {settings.max_links})"
    blocked = _words_blocked(body, settings.blocked_words)
    if blocked is not None:
        return f"blocked word: {blocked}"
    probability = spam_probability(session, channel_id, body)
    if probability is not None and probability >= settings.spam_threshold:
        return f"spam model: {probability:.2f}"
    return None


def hold_reason(
    session: Session,
    settings: CommentSettings,
    *,
    channel_id: int,
    author_id: int,
    network: str,
    body: str,
    now: datetime,
) -> str | None:
    """Why a new comment is held for a moderator instead of published, or None."""
    reason = content_hold_reason(session, settings, channel_id, body)
    if reason is not None:
        return reason
    since = now - REPEAT_WINDOW
    same_text = select(Comment.id).where(Comment.body == body, Comment.created_at >= since)
    if session.scalar(same_text.where(Comment.author_id == author_id).limit(1)) is not None:
        return "repeated text by the same author"
    if network and (
        session.scalar(
            same_text.where(Comment.channel_id == channel_id, Comment.network == network).limit(1)
        )
        is not None
    ):
        return "repeated text from the same network"
    recent = session.scalar(
        select(func.count())
        .select_from(Comment)
        .where(Comment.author_id == author_id, Comment.created_at >= now - VELOCITY_WINDOW)
    )
    if (recent or 0) >= settings.velocity_max:
        return f"posting fast: {recent} comments in ten minutes"
    if settings.hold_first_comments:
        earlier = session.scalar(
            select(Comment.id)
            .where(
                Comment.author_id == author_id,
                Comment.channel_id == channel_id,
                Comment.status == "published",
            )
            .limit(1)
        )
        if earlier is None:
            return "first comment on this channel"
    return None

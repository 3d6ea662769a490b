"""A signed-in reader's own newsline: publications switched off, hashtags followed, items saved.

Per channel, a reader may switch publications of the channel's newsline off (the spec's
per-reader newsline) and follow hashtags; they may save items for later. :func:`keeps` is
the one rule deciding whether an item belongs in the reader's newsline: not from a
publication switched off, and — once the reader follows any hashtag of the channel — tagged
with one of them. The private feeds load :class:`ReaderChoices` once and ask :func:`keeps`
per item; the site's lists (web/newsline.py) leave the switched-off publications out in
their queries and show the followed hashtags' stories in a "For you" band and page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session

from newsline.db.models import ReaderHashtag, ReaderPublication, SavedItem, utcnow
from newsline.db.raw import raw_rows
from newsline.errors import NewslineError
from newsline.text import hashtag_name

#: A reader follows at most this many hashtags per channel, and saves at most this many items.
MAX_HASHTAGS = 100
MAX_SAVED = 1000


class PreferenceError(NewslineError):
    """A choice that cannot be recorded (too many, unknown hashtag, ...)."""


@dataclass(frozen=True)
class ReaderChoices:
    """What a reader chose for one channel."""

    hidden_publications: frozenset[int] = frozenset()
    hashtags: frozenset[str] = frozenset()
    #: How many items the reader saved (in every channel).
    saved: int = 0

    def __bool__(self) -> bool:
        """Whether the reader narrowed the channel's lists (else they are everybody's)."""
        return bool(self.hidden_publications or self.hashtags)


def keeps(choices: ReaderChoices, publication_id: int, item_hashtags: Iterable[str]) -> bool:
    """Whether an item is in the reader's newsline of the channel."""
    if publication_id in choices.hidden_publications:
        return False
    if choices.hashtags:
        return any(tag in choices.hashtags for tag in item_hashtags)
    return True


_CHOICES = (
    "SELECT 0, publication_id, NULL FROM reader_publication "
    "WHERE user_id = :user AND channel_id = :channel "
    "UNION ALL SELECT 1, NULL, hashtag FROM reader_hashtag "
    "WHERE user_id = :user AND channel_id = :channel "
    "UNION ALL SELECT 2, count(*), NULL FROM saved_item WHERE user_id = :user"
)


def choices(conn: Connection, user_id: int, channel_id: int) -> ReaderChoices:
    """Everything the reader chose for the channel, and how many items they saved: one
    statement on the driver's cursor (every signed-in list page reads it; the ORM's three
    reads cost ~10x more). A session's writes are seen on ``session.connection()``."""
    hidden: set[int] = set()
    followed: set[str] = set()
    saved = 0
    for kind, number, tag in raw_rows(conn, _CHOICES, {"user": user_id, "channel": channel_id}):
        if kind == 0:
            hidden.add(int(number))
        elif kind == 1:
            followed.add(tag)
        else:
            saved = int(number or 0)
    return ReaderChoices(frozenset(hidden), frozenset(followed), saved)


def set_hidden_publications(
    session: Session,
    user_id: int,
    channel_id: int,
    hidden: Iterable[int],
    allowed: Iterable[int],
) -> None:
    """Switch exactly these publications off (of `allowed`, the channel's own)."""
    wanted = set(hidden)
    unknown = wanted - set(allowed)
    if unknown:
        raise PreferenceError("That publication is not part of this channel.")
    session.execute(
        delete(ReaderPublication).where(
            ReaderPublication.user_id == user_id, ReaderPublication.channel_id == channel_id
        )
    )
    session.add_all(
        ReaderPublication(user_id=user_id, channel_id=channel_id, publication_id=publication_id)
        for publication_id in sorted(wanted)
    )
    session.flush()


def set_followed_hashtags(
    session: Session,
    user_id: int,
    channel_id: int,
    hashtags: Iterable[str],
    allowed: Iterable[str],
) -> None:
    """Follow exactly these hashtags (of `allowed`, the channel's)."""
    wanted = {hashtag_name(tag) for tag in hashtags if tag.strip()}
    if wanted - set(allowed):
        raise PreferenceError("That hashtag is not one of this channel's.")
    if len(wanted) > MAX_HASHTAGS:
        raise PreferenceError(f"You can follow at most {MAX_HASHTAGS} hashtags per channel.")
    session.execute(
        delete(ReaderHashtag).where(
            ReaderHashtag.user_id == user_id, ReaderHashtag.channel_id == channel_id
        )
    )
    session.add_all(
        ReaderHashtag(user_id=user_id, channel_id=channel_id, hashtag=tag) for tag in sorted(wanted)
    )
    session.flush()


def save_item(session: Session, user_id: int, item_id: int) -> None:
    """Save an item for later (idempotent)."""
    if session.get(SavedItem, (user_id, item_id)) is not None:
        return
    if saved_count(session, user_id) >= MAX_SAVED:
        raise PreferenceError(f"You can save at most {MAX_SAVED} items; remove some first.")
    session.add(SavedItem(user_id=user_id, item_id=item_id, saved_at=utcnow()))
    session.flush()


def unsave_item(session: Session, user_id: int, item_id: int) -> bool:
    """Forget a saved item; whether it was saved."""
    row = session.get(SavedItem, (user_id, item_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def saved_count(session: Session, user_id: int) -> int:
    """How many items the reader saved."""
    return int(
        session.scalar(
            select(func.count()).select_from(SavedItem).where(SavedItem.user_id == user_id)
        )
        or 0
    )


def saved_item_ids(session: Session, user_id: int) -> list[int]:
    """The reader's saved items, most recently saved first."""
    return list(
        session.scalars(
            select(SavedItem.item_id)
            .where(SavedItem.user_id == user_id)
            .order_by(SavedItem.saved_at.desc(), SavedItem.item_id.desc())
        )
    )

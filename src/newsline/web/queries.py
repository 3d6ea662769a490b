"""Read queries of the site: what a channel shows, newest first, with keyset cursors.

Only items that are ``ready``, not duplicates, and from a publication in the channel's
newsline are ever listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, func, or_, select

from newsline.db.models import Feed, Item, ItemHashtag, Newsline, Publication


class CursorError(ValueError):
    """A pagination cursor that is not one of ours."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: What a cursor looks like: microseconds since 1970, a dash, the item id.
CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9]{1,18}$"
_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True)
class Cursor:
    """Position after the last item of a page: (sort_at, id), newest first."""

    sort_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.sort_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.id}"

    @classmethod
    def decode(cls, token: str) -> Cursor:
        if not _CURSOR.match(token):
            raise CursorError(f"invalid cursor {token[:40]!r}")
        micros, _, ident = token.partition("-")
        return cls(EPOCH + timedelta(microseconds=int(micros)), int(ident))


CARD_COLUMNS: tuple[Any, ...] = (
    Item.id,
    Item.slug,
    Item.title,
    Item.author,
    Item.sort_at,
    Item.published_at,
    Item.first_seen_at,
    Item.enriched_at,
    Item.site_name,
    Item.image_url,
    Item.teaser,
    Item.summary,
    Item.url,
    Item.canonical_url,
    Item.publication_id,
    Publication.tag.label("pub_tag"),
    Publication.name.label("pub_name"),
    Publication.icon_url.label("pub_icon"),
    Publication.republish.label("pub_republish"),
)
PAGE_COLUMNS: tuple[Any, ...] = (
    *CARD_COLUMNS,
    Item.image_caption,
    Item.body_html,
    Item.language,
    Item.story_id,
    Item.duplicate_of_id,
    Publication.home_url.label("pub_home"),
)


def members(channel_id: int) -> Select[int]:
    """The ids of the publications in a channel's newsline."""
    return select(Newsline.publication_id).where(Newsline.channel_id == channel_id)


def listed(channel_id: int) -> ColumnElement[bool]:
    """The condition for an item to be shown on a channel."""
    return and_(
        Item.state == "ready",
        Item.duplicate_of_id.is_(None),
        Item.publication_id.in_(members(channel_id)),
    )


def list_items(
    conn: Connection,
    channel_id: int,
    *,
    limit: int,
    cursor: Cursor | None = None,
    publication_id: int | None = None,
    hashtag: str | None = None,
    with_body: bool = False,
) -> tuple[Sequence[Row[Any]], Cursor | None]:
    """One page of a channel's items, newest first, and the cursor of the next page."""
    columns = PAGE_COLUMNS if with_body else CARD_COLUMNS
    query = select(*columns).join(Publication, Publication.id == Item.publication_id)
    query = query.where(listed(channel_id))
    if publication_id is not None:
        query = query.where(Item.publication_id == publication_id)
    if hashtag is not None:
        tagged = select(ItemHashtag.item_id).where(
            ItemHashtag.channel_id == channel_id, ItemHashtag.hashtag == hashtag
        )
        query = query.where(Item.id.in_(tagged))
    if cursor is not None:
        query = query.where(
            or_(
                Item.sort_at < cursor.sort_at,
                and_(Item.sort_at == cursor.sort_at, Item.id < cursor.id),
            )
        )
    query = query.order_by(Item.sort_at.desc(), Item.id.desc()).limit(limit + 1)
    rows = conn.execute(query).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = Cursor(rows[-1].sort_at, rows[-1].id)
    return rows, following


def item_page(conn: Connection, channel_id: int, pub_tag: str, slug: str) -> Row[Any] | None:
    """The item shown at ``/<channel>/topic/<pub_tag>/<slug>`` (duplicates included)."""
    query = (
        select(*PAGE_COLUMNS)
        .join(Publication, Publication.id == Item.publication_id)
        .where(
            Publication.tag == pub_tag,
            Item.state == "ready",
            Item.publication_id.in_(members(channel_id)),
        )
    )
    row = conn.execute(query.where(Item.slug == slug)).first()
    if row is None and slug.isdigit():  # items without a slug are addressed by id
        row = conn.execute(query.where(Item.id == int(slug), Item.slug.is_(None))).first()
    return row


def item_by_id(conn: Connection, channel_id: int, item_id: int) -> Row[Any] | None:
    """A listed item of the channel by id (for the API and duplicate redirects)."""
    query = (
        select(*PAGE_COLUMNS)
        .join(Publication, Publication.id == Item.publication_id)
        .where(Item.id == item_id, listed(channel_id))
    )
    return conn.execute(query).first()


def hashtags_of(conn: Connection, channel_id: int, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """The channel's hashtags of each item, primary first."""
    if not item_ids:
        return {}
    query = (
        select(ItemHashtag.item_id, ItemHashtag.hashtag)
        .where(ItemHashtag.channel_id == channel_id, ItemHashtag.item_id.in_(item_ids))
        .order_by(ItemHashtag.item_id, ItemHashtag.rank)
    )
    found: dict[int, list[str]] = {}
    for item_id, tag in conn.execute(query):
        found.setdefault(item_id, []).append(tag)
    return found


def publication(conn: Connection, channel_id: int, tag: str) -> Row[Any] | None:
    """A publication of the channel's newsline by tag."""
    query = select(Publication).where(
        Publication.tag == tag, Publication.id.in_(members(channel_id))
    )
    return conn.execute(query).first()


def publications(conn: Connection, channel_id: int) -> Sequence[Row[Any]]:
    """The publications of the channel's newsline, by name."""
    query = (
        select(Publication)
        .where(Publication.id.in_(members(channel_id)))
        .order_by(func.lower(Publication.name))
    )
    return conn.execute(query).all()


@dataclass
class SourceHealth:
    """A publication with its feeds' fetch health and how many items it has."""

    publication: Row[Any]
    feeds: list[Row[Any]]
    items: int

    @property
    def status(self) -> str:
        """``ok``, ``error``, ``new`` (never fetched) or ``none`` (no feed)."""
        if not self.feeds:
            return "none"
        states = {feed.status for feed in self.feeds}
        if "error" in states:
            return "error"
        return "ok" if "ok" in states else "new"

    @property
    def last_success_at(self) -> datetime | None:
        stamps = [f.last_success_at for f in self.feeds if f.last_success_at]
        return max(stamps) if stamps else None


def sources(conn: Connection, channel_id: int) -> list[SourceHealth]:
    """Every publication of the channel with its feeds and item count."""
    pubs = publications(conn, channel_id)
    ids = [p.id for p in pubs]
    feeds: dict[int, list[Row[Any]]] = {}
    for feed in conn.execute(select(Feed).where(Feed.publication_id.in_(ids)).order_by(Feed.url)):
        feeds.setdefault(feed.publication_id, []).append(feed)
    counts = dict(
        conn.execute(
            select(Item.publication_id, func.count())
            .where(
                Item.publication_id.in_(ids), Item.state == "ready", Item.duplicate_of_id.is_(None)
            )
            .group_by(Item.publication_id)
        ).all()
    )
    return [SourceHealth(p, feeds.get(p.id, []), int(counts.get(p.id, 0))) for p in pubs]


def sitemap_rows(conn: Connection, channel_id: int, offset: int, limit: int) -> Sequence[Any]:
    """Items for one sitemap file: (pub_tag, slug, id, modified)."""
    query = (
        select(
            Publication.tag.label("pub_tag"),
            Item.slug,
            Item.id,
            func.coalesce(Item.enriched_at, Item.first_seen_at).label("modified"),
        )
        .join(Publication, Publication.id == Item.publication_id)
        .where(listed(channel_id))
        .order_by(Item.id)
        .offset(offset)
        .limit(limit)
    )
    return conn.execute(query).all()


def count_listed(conn: Connection, channel_id: int) -> int:
    """How many items the channel lists."""
    return int(conn.scalar(select(func.count()).select_from(Item).where(listed(channel_id))) or 0)

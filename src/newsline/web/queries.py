"""Read queries of the site: what a channel shows, newest first, with keyset cursors.

Only items that are ``ready``, not duplicates, and from a publication in the channel's
newsline are ever listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, bindparam, func, select, text

from newsline.db.models import Feed, Item, Newsline, Publication, UTCDateTime


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


# Hot paths use prebuilt textual SQL: no statement building or cache-key work per request.
CARD_SQL = """
    item.id, item.slug, item.title, item.author, item.sort_at, item.published_at,
    item.first_seen_at, item.enriched_at, item.site_name, item.image_url, item.teaser,
    item.summary, item.url, item.canonical_url, item.publication_id,
    publication.tag AS publication_tag, publication.name AS publication_name,
    publication.icon_url AS publication_icon, publication.republish AS publication_republish
"""
PAGE_SQL = (
    CARD_SQL
    + """, item.image_caption, item.body_html, item.language, item.story_id,
    item.duplicate_of_id, item.content_source, publication.home_url AS publication_home,
    publication.is_channel_own AS publication_is_own
"""
)
#: Only ready, non-duplicate items of the channel's newsline are listed.
LISTED_SQL = """
    item.state = 'ready' AND item.duplicate_of_id IS NULL
    AND item.publication_id IN (SELECT publication_id FROM newsline WHERE channel_id = :channel)
"""
_STAMP = UTCDateTime()
#: Result types by column name, so datetimes come back aware (UTC) on every backend.
STAMP_TYPES: dict[str, Any] = {
    "sort_at": _STAMP,
    "published_at": _STAMP,
    "first_seen_at": _STAMP,
    "enriched_at": _STAMP,
}


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


@lru_cache(maxsize=32)
def _list_statement(with_body: bool, by_publication: bool, by_hashtag: bool, after: bool) -> Any:
    where = [LISTED_SQL]
    if by_publication:
        where.append("item.publication_id = :publication")
    if by_hashtag:
        where.append(
            "item.id IN (SELECT item_id FROM item_hashtag "
            "WHERE channel_id = :channel AND hashtag = :hashtag)"
        )
    if after:
        where.append(
            "(item.sort_at < :after_at OR (item.sort_at = :after_at AND item.id < :after_id))"
        )
    sql = (
        f"SELECT {PAGE_SQL if with_body else CARD_SQL} FROM item "
        "JOIN publication ON publication.id = item.publication_id "
        f"WHERE {' AND '.join(where)} ORDER BY item.sort_at DESC, item.id DESC LIMIT :limit"
    )
    clause = text(sql)
    if after:
        clause = clause.bindparams(bindparam("after_at", type_=_STAMP))
    return clause.columns(**STAMP_TYPES)


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
    params: dict[str, Any] = {"channel": channel_id, "limit": limit + 1}
    if publication_id is not None:
        params["publication"] = publication_id
    if hashtag is not None:
        params["hashtag"] = hashtag
    if cursor is not None:
        params["after_at"] = cursor.sort_at
        params["after_id"] = cursor.id
    statement = _list_statement(
        with_body, publication_id is not None, hashtag is not None, cursor is not None
    )
    rows = conn.execute(statement, params).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = Cursor(rows[-1].sort_at, rows[-1].id)
    return rows, following


_ITEM_BASE = (
    f"SELECT {PAGE_SQL} FROM item JOIN publication ON publication.id = item.publication_id "
    "WHERE publication.tag = :publication_tag AND item.state = 'ready' AND item.publication_id IN "
    "(SELECT publication_id FROM newsline WHERE channel_id = :channel)"
)
_ITEM_BY_SLUG = text(_ITEM_BASE + " AND item.slug = :slug").columns(**STAMP_TYPES)
_ITEM_BY_BARE_ID = text(_ITEM_BASE + " AND item.id = :id AND item.slug IS NULL").columns(
    **STAMP_TYPES
)
_ITEM_BY_ID = text(
    f"SELECT {PAGE_SQL} FROM item JOIN publication ON publication.id = item.publication_id "
    f"WHERE item.id = :id AND {LISTED_SQL}"
).columns(**STAMP_TYPES)


def item_page(
    conn: Connection, channel_id: int, publication_tag: str, slug: str
) -> Row[Any] | None:
    """The item shown on its page (duplicates included): by slug, or by id when it has none."""
    params: dict[str, Any] = {
        "publication_tag": publication_tag,
        "channel": channel_id,
        "slug": slug,
    }
    row = conn.execute(_ITEM_BY_SLUG, params).first()
    if row is None and slug.isdigit() and len(slug) < 19:  # items without a slug: by id
        params = {"publication_tag": publication_tag, "channel": channel_id, "id": int(slug)}
        row = conn.execute(_ITEM_BY_BARE_ID, params).first()
    return row


def item_by_id(conn: Connection, channel_id: int, item_id: int) -> Row[Any] | None:
    """A listed item of the channel by id (for the API and duplicate redirects)."""
    return conn.execute(_ITEM_BY_ID, {"id": item_id, "channel": channel_id}).first()


_HASHTAGS = text(
    "SELECT item_id, hashtag FROM item_hashtag WHERE channel_id = :channel "
    "AND item_id IN :ids ORDER BY item_id, rank"
).bindparams(bindparam("ids", expanding=True))


def hashtags_of(conn: Connection, channel_id: int, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """The channel's hashtags of each item, primary first."""
    if not item_ids:
        return {}
    found: dict[int, list[str]] = {}
    for item_id, hashtag in conn.execute(_HASHTAGS, {"channel": channel_id, "ids": list(item_ids)}):
        found.setdefault(item_id, []).append(hashtag)
    return found


def publication(conn: Connection, channel_id: int, tag: str) -> Row[Any] | None:
    """A publication of the channel's newsline by its tag."""
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
class PublicationHealth:
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


def publication_health(conn: Connection, channel_id: int) -> list[PublicationHealth]:
    """Every publication of the channel with its feeds and item count."""
    rows = publications(conn, channel_id)
    ids = [p.id for p in rows]
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
    return [PublicationHealth(p, feeds.get(p.id, []), int(counts.get(p.id, 0))) for p in rows]


def sitemap_rows(conn: Connection, channel_id: int, offset: int, limit: int) -> Sequence[Any]:
    """Items for one sitemap file: (publication_tag, slug, id, modified)."""
    query = (
        select(
            Publication.tag.label("publication_tag"),
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

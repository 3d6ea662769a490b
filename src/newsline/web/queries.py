"""Read queries of the site: what a channel shows, newest first, with keyset cursors.

Only items that are ``ready``, not duplicates, and from a publication in the channel's
newsline are ever listed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Result,
    Row,
    Select,
    and_,
    bindparam,
    func,
    select,
    text,
)

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
    item.summary, item.url, item.canonical_url, item.publication_id, item.comment_count,
    publication.tag AS publication_tag, publication.name AS publication_name,
    publication.icon_url AS publication_icon, publication.republish AS publication_republish
"""
PAGE_SQL = (
    CARD_SQL
    + """, item.image_caption, item.body_html, item.body_text, item.language, item.story_id,
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


def _where(
    by_publication: bool, by_hashtag: bool, hiding: bool = False, following: bool = False
) -> list[str]:
    where = [LISTED_SQL]
    if by_publication:
        where.append("item.publication_id = :publication")
    if by_hashtag:
        # Walk the items newest first and check each one's hashtags by primary key, instead
        # of collecting and sorting all of the hashtag's items (SQLite did: 50 ms at 100,000).
        where.append(
            "EXISTS (SELECT 1 FROM item_hashtag WHERE item_hashtag.item_id = item.id "
            "AND item_hashtag.channel_id = :channel AND item_hashtag.hashtag = :hashtag)"
        )
    if following:  # a signed-in reader's hashtags, any of them
        where.append(
            "EXISTS (SELECT 1 FROM item_hashtag WHERE item_hashtag.item_id = item.id "
            "AND item_hashtag.channel_id = :channel AND item_hashtag.hashtag IN :followed)"
        )
    if hiding:  # publications a signed-in reader switched off
        where.append("item.publication_id NOT IN :hidden")
    return where


def _reader_params(clause: Any, hiding: bool, following: bool) -> Any:
    if hiding:
        clause = clause.bindparams(bindparam("hidden", expanding=True))
    if following:
        clause = clause.bindparams(bindparam("followed", expanding=True))
    return clause


#: What grouping a list into stories needs of each item: no text beyond the title.
ENTRY_SQL = """
    item.id, item.story_id, item.sort_at, item.enriched_at, item.title,
    item.near_duplicate_of_id, story.updated_at AS story_updated_at,
    story.publication_count AS story_sources
"""


@lru_cache(maxsize=64)
def _entries_statement(
    by_publication: bool,
    by_hashtag: bool,
    after: bool,
    hiding: bool = False,
    following: bool = False,
) -> Any:
    where = _where(by_publication, by_hashtag, hiding, following)
    if after:
        where.append(
            "(item.sort_at < :after_at OR (item.sort_at = :after_at AND item.id < :after_id))"
        )
    sql = (
        f"SELECT {ENTRY_SQL} FROM item LEFT JOIN story ON story.id = item.story_id "
        f"WHERE {' AND '.join(where)} ORDER BY item.sort_at DESC, item.id DESC LIMIT :limit"
    )
    clause = text(sql)
    if after:
        clause = clause.bindparams(bindparam("after_at", type_=_STAMP))
    # Untyped results: converting every row's stamps cost more than the query (the version
    # key takes them as stored; `aware` converts the few that are used).
    return _reader_params(clause, hiding, following)


@lru_cache(maxsize=64)
def _shown_before_statement(
    by_publication: bool, by_hashtag: bool, hiding: bool = False, following: bool = False
) -> Any:
    # Stories with an item of this list newer than the cursor: already shown on a page before.
    where = _where(by_publication, by_hashtag, hiding, following)
    where.append("item.story_id IN :stories")
    where.append(
        "(item.sort_at > :after_at OR (item.sort_at = :after_at AND item.id >= :after_id))"
    )
    sql = f"SELECT DISTINCT item.story_id FROM item WHERE {' AND '.join(where)}"
    clause = text(sql).bindparams(
        bindparam("stories", expanding=True), bindparam("after_at", type_=_STAMP)
    )
    return _reader_params(clause, hiding, following)


def title_key(title: str) -> str:
    """A headline reduced to its words, for spotting the same headline twice."""
    return " ".join(re.findall(r"\w+", title.lower()))


def _headline(title: str) -> str:
    # title_key's cheap cousin for the hot path: case and spacing only.
    return " ".join(title.casefold().split())


def aware(value: Any) -> datetime:
    """A stamp as the database returned it untyped (SQLite: text), as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Entry:
    """One story card of a list: its lead item (the story's newest item on this list)."""

    id: int
    story_id: int | None
    sort_at: datetime
    enriched_at: Any  # as stored: only compared, never shown
    story_updated_at: Any
    sources: int = 1
    title: str = ""

    @property
    def version(self) -> tuple[Any, ...]:
        """What the card's HTML depends on: the lead item (its headline too: an editor may
        change it) and its story as last written."""
        return (self.id, self.enriched_at, self.title, self.story_id, self.story_updated_at)


def _list_params(
    channel_id: int,
    rows: int,
    cursor: Cursor | None,
    publication_id: int | None,
    hashtag: str | None,
) -> dict[str, Any]:
    """A list statement's parameters: the channel, how many `rows`, and the publication, the
    hashtag and the cursor's position when given."""
    params: dict[str, Any] = {"channel": channel_id, "limit": rows}
    if publication_id is not None:
        params["publication"] = publication_id
    if hashtag is not None:
        params["hashtag"] = hashtag
    if cursor is not None:
        params["after_at"] = cursor.sort_at
        params["after_id"] = cursor.id
    return params


def list_stories(
    conn: Connection,
    channel_id: int,
    *,
    limit: int,
    cursor: Cursor | None = None,
    publication_id: int | None = None,
    hashtag: str | None = None,
    hidden: Collection[int] = (),
    followed: Collection[str] = (),
) -> tuple[list[Entry], Cursor | None]:
    """One page of a list as stories, newest first: one entry per story (its newest item on
    the list leads), near-duplicates and repeated headlines dropped; and the next cursor.

    A story sits where its newest item on the list sits; a later page skips the stories an
    earlier page showed. For a signed-in reader, `hidden` publications' items are left out
    (a story of only those disappears) and, when `followed` names hashtags, only items
    carrying one of them are listed."""
    # Most stories have one item on a page: half a page more rows is enough to fill it.
    params = _list_params(channel_id, limit + limit // 2 + 1, cursor, publication_id, hashtag)
    if hidden:
        params["hidden"] = sorted(hidden)
    if followed:
        params["followed"] = sorted(followed)
    by_pub, by_tag = publication_id is not None, hashtag is not None
    reader = (bool(hidden), bool(followed))
    # fetchall: one call for the rows, where iterating the result fetches them one by one.
    rows = list(
        conn.execute(
            _entries_statement(by_pub, by_tag, cursor is not None, *reader), params
        ).fetchall()
    )
    more_rows = len(rows) == params["limit"]
    # Stories of several items fill a page with fewer cards: read on until it is full.
    stories_read = {r[1] or -r[0] for r in rows}
    while more_rows and len(stories_read) < limit and len(rows) < limit * 8:
        tail = rows[-1]
        more = params | {"after_at": aware(tail.sort_at), "after_id": tail.id}
        batch = conn.execute(_entries_statement(by_pub, by_tag, True, *reader), more).fetchall()
        more_rows = len(batch) == params["limit"]
        rows += batch
        stories_read.update(r[1] or -r[0] for r in batch)
    seen_stories: set[int] = set()
    if cursor is not None:
        stories = list({r.story_id for r in rows if r.story_id is not None})
        if stories:
            found = conn.execute(
                _shown_before_statement(by_pub, by_tag, *reader), params | {"stories": stories}
            )
            seen_stories = {story_id for (story_id,) in found}
    seen_titles: set[str] = set()
    entries: list[Entry] = []
    last: Any = None
    # Rows unpacked by position (ENTRY_SQL's order): by name cost more than the query.
    for row in rows:
        if len(entries) == limit:
            break
        last = row
        item_id, story_id, sort_at, enriched_at, title, _, story_updated_at, sources = row
        if story_id is not None:
            if story_id in seen_stories:
                continue
            seen_stories.add(story_id)
        words = _headline(title)
        if words and words in seen_titles:
            continue
        seen_titles.add(words)
        entries.append(
            Entry(
                item_id,
                story_id,
                aware(sort_at),
                enriched_at,
                story_updated_at,
                max(1, sources or 1),
                title,
            )
        )
    following = None
    if last is not None and (more_rows or last is not rows[-1]):
        following = Cursor(aware(last.sort_at), last.id)
    return entries, following


#: The items editors pinned (``publish.editorial``: pin), newest pin first, as entries: a
#: prebuilt statement (building it per request cost more than running it).
_PINNED = (
    text(
        "SELECT item.id, item.story_id, item.sort_at, item.enriched_at, item.title, "
        "item.publication_id, story.updated_at AS story_updated_at, "
        "story.publication_count AS story_sources, item.pinned_until "
        "FROM item LEFT JOIN story ON story.id = item.story_id "
        f"WHERE item.pinned_until > :now AND {LISTED_SQL} "
        "ORDER BY item.pinned_until DESC, item.id DESC LIMIT :limit"
    )
    .bindparams(bindparam("now", type_=_STAMP))
    .columns(sort_at=_STAMP, enriched_at=_STAMP, story_updated_at=_STAMP, pinned_until=_STAMP)
)


def pinned(conn: Connection, channel_id: int, now: datetime, limit: int = 3) -> list[Row[Any]]:
    """The channel's items pinned at `now` (at most `limit`, the newest pins first)."""
    return list(
        conn.execute(_PINNED, {"channel": channel_id, "now": now, "limit": limit}).fetchall()
    )


_CARDS = (
    text(
        f"SELECT {CARD_SQL}, item.story_id, item.near_duplicate_of_id FROM item "
        "JOIN publication ON publication.id = item.publication_id WHERE item.id IN :ids"
    )
    .bindparams(bindparam("ids", expanding=True))
    .columns(**STAMP_TYPES)
)

#: The other items of a story, as a card or an item page names them.
MEMBER_SQL = """
    item.id, item.slug, item.title, item.sort_at, item.story_id, item.publication_id,
    item.near_duplicate_of_id, item.image_url, publication.tag AS publication_tag,
    publication.name AS publication_name, publication.icon_url AS publication_icon
"""
_MEMBERS = (
    text(
        f"SELECT {MEMBER_SQL} FROM item JOIN publication ON publication.id = item.publication_id "
        f"WHERE item.story_id IN :stories AND {LISTED_SQL} "
        "ORDER BY item.sort_at DESC, item.id DESC"
    )
    .bindparams(bindparam("stories", expanding=True))
    .columns(**STAMP_TYPES)
)


def cards(conn: Connection, ids: Sequence[int]) -> dict[int, Row[Any]]:
    """The card columns of these items, by id."""
    if not ids:
        return {}
    return {row.id: row for row in conn.execute(_CARDS, {"ids": list(ids)}).fetchall()}


def story_members(
    conn: Connection, channel_id: int, story_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    """The listed items of these stories, newest first, by story id."""
    found: dict[int, list[Row[Any]]] = {}
    if not story_ids:
        return found
    params = {"channel": channel_id, "stories": list(story_ids)}
    for row in conn.execute(_MEMBERS, params).fetchall():
        found.setdefault(row.story_id, []).append(row)
    return found


def card_coverage(
    lead: Any, members: Sequence[Any], hidden: Collection[int] = ()
) -> tuple[list[Any], int]:
    """What a story card shows beside its `lead` of the story's `members`: the other coverage
    (:func:`coverage`) and how many publications cover the story, leaving out the `hidden`
    publications (a signed-in reader switched them off)."""
    if hidden:
        members = [m for m in members if m.publication_id not in hidden]
    sources = len({m.publication_id for m in members} | {lead.publication_id})
    return coverage(lead, members), sources


def coverage(lead: Any, members: Sequence[Any]) -> list[Any]:
    """The other coverage a story card names beside its lead: one item per other
    publication (its newest), no near-duplicate of an item shown and no repeated headline."""
    shown_titles = {title_key(lead.title)}
    shown_pubs = {lead.publication_id}
    shown_ids = {lead.id}
    out = []
    for row in members:
        if row.id in shown_ids or row.publication_id in shown_pubs:
            continue
        if row.near_duplicate_of_id in shown_ids:
            continue
        words = title_key(row.title)
        if words in shown_titles:
            continue
        shown_titles.add(words)
        shown_pubs.add(row.publication_id)
        shown_ids.add(row.id)
        out.append(row)
    return out


_STORY = text(
    "SELECT id, title, first_seen_at, updated_at, item_count, publication_count "
    "FROM story WHERE id = :id"
).columns(first_seen_at=_STAMP, updated_at=_STAMP)
#: A signed-in reader's switched-off publications, left out of a story.
_NOT_HIDDEN = " AND item.publication_id NOT IN :hidden"


@lru_cache(maxsize=4)
def _story_items_statement(hiding: bool) -> Any:
    clause = (
        text(
            "SELECT item.id, item.sort_at, item.enriched_at, item.publication_id FROM item "
            f"WHERE item.story_id = :story AND {LISTED_SQL}{_NOT_HIDDEN if hiding else ''} "
            "AND (item.sort_at < :after_at OR (item.sort_at = :after_at AND item.id < :after_id)) "
            "ORDER BY item.sort_at DESC, item.id DESC LIMIT :limit"
        )
        .bindparams(bindparam("after_at", type_=_STAMP))
        .columns(**STAMP_TYPES)
    )
    return _reader_params(clause, hiding, False)


@lru_cache(maxsize=4)
def _story_sources_statement(hiding: bool) -> Any:
    clause = text(
        "SELECT count(*) AS items, count(DISTINCT item.publication_id) AS sources, "
        f"max(item.sort_at) AS newest FROM item WHERE item.story_id = :story AND {LISTED_SQL}"
        + (_NOT_HIDDEN if hiding else "")
    ).columns(newest=_STAMP)
    return _reader_params(clause, hiding, False)


def story(conn: Connection, story_id: int) -> Row[Any] | None:
    """A story row."""
    return conn.execute(_STORY, {"id": story_id}).first()


#: A cursor before every item.
FAR_FUTURE = Cursor(datetime(9999, 1, 1, tzinfo=UTC), 0)


def story_items(
    conn: Connection,
    channel_id: int,
    story_id: int,
    limit: int,
    cursor: Cursor | None = None,
    hidden: Collection[int] = (),
) -> tuple[list[Entry], Cursor | None]:
    """The channel's items of a story (not of the `hidden` publications), newest first, and
    the next page's cursor."""
    after = cursor or FAR_FUTURE
    params: dict[str, Any] = {
        "story": story_id,
        "channel": channel_id,
        "limit": limit + 1,
        "after_at": after.sort_at,
        "after_id": after.id if cursor else 2**62,
    }
    if hidden:
        params["hidden"] = sorted(hidden)
    rows, following = _one_page(conn.execute(_story_items_statement(bool(hidden)), params), limit)
    return [Entry(r.id, story_id, r.sort_at, r.enriched_at, None) for r in rows], following


def story_coverage(
    conn: Connection, channel_id: int, story_id: int, hidden: Collection[int] = ()
) -> tuple[int, int, Any]:
    """How many items and publications of the channel (not the `hidden` ones) cover a story,
    and its newest time."""
    params: dict[str, Any] = {"story": story_id, "channel": channel_id}
    if hidden:
        params["hidden"] = sorted(hidden)
    row = conn.execute(_story_sources_statement(bool(hidden)), params).one()
    return int(row.items), int(row.sources), row.newest


_MORE_FROM = text(
    f"SELECT {MEMBER_SQL} FROM item JOIN publication ON publication.id = item.publication_id "
    "WHERE item.publication_id = :publication AND item.id != :id "
    "AND item.state = 'ready' AND item.duplicate_of_id IS NULL "
    "ORDER BY item.sort_at DESC, item.id DESC LIMIT :limit"
).columns(**STAMP_TYPES)


def more_from(conn: Connection, publication_id: int, item_id: int, limit: int) -> list[Row[Any]]:
    """The publication's newest other items."""
    params = {"publication": publication_id, "id": item_id, "limit": limit}
    return list(conn.execute(_MORE_FROM, params).fetchall())


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
    params = _list_params(channel_id, limit + 1, cursor, publication_id, hashtag)
    statement = _list_statement(
        with_body, publication_id is not None, hashtag is not None, cursor is not None
    )
    return _one_page(conn.execute(statement, params), limit)


def _one_page(result: Result[Any], limit: int) -> tuple[Sequence[Row[Any]], Cursor | None]:
    """A page of `limit` rows of a result read one row further (sort_at, id newest first),
    and the next page's cursor when that row was there."""
    rows = result.all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, Cursor(rows[-1].sort_at, rows[-1].id)


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
    rows = conn.execute(_HASHTAGS, {"channel": channel_id, "ids": list(item_ids)}).fetchall()
    for item_id, hashtag in rows:
        found.setdefault(item_id, []).append(hashtag)
    return found


_HASHTAG_IN_USE = text(
    "SELECT 1 FROM item_hashtag JOIN item ON item.id = item_hashtag.item_id "
    "WHERE item_hashtag.channel_id = :channel AND item_hashtag.hashtag = :hashtag "
    "AND item.state = 'ready' AND item.duplicate_of_id IS NULL LIMIT 1"
)


def hashtags_in_use(conn: Connection, channel_id: int, hashtags: Sequence[str]) -> set[str]:
    """Those of `hashtags` that some ready item of the channel has."""
    return {
        tag
        for tag in hashtags
        if conn.execute(_HASHTAG_IN_USE, {"channel": channel_id, "hashtag": tag}).first()
    }


def publication(conn: Connection, channel_id: int, tag: str) -> Row[Any] | None:
    """A publication of the channel's newsline by its tag."""
    query = select(Publication).where(
        Publication.tag == tag, Publication.id.in_(members(channel_id))
    )
    return conn.execute(query).first()


_PUBLICATION_HEADING = text(
    "SELECT publication.id, publication.tag, publication.name, publication.is_channel_own "
    "FROM publication WHERE publication.tag = :tag AND publication.id IN "
    "(SELECT newsline.publication_id FROM newsline WHERE newsline.channel_id = :channel)"
)


def publication_heading(conn: Connection, channel_id: int, tag: str) -> Row[Any] | None:
    """What a publication's page shows of it (id, tag, name, is_channel_own), by its tag
    among the channel's newsline: one prebuilt statement."""
    return conn.execute(_PUBLICATION_HEADING, {"tag": tag, "channel": channel_id}).first()


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


#: Pages whose canonical address is ours, for the sitemap: stories covered by two or more
#: publications (the story page; lastmod its newest item), and items with no source page
#: elsewhere (Digests, link-less entries; lastmod their publication time). An item page
#: with a source names that source as canonical (the spec), so it is not listed.
_SITEMAP_UNION = f"""
    SELECT 0 AS kind, item.story_id AS id, '' AS publication_tag, '' AS slug,
        max(item.sort_at) AS modified
    FROM item WHERE item.story_id IS NOT NULL AND {LISTED_SQL}
    GROUP BY item.story_id HAVING count(DISTINCT item.publication_id) > 1
    UNION ALL
    SELECT 1 AS kind, item.id AS id, publication.tag AS publication_tag, item.slug AS slug,
        item.sort_at AS modified
    FROM item JOIN publication ON publication.id = item.publication_id
    WHERE {LISTED_SQL} AND (publication.is_channel_own = :own OR (
        coalesce(item.canonical_url, '') NOT LIKE 'http%'
        AND item.url NOT LIKE 'http://%' AND item.url NOT LIKE 'https://%'))
"""
_SITEMAP_ROWS = text(
    f"SELECT * FROM ({_SITEMAP_UNION}) AS pages ORDER BY kind, id LIMIT :limit OFFSET :offset"
).columns(modified=_STAMP)
_SITEMAP_COUNT = text(f"SELECT count(*) FROM ({_SITEMAP_UNION}) AS pages")
_SITEMAP_LISTS = text(
    "SELECT publication.tag AS publication_tag, max(item.sort_at) AS modified "
    "FROM item JOIN publication ON publication.id = item.publication_id "
    f"WHERE {LISTED_SQL} GROUP BY publication.tag ORDER BY publication.tag"
).columns(modified=_STAMP)


def sitemap_rows(conn: Connection, channel_id: int, offset: int, limit: int) -> Sequence[Any]:
    """One sitemap file's pages: (kind 0 story | 1 item, id, publication_tag, slug, modified)."""
    params = {"channel": channel_id, "offset": offset, "limit": limit, "own": True}
    return conn.execute(_SITEMAP_ROWS, params).all()


def count_sitemap(conn: Connection, channel_id: int) -> int:
    """How many story and item pages the channel's sitemap lists."""
    return int(conn.scalar(_SITEMAP_COUNT, {"channel": channel_id, "own": True}) or 0)


def publication_lists(conn: Connection, channel_id: int) -> Sequence[Any]:
    """Each publication of the channel with items, and its newest item's time."""
    return conn.execute(_SITEMAP_LISTS, {"channel": channel_id}).all()


def count_listed(conn: Connection, channel_id: int) -> int:
    """How many items the channel lists."""
    return int(conn.scalar(select(func.count()).select_from(Item).where(listed(channel_id))) or 0)

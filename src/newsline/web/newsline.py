"""List pages: the front page (``/<channel>/newsline``), one publication
(``/<channel>/solo/<pubtag>``, the original's path) and one hashtag."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Connection

from newsline import urls
from newsline.community import preferences
from newsline.community.preferences import ReaderChoices
from newsline.db import data_version
from newsline.db.models import utcnow
from newsline.web import queries
from newsline.web.auth import Viewer, require_viewer, viewer
from newsline.web.queries import Cursor, CursorError, Entry
from newsline.web.render import (
    AgeMarks,
    ages,
    fragment_cache,
    kept_page,
    page,
    render_fragment,
    respond_kept,
)
from newsline.web.site import BadRequest, ChannelRef, NotFound, Site, site_of

router = APIRouter(include_in_schema=False)


def cursor_of(channel: ChannelRef, before: str | None) -> Cursor | None:
    """The cursor a ``?before=`` names, or :class:`BadRequest`."""
    if not before:
        return None
    try:
        return Cursor.decode(before)
    except CursorError as exc:
        raise BadRequest(
            "That page link is broken; start again from the front page.", channel
        ) from exc


def sitemap_lists(site: Site, conn: Connection, channel: ChannelRef) -> list[tuple[str, Any]]:
    """The channel's list pages for its sitemap: the front page and each publication's page
    (lastmod: their newest item), then the hashtag pages."""
    publications = queries.publication_lists(conn, channel.id)
    newest = max((p.modified for p in publications if p.modified), default=None)
    pages: list[tuple[str, Any]] = [(site.urls.absolute(site.urls.newsline(channel.slug)), newest)]
    pages += [
        (site.urls.absolute(site.urls.publication(channel.slug, p.publication_tag)), p.modified)
        for p in publications
    ]
    pages += [
        (site.urls.absolute(site.urls.hashtag(channel.slug, h.tag)), None)
        for h in channel.cfg.hashtags
    ]
    return pages


def sitemap_pages(
    site: Site, conn: Connection, channel: ChannelRef, per_file: int
) -> tuple[int, Callable[[int], list[tuple[str, Any]]]]:
    """How many sitemap files the channel needs, and a function giving file n (1-based):
    (absolute URL, last modified) of the pages whose canonical address is ours."""
    lists = sitemap_lists(site, conn, channel)
    total = len(lists) + queries.count_sitemap(conn, channel.id)
    files = max(1, -(-total // per_file))

    def file(number: int) -> list[tuple[str, Any]]:
        start = (number - 1) * per_file
        pages = lists[start : start + per_file]
        room = per_file - len(pages)
        if room > 0:
            offset = max(0, start - len(lists))
            for row in queries.sitemap_rows(conn, channel.id, offset, room):
                if row.kind == 0:
                    path = site.urls.story(channel.slug, row.id)
                else:
                    path = site.urls.item(channel.slug, row.publication_tag, row.slug or row.id)
                pages.append((site.urls.absolute(path), row.modified))
        return pages

    return files, file


#: The broadsheet's lead story is the best covered among this many newest stories.
LEAD_WINDOW = 8
#: Stories in the front page's "For you" band (the followed hashtags' newest).
FOR_YOU_BAND = 4
#: A personal page is the reader's alone: no shared cache may keep it.
PERSONAL = {"cache-control": "private, no-cache"}


@dataclass(frozen=True)
class Reader:
    """A signed-in reader's choices as a channel's lists honour them."""

    choices: ReaderChoices

    @property
    def hidden(self) -> frozenset[int]:
        """The publications switched off: their items never listed for this reader."""
        return self.choices.hidden_publications

    @property
    def followed(self) -> list[str]:
        """The hashtags followed, sorted."""
        return sorted(self.choices.hashtags)

    @property
    def personal(self) -> bool:
        """Whether the reader's lists differ from everybody's (else: today's page)."""
        return bool(self.choices) or self.saved > 0

    @property
    def saved(self) -> int:
        """How many items the reader saved."""
        return self.choices.saved


def reader_of(
    request: Request, channel: ChannelRef, conn: Connection | None = None
) -> Reader | None:
    """The signed-in reader's choices for the channel (read on `conn` when given); None for
    everybody else (no database work for them)."""
    me = viewer(request)
    if me is None:
        return None
    if conn is None:
        with site_of(request).engine.connect() as own:
            return Reader(preferences.choices(own, me.id, channel.id))
    return Reader(preferences.choices(conn, me.id, channel.id))


def story_cards(
    request: Request,
    conn: Connection,
    channel: ChannelRef,
    entries: Sequence[Entry],
    hidden: frozenset[int] = frozenset(),
    age_of: Callable[[Any], str] | None = None,
) -> list[Markup]:
    """One card per entry: its lead item, "N sources" and the other publications' headlines
    (none of the `hidden` publications, which a signed-in reader switched off).

    Cards are rendered once per version (the lead item and its story as last written, and
    the publications hidden) and kept as fragments; a request only fills in their ages
    (`age_of`: the page's own, when the page is kept with its ages open)."""
    cache = fragment_cache(request)
    hiding = (tuple(sorted(hidden)),) if hidden else ()
    keys = [(channel.id, "card", *entry.version, *hiding) for entry in entries]
    fragments = [cache.get(key) for key in keys]
    missing = [entry for entry, found in zip(entries, fragments, strict=True) if found is None]
    if missing:
        rows = queries.cards(conn, [e.id for e in missing])
        story_ids = [e.story_id for e in missing if e.story_id is not None]
        members = queries.story_members(conn, channel.id, story_ids)
        hashtags = queries.hashtags_of(conn, channel.id, [e.id for e in missing])
        for n, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            if fragments[n] is not None or entry.id not in rows:
                continue
            row = rows[entry.id]
            story = members.get(entry.story_id, []) if entry.story_id is not None else []
            others, sources = queries.card_coverage(row, story, hidden)
            fragment = render_fragment(
                request,
                channel,
                "_card.html",
                "card",
                row,
                hashtags.get(entry.id, []),
                None,
                None,
                others,
                sources,
            )
            cache.put(key, fragment)
            fragments[n] = fragment
    age_of = age_of or ages(channel)
    return [Markup(f.fill(age_of)) for f in fragments if f is not None]


#: How long a worker trusts its list of the hashtags that have items.
HASHTAGS_IN_USE_SECONDS = 60.0


def live_hashtags(request: Request, conn: Connection, channel: ChannelRef) -> set[str]:
    """The channel's hashtags that have items (the topic strip shows no empty topic),
    looked up at most once a minute per worker."""
    memo: dict[int, tuple[float, set[str]]] = site_of(request).memo(("live-hashtags",), dict)
    now = time.monotonic()
    found = memo.get(channel.id)
    if found is None or found[0] < now:
        tags = [h.tag for h in channel.cfg.hashtags]
        found = memo[channel.id] = (
            now + HASHTAGS_IN_USE_SECONDS,
            queries.hashtags_in_use(conn, channel.id, tags),
        )
    return found[1]


def lead_first(entries: list[Entry]) -> list[Entry]:
    """The list with its lead story first: the best covered of the newest few (the newest
    on a tie); the others keep their order."""
    if not entries:
        return entries
    window = entries[:LEAD_WINDOW]
    best = max(range(len(window)), key=lambda n: (window[n].sources, -n))
    return [entries[best], *entries[:best], *entries[best + 1 :]]


def pinned_first(
    conn: Connection,
    channel: ChannelRef,
    entries: list[Entry],
    hidden: frozenset[int] = frozenset(),
) -> tuple[list[Entry], datetime | None]:
    """The front page with the items editors pinned leading it (their stories once), but
    none of a publication the reader switched off (`hidden`); and when the first of those
    pins ends (the page changes then by time alone)."""
    rows = queries.pinned(conn, channel.id, utcnow())
    ends = min((row.pinned_until for row in rows), default=None)
    pins = [
        Entry(
            row.id,
            row.story_id,
            row.sort_at,
            row.enriched_at,
            row.story_updated_at,
            max(1, row.story_sources or 1),
            row.title,
        )
        for row in rows
        if row.publication_id not in hidden
    ]
    if not pins:
        return entries, ends
    items = {p.id for p in pins}
    stories = {p.story_id for p in pins if p.story_id is not None}
    rest = [e for e in entries if e.id not in items and e.story_id not in stories]
    return [*pins, *rest][: max(len(entries), len(pins))], ends


def _list_page(
    request: Request,
    channel: ChannelRef,
    *,
    column: str,
    title: str,
    before: str | None,
    publication_id: int | None = None,
    hashtag: str | None = None,
    feeds: dict[str, str] | None = None,
    intro: str = "",
    canonical: str | None = None,
    description: str = "",
    front: bool = False,
    for_you: bool = False,
    conn: Connection | None = None,
    version: int | None = None,
) -> HTMLResponse:
    """A page of cards; `feeds` are the list's own feed paths by kind (rss, atom, json).

    `front`: the channel's front page (an editor's pin leads it; a reader following hashtags
    gets a "For you" band); `for_you`: the list of a reader's followed hashtags. A signed-in
    reader's switched-off publications are left out of every list. `conn`: the page's
    connection when it has one, and `version` the data version it read on it first."""
    site = site_of(request)
    cursor = cursor_of(channel, before)
    opened = site.engine.connect() if conn is None else nullcontext(conn)
    with opened as conn:
        reader = reader_of(request, channel, conn)
        hidden = reader.hidden if reader else frozenset()
        followed = reader.followed if reader and for_you else []
        switched_off = publication_id is not None and publication_id in hidden
        # Kept by the data version, read before the data: never older than the version.
        key = (
            "list",
            channel.id,
            data_version.read(conn) if version is None else version,
            request.url.path,
            before if cursor else None,
            column,
            title,
            intro,
            reader is not None,
            tuple(sorted(hidden)),
            tuple(reader.followed) if reader else (),
            reader.saved if reader else 0,
        )
        kept = kept_page(request, channel, key)
        if kept is not None:
            return respond_kept(request, channel, kept, conn)
        marks = AgeMarks()
        until: datetime | None = None
        entries: list[Entry] = []
        following: Cursor | None = None
        if not switched_off and (followed or not for_you):
            entries, following = queries.list_stories(
                conn,
                channel.id,
                limit=site.settings.web.page_size,
                cursor=cursor,
                publication_id=publication_id,
                hashtag=hashtag,
                hidden=hidden,
                followed=followed,
            )
        broadsheet = cursor is None and publication_id is None
        if broadsheet:
            entries = lead_first(entries)
            if front:  # an editor's pin leads it
                entries, until = pinned_first(conn, channel, entries, hidden)
        band: list[Markup] = []
        if front and cursor is None and reader is not None and reader.followed:
            chosen, _ = queries.list_stories(
                conn, channel.id, limit=FOR_YOU_BAND, hidden=hidden, followed=reader.followed
            )
            band = story_cards(request, conn, channel, chosen, hidden, marks)
        newest = max((e.sort_at for e in entries), default=None)
        more = f"{request.url.path}?before={following.encode()}" if following else None
        personal = reader is not None and reader.personal
        return page(
            request,
            channel,
            "newsline.html",
            conn,
            column=column,
            title=title,
            # A reader's page changes with their choices too: the ETag alone revalidates it.
            last_modified=None if personal else newest,
            headers=PERSONAL if reader is not None else None,
            keep=key,
            marks=marks,
            until=until,
            cards=story_cards(request, conn, channel, entries, hidden, marks),
            broadsheet=broadsheet,
            live_hashtags=live_hashtags(request, conn, channel),
            more=more,
            first_page=cursor is None,
            list_feeds=feeds,
            intro=intro,
            canonical=site.urls.absolute(
                (canonical or request.url.path) + (f"?before={before}" if cursor else "")
            ),
            description=description
            or f"{channel.cfg.display_name}: the news from {channel.cfg.hometown} and beyond, "
            "story by story with every source's coverage.",
            reader=reader if personal else None,
            for_you_band=band,
            for_you=for_you,
            switched_off=switched_off,
        )


@router.get(urls.HOME)
async def home(request: Request, before: str | None = None) -> Response:
    """The default channel's front page."""
    site = site_of(request)
    channel = site.default_channel()
    # The same page as the channel's front page, which is the address search engines keep.
    return _list_page(
        request,
        channel,
        column="newsline",
        title=channel.cfg.display_name,
        before=before,
        canonical=site.urls.newsline(channel.slug),
        front=True,
    )


@router.get(urls.CHANNEL)
@router.get(urls.CHANNEL + "/")
async def channel_root(request: Request, channel_slug: str) -> Response:
    """A channel's bare prefix leads to its front page."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    return RedirectResponse(site.urls.newsline(channel.slug), status_code=308)


@router.get(urls.NEWSLINE)
async def front(request: Request, channel_slug: str, before: str | None = None) -> Response:
    """The channel's front page: newest items as cards."""
    channel = site_of(request).channel(channel_slug)
    return _list_page(
        request,
        channel,
        column="newsline",
        title=channel.cfg.display_name,
        before=before,
        front=True,
    )


@router.get(urls.FOR_YOU)
async def for_you(
    request: Request,
    channel_slug: str,
    before: str | None = None,
    me: Viewer = Depends(require_viewer),
) -> Response:
    """A signed-in reader's stories: those carrying a hashtag they follow."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    return _list_page(
        request,
        channel,
        column="For you",
        title=f"For you · {channel.cfg.display_name}",
        before=before,
        for_you=True,
        intro=f"The stories carrying a hashtag you follow, {me.display_name}.",
        description=f"{channel.cfg.display_name}: the stories on the hashtags you follow.",
    )


@router.get(urls.PUBLICATION)
async def publication_page(
    request: Request, channel_slug: str, publication_tag: str, before: str | None = None
) -> Response:
    """One publication's items; for the channel's own publication, its Digests."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    with site.engine.connect() as conn:
        version = data_version.read(conn)
        publication = publication_of(request, conn, channel, publication_tag, version)
        if publication is None:
            raise NotFound(f"no publication {publication_tag!r} on this channel", channel)
        return _publication_list(request, channel, publication, before, conn, version)


#: Publications remembered per worker (by channel and tag, with the data version read).
PUBLICATIONS_KEPT = 1024


def publication_of(
    request: Request, conn: Connection, channel: ChannelRef, tag: str, version: int
) -> Any:
    """The channel's publication `tag` as its page shows it, looked up once per data version
    and worker (renamed or moved out of the newsline: a write, so a new version)."""
    memo: dict[tuple[int, str], tuple[int, Any]] = site_of(request).memo(("publications",), dict)
    found = memo.get((channel.id, tag))
    if found is not None and found[0] == version:
        return found[1]
    # Read after the version: what is kept under a version is never older than it.
    row = queries.publication_heading(conn, channel.id, tag)
    if row is not None:  # unknown tags are not remembered: anybody can ask for any
        if len(memo) >= PUBLICATIONS_KEPT:
            memo.clear()
        memo[(channel.id, tag)] = (version, row)
    return row


def _publication_list(
    request: Request,
    channel: ChannelRef,
    publication: Any,
    before: str | None,
    conn: Connection,
    version: int,
) -> HTMLResponse:
    site = site_of(request)
    if publication.is_channel_own:
        return _list_page(
            request,
            channel,
            column="digest",
            title=f"The Digest · {channel.cfg.display_name}",
            before=before,
            publication_id=publication.id,
            feeds={kind: site.urls.digest_feed(channel.slug, kind) for kind in urls.FEED_FILES},
            intro=f"Every Digest of {channel.cfg.display_name}: the news of each half hour "
            "by hashtag, with a short overview."
            + (
                " Follow it by feed or e-mail."
                if site.settings.email.enabled
                else " Follow it by feed."
            ),
            conn=conn,
            version=version,
        )
    return _list_page(
        request,
        channel,
        column=publication.name,
        title=f"{publication.name} · {channel.cfg.display_name}",
        before=before,
        publication_id=publication.id,
        feeds={
            kind: site.urls.publication_feed(channel.slug, publication.tag, kind)
            for kind in urls.FEED_FILES
        },
        conn=conn,
        version=version,
    )


@router.get(urls.HASHTAG)
async def hashtag_page(
    request: Request, channel_slug: str, hashtag: str, before: str | None = None
) -> Response:
    """One hashtag's items."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    hashtag_cfg = channel.hashtag(hashtag)
    return _list_page(
        request,
        channel,
        column=f"#{hashtag_cfg.tag} feed",
        title=f"#{hashtag_cfg.tag} · {channel.cfg.display_name}",
        before=before,
        hashtag=hashtag_cfg.tag,
        feeds={
            kind: site.urls.hashtag_feed(channel.slug, hashtag_cfg.tag, kind)
            for kind in urls.FEED_FILES
        },
        intro=hashtag_cfg.description,
        description=hashtag_cfg.description
        or f"#{hashtag_cfg.tag}: the latest stories on {channel.cfg.display_name}.",
    )

"""The story page: ``/<channel>/story/<id>``, every item of the channel covering one story,
newest first, each with its publication."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import Connection

from newsline import urls
from newsline.db import data_version
from newsline.web import queries
from newsline.web.newsline import PERSONAL, cursor_of, reader_of
from newsline.web.queries import Entry
from newsline.web.render import (
    AgeMarks,
    ages,
    fragment_cache,
    kept_page,
    page,
    render_fragment,
    respond_kept,
)
from newsline.web.site import ChannelRef, NotFound, site_of

router = APIRouter(include_in_schema=False)

#: Items per page of a story (a long-running story has thousands).
STORY_PAGE = 60


def item_cards(
    request: Request,
    conn: Connection,
    channel: ChannelRef,
    entries: Sequence[Entry],
    age_of: Callable[[Any], str] | None = None,
) -> list[Markup]:
    """A plain card per item (no coverage: the page is the coverage), cached per version;
    `age_of`: the page's own (see :func:`newsline.web.newsline.story_cards`)."""
    cache = fragment_cache(request)
    keys = [(channel.id, "item-card", e.id, e.enriched_at) for e in entries]
    fragments = [cache.get(key) for key in keys]
    missing = [e.id for e, f in zip(entries, fragments, strict=True) if f is None]
    if missing:
        rows = queries.cards(conn, missing)
        for n, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            if fragments[n] is None and entry.id in rows:
                fragment = render_fragment(
                    request, channel, "_card.html", "card", rows[entry.id], []
                )
                cache.put(key, fragment)
                fragments[n] = fragment
    age_of = age_of or ages(channel)
    return [Markup(f.fill(age_of)) for f in fragments if f]


@router.get(urls.STORY)
async def story_page(
    request: Request, channel_slug: str, story_id: int, before: str | None = None
) -> Response:
    """One story: how many publications cover it, and their items, newest first."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    cursor = cursor_of(channel, before)
    with site.engine.connect() as conn:
        reader = reader_of(request, channel, conn)
        hidden = reader.hidden if reader else frozenset()
        # Kept by the data version, read before the data: never older than the version.
        key = (
            "story",
            channel.id,
            data_version.read(conn),
            story_id,
            before if cursor else None,
            reader is not None,
            tuple(sorted(hidden)),
        )
        kept = kept_page(request, channel, key)
        if kept is not None:
            return respond_kept(request, channel, kept, conn)
        marks = AgeMarks()
        story = queries.story(conn, story_id) if 0 < story_id < 2**62 else None
        if story is None:
            raise NotFound("no such story", channel)
        items, sources, newest = queries.story_coverage(conn, channel.id, story_id, hidden)
        if not items:
            if hidden and queries.story_coverage(conn, channel.id, story_id)[0]:
                raise NotFound(
                    "Every item of this story is from a publication you switched off.", channel
                )
            raise NotFound("no such story on this channel", channel)
        entries, following = queries.story_items(
            conn, channel.id, story_id, STORY_PAGE, cursor, hidden
        )
        path = site.urls.story(channel.slug, story_id)
        more = f"{path}?before={following.encode()}" if following else None
        canonical = site.urls.absolute(path + (f"?before={before}" if cursor else ""))
        title = story.title or "A story"
        description = (
            f"{title}: {items} item{'s' if items != 1 else ''} from {sources} "
            f"publication{'s' if sources != 1 else ''} on {channel.cfg.display_name}."
        )
        return page(
            request,
            channel,
            "story.html",
            conn,
            column="story",
            title=f"{title} · {channel.cfg.display_name}",
            last_modified=None if hidden else newest,
            headers=PERSONAL if reader is not None else None,
            story=story,
            heading=title,
            items=items,
            sources=sources,
            keep=key,
            marks=marks,
            cards=item_cards(request, conn, channel, entries, marks),
            more=more,
            canonical=canonical,
            description=description,
        )

"""A signed-in reader's choices on the web: their newsline of a channel, saved items, and the
private feeds that honour both.

- ``/<channel>/preferences`` — GET the form (publications shown, hashtags followed); POST it.
- ``/<channel>/preferences/save`` · ``/unsave`` — POST ``item_id`` (and ``next``).
- ``/account/saved`` — the saved items.
- ``/account/feed/<token>/<channel>/feed.xml`` (``atom.xml``, ``feed.json``) — the channel's
  feed as the reader set it up (:func:`newsline.community.preferences.keeps`), at an address
  with the reader's revocable feed token (made and revoked on the account page). Feed
  readers cannot sign in, so the token is the key; the response is ``private``.

The lists honour the same choices for the signed-in reader (:mod:`newsline.web.newsline`:
switched-off publications left out, a "For you" band and page of the followed hashtags);
anonymous readers and readers without choices get the shared, cacheable pages.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from newsline import urls
from newsline.community import accounts, preferences
from newsline.community.preferences import PreferenceError
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Item, Newsline, Publication
from newsline.publish.feeds_out import MEDIA_TYPES, FeedInfo, render
from newsline.web import queries
from newsline.web.auth import Viewer, require_viewer
from newsline.web.csrf import form_lists, require_csrf
from newsline.web.feeds import FEED_ITEMS, feed_entries
from newsline.web.render import page
from newsline.web.safety import local_path
from newsline.web.site import NO_STORE, ChannelRef, NotFound, see_other, site_of

router = APIRouter(include_in_schema=False)

#: How many of the channel's newest items a private feed picks its entries from.
PRIVATE_FEED_SCAN = 400


def _form_context(request: Request, channel: ChannelRef, me: Viewer) -> dict[str, Any]:
    site = site_of(request)
    with site.engine.connect() as conn:
        pubs = [
            (row.id, row.name, row.tag)
            for row in queries.publications(conn, channel.id)
            if row.tag != channel.cfg.own_tag
        ]
        chosen = preferences.choices(conn, me.id, channel.id)
    return {
        "publications": [
            {"id": pid, "name": name, "tag": tag, "shown": pid not in chosen.hidden_publications}
            for pid, name, tag in pubs
        ],
        "hashtags": [
            {
                "tag": h.tag,
                "description": h.description,
                "followed": h.tag in chosen.hashtags,
            }
            for h in channel.cfg.hashtags
        ],
    }


def _prefs_page(
    request: Request, channel: ChannelRef, me: Viewer, notice: str = "", status: int = 200
) -> HTMLResponse:
    return page(
        request,
        channel,
        "account_preferences.html",
        None,
        column="account",
        title=f"Your newsline · {channel.cfg.display_name}",
        status_code=status,
        headers=NO_STORE,
        heading=f"Your newsline of {channel.cfg.display_name}",
        notice=notice,
        **_form_context(request, channel, me),
    )


@router.get(urls.PREFERENCES)
def preferences_form(
    request: Request, channel_slug: str, me: Viewer = Depends(require_viewer), done: str = ""
) -> Response:
    """The reader's choices for one channel."""
    channel = site_of(request).channel(channel_slug)
    return _prefs_page(request, channel, me, "Your choices are saved." if done else "")


def _save_choices(
    request: Request, channel: ChannelRef, me: Viewer, form: dict[str, list[str]]
) -> None:
    site = site_of(request)
    with site.engine.connect() as conn:
        allowed = [
            row.id
            for row in queries.publications(conn, channel.id)
            if row.tag != channel.cfg.own_tag  # the channel's own (its digests) stays
        ]
    shown: set[int] = set()
    for value in form.get("show", []):
        try:
            shown.add(int(value))
        except ValueError as exc:
            raise PreferenceError("That publication is not part of this channel.") from exc
    if shown - set(allowed):
        raise PreferenceError("That publication is not part of this channel.")
    with session_scope(site.settings.database_url) as session:
        preferences.set_hidden_publications(
            session, me.id, channel.id, set(allowed) - shown, allowed
        )
        preferences.set_followed_hashtags(
            session,
            me.id,
            channel.id,
            form.get("follow", []),
            [h.tag for h in channel.cfg.hashtags],
        )


@router.post(urls.PREFERENCES, dependencies=[Depends(require_csrf)])
async def preferences_save(
    request: Request, channel_slug: str, me: Viewer = Depends(require_viewer)
) -> Response:
    """Record the form: publications shown (``show``), hashtags followed (``follow``)."""
    channel = site_of(request).channel(channel_slug)
    form = await form_lists(request)
    try:
        await run_in_threadpool(_save_choices, request, channel, me, form)
    except PreferenceError as exc:
        return await run_in_threadpool(_prefs_page, request, channel, me, str(exc), 400)
    target = site_of(request).urls.preferences(channel.slug) + "?done=1"
    return see_other(target)


def _save_sync(
    request: Request, channel: ChannelRef, me: Viewer, action: str, item_id: int
) -> None:
    with session_scope(site_of(request).settings.database_url) as session:
        if action == "save":
            with site_of(request).engine.connect() as conn:
                if queries.item_by_id(conn, channel.id, item_id) is None:
                    raise NotFound("no such item", channel)
            preferences.save_item(session, me.id, item_id)
        else:
            preferences.unsave_item(session, me.id, item_id)


@router.post(urls.PREFERENCE_ACTION, dependencies=[Depends(require_csrf)])
async def save_or_unsave(
    request: Request, channel_slug: str, action: str, me: Viewer = Depends(require_viewer)
) -> Response:
    """Save an item for later (``save``) or forget it (``unsave``); then back to ``next``."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    if action not in ("save", "unsave"):
        raise NotFound("no such preference action", channel)
    form = await form_lists(request)
    try:
        item_id = int((form.get("item_id") or [""])[0])
    except ValueError as exc:
        raise NotFound("no such item", channel) from exc
    try:
        await run_in_threadpool(_save_sync, request, channel, me, action, item_id)
    except PreferenceError as exc:
        return await run_in_threadpool(_saved_page, request, me, str(exc), 400)
    target = local_path((form.get("next") or [""])[0], site.urls.saved())
    return see_other(target)


def _saved_page(request: Request, me: Viewer, notice: str = "", status: int = 200) -> HTMLResponse:
    site = site_of(request)
    default = site.default_channel()
    with session_scope(site.settings.database_url) as session:
        ids = preferences.saved_item_ids(session, me.id)
        rows = session.execute(
            select(Item.id, Item.title, Item.slug, Publication.tag, Publication.name)
            .join(Publication, Publication.id == Item.publication_id)
            .where(Item.id.in_(ids), Item.state == "ready")
        ).all()
        homes = dict(
            session.execute(
                select(Newsline.publication_id, Channel.slug).join(
                    Channel, Channel.id == Newsline.channel_id
                )
            ).all()
        )
        pub_ids: dict[int, int] = {
            item_id: publication_id
            for item_id, publication_id in session.execute(
                select(Item.id, Item.publication_id).where(Item.id.in_(ids))
            )
        }
    by_id = {row.id: row for row in rows}
    items = []
    for item_id in ids:
        row = by_id.get(item_id)
        if row is None:
            continue  # withdrawn since
        slug = homes.get(pub_ids.get(item_id, 0), default.slug)
        items.append(
            {
                "id": row.id,
                "title": row.title or "(untitled)",
                "publication": row.name,
                "href": site.urls.item(slug, row.tag, row.slug or row.id),
                "channel": slug,
            }
        )
    return page(
        request,
        default,
        "account_saved.html",
        None,
        column="account",
        title=f"Saved items · {default.cfg.display_name}",
        status_code=status,
        headers=NO_STORE,
        heading="Saved items",
        notice=notice,
        items=items,
    )


@router.get(urls.SAVED)
def saved(request: Request, me: Viewer = Depends(require_viewer)) -> Response:
    """The reader's saved items, most recently saved first."""
    return _saved_page(request, me)


@router.get(urls.PRIVATE_FEED)
def private_feed(request: Request, token: str, channel_slug: str, name: str) -> Response:
    """The channel's feed with the reader's choices applied (their revocable token)."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    kind = urls.feed_kind(name)
    if kind is None:
        raise NotFound("no such feed", channel)
    with session_scope(site.settings.database_url) as session:
        user = accounts.user_by_feed_token(session, token)
        if user is None:
            raise NotFound("This private feed address is not valid (any more).", channel)
        chosen = preferences.choices(session.connection(), user.id, channel.id)
        owner = user.display_name
    with site.engine.connect() as conn:
        rows, _ = queries.list_items(conn, channel.id, limit=PRIVATE_FEED_SCAN, with_body=True)
        tags = queries.hashtags_of(conn, channel.id, [r.id for r in rows])
        kept = [r for r in rows if preferences.keeps(chosen, r.publication_id, tags.get(r.id, []))][
            :FEED_ITEMS
        ]
    entries = feed_entries(site, channel, kept, tags)
    info = FeedInfo(
        title=f"{channel.cfg.display_name} · {owner}'s newsline",
        home_url=site.urls.absolute(site.urls.newsline(channel.slug)),
        feed_url=site.urls.absolute(site.urls.private_feed(token, channel.slug, kind)),
        description=f"{channel.cfg.display_name} as {owner} chose it",
        updated=max((e.updated or e.published for e in entries), default=None),
        author=channel.cfg.display_name,
    )
    return Response(
        render(kind, info, entries),
        media_type=MEDIA_TYPES[kind],
        headers={"cache-control": "private, max-age=300", "x-robots-tag": "noindex"},
    )

"""List pages: the front page (``/<channel>/newsline``), one publication
(``/<channel>/solo/<pubtag>``, the original's path) and one hashtag."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsline import urls
from newsline.web import queries
from newsline.web.queries import Cursor, CursorError
from newsline.web.render import page
from newsline.web.site import BadRequest, ChannelRef, NotFound, site_of

router = APIRouter(include_in_schema=False)


def _cursor(channel: ChannelRef, before: str | None) -> Cursor | None:
    if not before:
        return None
    try:
        return Cursor.decode(before)
    except CursorError as exc:
        raise BadRequest(
            "That page link is broken; start again from the front page.", channel
        ) from exc


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
) -> HTMLResponse:
    """A page of cards; `feeds` are the list's own feed paths by kind (rss, atom, json)."""
    site = site_of(request)
    cursor = _cursor(channel, before)
    with site.engine.connect() as conn:
        rows, following = queries.list_items(
            conn,
            channel.id,
            limit=site.settings.web.page_size,
            cursor=cursor,
            publication_id=publication_id,
            hashtag=hashtag,
        )
        item_hashtags = queries.hashtags_of(conn, channel.id, [r.id for r in rows])
        newest = max((r.first_seen_at for r in rows), default=None)
        more = f"{request.url.path}?before={following.encode()}" if following else None
        return page(
            request,
            channel,
            "newsline.html",
            conn,
            column=column,
            title=title,
            last_modified=newest,
            items=rows,
            item_hashtags=item_hashtags,
            more=more,
            first_page=cursor is None,
            list_feeds=feeds,
            intro=intro,
        )


@router.get(urls.HOME)
async def home(request: Request, before: str | None = None) -> Response:
    """The default channel's front page."""
    channel = site_of(request).default_channel()
    return _list_page(
        request, channel, column="newsline", title=channel.cfg.display_name, before=before
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
        request, channel, column="newsline", title=channel.cfg.display_name, before=before
    )


@router.get(urls.PUBLICATION)
async def publication_page(
    request: Request, channel_slug: str, publication_tag: str, before: str | None = None
) -> Response:
    """One publication's items; for the channel's own publication, its Digests."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    with site.engine.connect() as conn:
        publication = queries.publication(conn, channel.id, publication_tag)
    if publication is None:
        raise NotFound(f"no publication {publication_tag!r} on this channel", channel)
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
            "by hashtag, with a short overview. Follow it by feed or e-mail.",
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
    )


@router.get(urls.HASHTAG)
async def hashtag_page(
    request: Request, channel_slug: str, hashtag: str, before: str | None = None
) -> Response:
    """One hashtag's items."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    wanted = hashtag.lower().lstrip("#")
    hashtag_cfg = next((h for h in channel.cfg.hashtags if h.tag == wanted), None)
    if hashtag_cfg is None:
        raise NotFound(f"no hashtag #{hashtag} on this channel", channel)
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
    )

"""List pages: the front page (newsline), one publication (solo), one hashtag (tag)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

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
    feed_path: str | None = None,
    intro: str = "",
) -> HTMLResponse:
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
        tags = queries.hashtags_of(conn, channel.id, [r.id for r in rows])
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
            item_tags=tags,
            more=more,
            first_page=cursor is None,
            feed_path=feed_path,
            intro=intro,
        )


@router.get("/")
async def home(request: Request, before: str | None = None) -> Response:
    """The default channel's front page."""
    channel = site_of(request).default_channel()
    return _list_page(
        request, channel, column="newsline", title=channel.cfg.display_name, before=before
    )


@router.get("/{channel_slug}")
@router.get("/{channel_slug}/")
async def channel_root(request: Request, channel_slug: str) -> Response:
    """A channel's bare prefix leads to its front page."""
    channel = site_of(request).channel(channel_slug)
    return RedirectResponse(f"/{channel.slug}/newsline", status_code=308)


@router.get("/{channel_slug}/newsline")
async def front(request: Request, channel_slug: str, before: str | None = None) -> Response:
    """The channel's front page: newest items as cards."""
    channel = site_of(request).channel(channel_slug)
    return _list_page(
        request, channel, column="newsline", title=channel.cfg.display_name, before=before
    )


@router.get("/{channel_slug}/solo/{pub_tag}")
async def solo(
    request: Request, channel_slug: str, pub_tag: str, before: str | None = None
) -> Response:
    """One publication's items."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    with site.engine.connect() as conn:
        pub = queries.publication(conn, channel.id, pub_tag)
    if pub is None:
        raise NotFound(f"no publication {pub_tag!r} on this channel", channel)
    if pub.is_channel_own:  # the channel's own publication: its Digests
        return _list_page(
            request,
            channel,
            column="digest",
            title=f"The Digest · {channel.cfg.display_name}",
            before=before,
            publication_id=pub.id,
            feed_path=f"/{channel.slug}/digest",
            intro=f"Every Digest of {channel.cfg.display_name}: the news of each half hour "
            "by hashtag, with a short overview. Follow it by feed or e-mail.",
        )
    return _list_page(
        request,
        channel,
        column=pub.name,
        title=f"{pub.name} · {channel.cfg.display_name}",
        before=before,
        publication_id=pub.id,
        feed_path=f"/{channel.slug}/solo/{pub.tag}",
    )


@router.get("/{channel_slug}/tag/{hashtag}")
async def tag(
    request: Request, channel_slug: str, hashtag: str, before: str | None = None
) -> Response:
    """One hashtag's items."""
    channel = site_of(request).channel(channel_slug)
    tag_cfg = next((h for h in channel.cfg.hashtags if h.tag == hashtag.lower().lstrip("#")), None)
    if tag_cfg is None:
        raise NotFound(f"no hashtag #{hashtag} on this channel", channel)
    return _list_page(
        request,
        channel,
        column=f"#{tag_cfg.tag} feed",
        title=f"#{tag_cfg.tag} · {channel.cfg.display_name}",
        before=before,
        hashtag=tag_cfg.tag,
        feed_path=f"/{channel.slug}/tag/{tag_cfg.tag}",
        intro=tag_cfg.description,
    )

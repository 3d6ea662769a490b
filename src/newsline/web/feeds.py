"""Machine-readable pages: RSS/Atom/JSON feeds per channel, publication and hashtag;
sitemaps and robots.txt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection, Row

from newsline import urls
from newsline.publish import editorial
from newsline.publish import sitemap as sitemaps
from newsline.publish.digest import current_overview
from newsline.publish.feeds_out import MEDIA_TYPES, FeedEntry, FeedInfo, render
from newsline.sanitize import web_url
from newsline.web import queries
from newsline.web.newsline import sitemap_pages
from newsline.web.render import clip, http_date, item_path, source_url
from newsline.web.safety import clean_body
from newsline.web.site import ChannelRef, NotFound, Site, site_of

router = APIRouter(include_in_schema=False)
root_router = APIRouter(include_in_schema=False)

FEED_ITEMS = 50
FEED_CACHE = "public, max-age=300"
SITEMAP_CACHE = "public, max-age=3600"


def feed_entries(
    site: Site,
    channel: ChannelRef,
    rows: Sequence[Row[Any]],
    hashtags: dict[int, list[str]],
    conn: Connection | None = None,
) -> list[FeedEntry]:
    """Feed entries for item rows: our page as link, the source as external URL (with
    `conn`, a Digest's entries unpublished since are left out of its content)."""
    entries = []
    for row in rows:
        url = site.urls.absolute(item_path(site.urls, channel, row))
        source = source_url(row)
        summary = clip(row.summary or row.teaser or "", 600)
        if conn is not None and getattr(row, "content_source", None) == "digest":
            # An automatic overview loses the lines of entries unpublished since.
            summary = clip(current_overview(conn, row.id, row.summary), 600)
        content = None
        if row.publication_republish == "full" and getattr(row, "body_html", None):
            body = row.body_html
            if conn is not None and getattr(row, "content_source", None) == "digest":
                body = editorial.without_withdrawn(conn, row.id, body)
            content = str(clean_body(body))
        entries.append(
            FeedEntry(
                id=url,
                url=url,
                title=row.title or "(untitled)",
                published=row.sort_at,
                updated=row.enriched_at or row.first_seen_at,
                author=row.author,
                summary=summary,
                content_html=content,
                external_url=source,
                image_url=web_url(row.image_url),
                tags=[f"#{h}" for h in hashtags.get(row.id, [])],
            )
        )
    return entries


def _feed_response(
    request: Request,
    channel: ChannelRef,
    conn: Connection,
    kind: str,
    *,
    title: str,
    home_path: str,
    feed_path: str,
    description: str,
    publication_id: int | None = None,
    hashtag: str | None = None,
    icon: str | None = None,
) -> Response:
    site = site_of(request)
    rows, _ = queries.list_items(
        conn,
        channel.id,
        limit=FEED_ITEMS,
        publication_id=publication_id,
        hashtag=hashtag,
        with_body=True,
    )
    hashtags = queries.hashtags_of(conn, channel.id, [r.id for r in rows])
    entries = feed_entries(site, channel, rows, hashtags, conn)
    updated = max((e.updated or e.published for e in entries), default=None)
    info = FeedInfo(
        title=title,
        home_url=site.urls.absolute(home_path),
        feed_url=site.urls.absolute(feed_path),
        description=description,
        updated=updated,
        icon_url=web_url(icon),
        author=channel.cfg.display_name,
        # Pinged when they change (publish/websub_ping.py); hashtag feeds are not.
        hub_url=(site.settings.web.websub_hub or None) if hashtag is None else None,
    )
    headers = {"cache-control": FEED_CACHE}
    if info.hub_url:  # WebSub discovery (§4): Link headers, as well as in the feed
        headers["link"] = f'<{info.hub_url}>; rel="hub", <{info.feed_url}>; rel="self"'
    stamp = http_date(updated)
    if stamp:
        headers["last-modified"] = stamp
    return Response(render(kind, info, entries), media_type=MEDIA_TYPES[kind], headers=headers)


def _kind(name: str, channel: ChannelRef) -> str:
    kind = urls.feed_kind(name)
    if kind is None:
        raise NotFound(f"no feed {name!r} (feed.xml, atom.xml or feed.json)", channel)
    return kind


@router.get(urls.CHANNEL_FILE, name="channel_feed")
async def channel_feed(request: Request, channel_slug: str, name: str) -> Response:
    """The channel's feed: ``feed.xml`` (RSS), ``atom.xml``, ``feed.json``; or its sitemap
    or robots.txt."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    found = urls.channel_file(name)
    if found is None:
        raise NotFound("page not found", channel)
    if found.kind == "sitemap":
        return sitemap(request, channel, found.number)
    if found.kind == "robots":
        return robots_for(site, [channel])
    assert found.feed is not None  # a feed names its format
    with site.engine.connect() as conn:
        return _feed_response(
            request,
            channel,
            conn,
            found.feed,
            title=channel.cfg.display_name,
            home_path=site.urls.newsline(channel.slug),
            feed_path=site.urls.feed(channel.slug, found.feed),
            description=f"Newest items of {channel.cfg.display_name}",
        )


@router.get(urls.PUBLICATION_FEED)
async def publication_feed(
    request: Request, channel_slug: str, publication_tag: str, name: str
) -> Response:
    """One publication's feed (for the channel's own publication: the digests)."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    kind = _kind(name, channel)
    with site.engine.connect() as conn:
        publication = queries.publication(conn, channel.id, publication_tag)
        if publication is None:
            raise NotFound(f"no publication {publication_tag!r} on this channel", channel)
        return _feed_response(
            request,
            channel,
            conn,
            kind,
            title=f"{publication.name} · {channel.cfg.display_name}",
            home_path=site.urls.publication(channel.slug, publication.tag),
            feed_path=site.urls.publication_feed(channel.slug, publication.tag, kind),
            description=f"Items of {publication.name} on {channel.cfg.display_name}",
            publication_id=publication.id,
            icon=publication.icon_url,
        )


@router.get(urls.HASHTAG_FEED)
async def hashtag_feed(request: Request, channel_slug: str, hashtag: str, name: str) -> Response:
    """One hashtag's feed."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    kind = _kind(name, channel)
    hashtag_cfg = channel.hashtag(hashtag)
    with site.engine.connect() as conn:
        return _feed_response(
            request,
            channel,
            conn,
            kind,
            title=f"#{hashtag_cfg.tag} · {channel.cfg.display_name}",
            home_path=site.urls.hashtag(channel.slug, hashtag_cfg.tag),
            feed_path=site.urls.hashtag_feed(channel.slug, hashtag_cfg.tag, kind),
            description=hashtag_cfg.description or f"Items tagged #{hashtag_cfg.tag}",
            hashtag=hashtag_cfg.tag,
        )


def sitemap(request: Request, channel: ChannelRef, number: int | None) -> Response:
    """``sitemap.xml``: a urlset, or an index of ``sitemap-N.xml`` files when large."""
    site = site_of(request)
    per_file: int = request.app.state.sitemap_max_urls
    headers = {"cache-control": SITEMAP_CACHE}
    with site.engine.connect() as conn:
        # Only pages whose canonical address is ours (lists, stories, Digests).
        files, file = sitemap_pages(site, conn, channel, per_file)
        if number is None and files > 1:
            body = sitemaps.sitemap_index(
                (site.urls.absolute(site.urls.sitemap(channel.slug, n)), None)
                for n in range(1, files + 1)
            )
        else:
            index = 1 if number is None else number
            if not 1 <= index <= files:
                raise NotFound("no such sitemap", channel)
            entries = file(index)
            body = sitemaps.urlset(entries)
            newest = max((when for _, when in entries if when), default=None)
            stamp = http_date(newest)
            if stamp:
                headers["last-modified"] = stamp
    return Response(body, media_type="application/xml; charset=utf-8", headers=headers)


def robots_for(site: Site, channels: Sequence[ChannelRef]) -> Response:
    """robots.txt naming the channels' sitemaps; the API and search are not for crawling."""
    disallow = [site.urls.search(c.slug) for c in channels] + [urls.API + "/", urls.OPTIONS]
    body = sitemaps.robots_txt(
        [site.urls.absolute(site.urls.sitemap(c.slug)) for c in channels], disallow
    )
    return Response(
        body, media_type="text/plain; charset=utf-8", headers={"cache-control": SITEMAP_CACHE}
    )


@root_router.get(urls.ROOT_SITEMAP)
async def root_sitemap(request: Request) -> Response:
    """``/sitemap.xml``: an index of every channel's sitemap."""
    site = site_of(request)
    body = sitemaps.sitemap_index(
        (site.urls.absolute(site.urls.sitemap(c.slug)), None) for c in site.settings.channels
    )
    return Response(
        body,
        media_type="application/xml; charset=utf-8",
        headers={"cache-control": SITEMAP_CACHE},
    )


@root_router.get(urls.ROBOTS)
async def robots(request: Request) -> Response:
    """The site-wide robots.txt, naming every channel's sitemap."""
    site = site_of(request)
    return robots_for(site, [site.channel(c.slug) for c in site.settings.channels])

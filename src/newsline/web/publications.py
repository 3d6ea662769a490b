"""The publications page: the channel's publications and how their feeds are doing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from newsline import urls
from newsline.web import queries
from newsline.web.render import page
from newsline.web.site import site_of

router = APIRouter(include_in_schema=False)


@router.get(urls.PUBLICATIONS)
async def publications_page(request: Request, channel_slug: str) -> Response:
    """Every publication of the newsline, with feed health and item counts."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    with site.engine.connect() as conn:
        rows = queries.publication_health(conn, channel.id)
        return page(
            request,
            channel,
            "publications.html",
            conn,
            column="publications",
            title=f"Publications · {channel.cfg.display_name}",
            publications=rows,
        )


@router.get(urls.PUBLICATIONS_BEFORE)
async def publications_before(request: Request, channel_slug: str) -> Response:
    """The page's first address (``/<channel>/sources``) leads to it, permanently."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    return RedirectResponse(site.urls.publications(channel.slug), status_code=308)

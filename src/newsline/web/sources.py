"""The sources page: the channel's publications and how their feeds are doing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsline.web import queries
from newsline.web.render import page
from newsline.web.site import site_of

router = APIRouter(include_in_schema=False)


@router.get("/{channel_slug}/sources")
async def sources(request: Request, channel_slug: str) -> Response:
    """Every publication of the newsline, with feed health and item counts."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    with site.engine.connect() as conn:
        rows = queries.sources(conn, channel.id)
        return page(
            request,
            channel,
            "sources.html",
            conn,
            column="sources",
            title=f"Sources · {channel.cfg.display_name}",
            sources=rows,
        )

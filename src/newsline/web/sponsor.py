"""The sponsor's counts, kept without tracking readers: per channel, day and width band,
how many times a variant was shown and clicked. Nothing about the reader is stored — no
cookie is read or set, no address or agent kept; bots are not counted.

- **Shown**: each variant's band carries a 1x1 image (``loading=lazy``); the five bands
  hidden by the page's CSS never load theirs, so one view counts once, for the band seen.
- **Clicked**: the link pings :data:`~newsline.urls.SPONSOR_CLICK` (the browser's
  ``<a ping>``, a POST), and a GET there counts and redirects to the sponsor (for links
  that cannot ping, such as the console's preview).
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from newsline import urls
from newsline.community.presence import is_bot
from newsline.db.engine import session_scope
from newsline.publish.editorial import count_sponsor
from newsline.web.render import SPONSOR_BANDS, sponsor_links
from newsline.web.site import NO_STORE, NotFound, site_of

router = APIRouter(include_in_schema=False)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _count(request: Request, channel_slug: str, band: str, *, click: bool) -> None:
    site = site_of(request)
    if band not in SPONSOR_BANDS:
        raise NotFound("no such sponsor variant")
    channel = site.channel(channel_slug)
    if is_bot(request.headers.get("user-agent")):
        return
    with session_scope(site.settings.database_url) as session:
        count_sponsor(session, channel.id, band, click=click)


@router.get(urls.SPONSOR_SEEN)
async def seen(request: Request, channel_slug: str, band: str) -> Response:
    """One impression of a variant: a transparent pixel, never cached."""
    _count(request, channel_slug, band, click=False)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get(urls.SPONSOR_CLICK)
async def click(request: Request, channel_slug: str, band: str) -> Response:
    """One click: counted, then on to the sponsor's (utm-tagged) page."""
    _count(request, channel_slug, band, click=True)
    site = site_of(request)
    link = next(s for s in sponsor_links(site.channel(channel_slug)) if s["band"] == band)
    if link["href"] == "#":
        raise NotFound("the sponsor has no web address")
    return RedirectResponse(link["href"], status_code=302, headers=NO_STORE)


@router.post(urls.SPONSOR_CLICK)
async def ping(request: Request, channel_slug: str, band: str) -> Response:
    """One click, from the link's ``ping`` (hyperlink auditing): counted."""
    _count(request, channel_slug, band, click=True)
    return Response(status_code=204, headers=NO_STORE)

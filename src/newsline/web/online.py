"""Small interactive endpoints: the online heartbeat and reader options (dark, dense).

The heartbeat counts readers, not requests: it is keyed by the reader's session cookie
(``nl_sid``, made by the first heartbeat that lacks one), whatever the body says, and the
count takes at most ``web.online_max_per_ip`` readers per client IP.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError

from newsline import urls
from newsline.community.presence import heartbeat, is_bot, online_count
from newsline.db.engine import session_scope
from newsline.web.clients import client_key, set_cookie
from newsline.web.safety import local_path
from newsline.web.session import ensure_session
from newsline.web.site import see_other, site_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
COOKIE_AGE = 365 * 86400


@router.post(urls.ONLINE)
def online(request: Request, channel_slug: str) -> Response:
    """Record a heartbeat (humans only) and answer the channel's online count.

    The body is ignored (older pages sent a visitor id of their choosing): the reader is
    their session, which this answer makes (and sets as a cookie) when they have none.
    """
    site = site_of(request)
    channel = site.channel(channel_slug)
    headers = {"cache-control": "no-store"}
    if is_bot(request.headers.get("user-agent")):
        return JSONResponse({"online": 0}, headers=headers)
    visitor = ensure_session(request)
    with session_scope(site.settings.database_url) as session:
        try:
            heartbeat(session, channel.id, visitor, client=client_key(request))
        except OperationalError:
            # A busy database must not break pages: the count is best effort, but logged.
            log.warning("heartbeat not recorded", exc_info=True)
            session.rollback()
        count = online_count(session, channel.id, per_client=site.settings.web.online_max_per_ip)
    return JSONResponse({"online": count}, headers=headers)


@router.get(urls.OPTIONS)
def options(
    request: Request,
    theme: Annotated[str | None, Query(pattern="^(dark|light|auto)$")] = None,
    dense: Annotated[str | None, Query(pattern="^[01]$")] = None,
    next: str = "/",
) -> Response:
    """Set reader options by cookie (the no-JavaScript path of the option buttons)."""
    response = see_other(local_path(next))
    if theme == "auto":
        response.delete_cookie("nl_theme", path="/")
    elif theme:
        set_cookie(response, request, "nl_theme", theme, COOKIE_AGE)
    if dense is not None:
        set_cookie(response, request, "nl_dense", dense, COOKIE_AGE)
    return response

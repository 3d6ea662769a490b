"""Small interactive endpoints: the online heartbeat and reader options (dark, dense)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from newsline import urls
from newsline.community.presence import heartbeat, is_bot, online_count
from newsline.db.engine import session_scope
from newsline.web.safety import local_path
from newsline.web.site import site_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
COOKIE_AGE = 365 * 86400


class Beat(BaseModel):
    """A page's heartbeat: the reader's random id (kept in the browser's localStorage)."""

    visitor: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


@router.post(urls.ONLINE)
def online(request: Request, channel_slug: str, beat: Beat) -> Response:
    """Record a heartbeat (humans only) and answer the channel's online count."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    headers = {"cache-control": "no-store"}
    if is_bot(request.headers.get("user-agent")):
        return JSONResponse({"online": 0}, headers=headers)
    with session_scope(site.settings.database_url) as session:
        try:
            heartbeat(session, channel.id, beat.visitor)
        except OperationalError:
            # A busy database must not break pages: the count is best effort, but logged.
            log.warning("heartbeat not recorded", exc_info=True)
            session.rollback()
        count = online_count(session, channel.id)
    return JSONResponse({"online": count}, headers=headers)


@router.get(urls.OPTIONS)
def options(
    request: Request,
    theme: Annotated[str | None, Query(pattern="^(dark|light|auto)$")] = None,
    dense: Annotated[str | None, Query(pattern="^[01]$")] = None,
    next: str = "/",
) -> Response:
    """Set reader options by cookie (the no-JavaScript path of the option buttons)."""
    response = RedirectResponse(local_path(next), status_code=303)
    response.headers["cache-control"] = "no-store"
    if theme == "auto":
        response.delete_cookie("nl_theme", path="/")
    elif theme:
        response.set_cookie("nl_theme", theme, max_age=COOKIE_AGE, path="/", samesite="lax")
    if dense is not None:
        response.set_cookie("nl_dense", dense, max_age=COOKIE_AGE, path="/", samesite="lax")
    del request
    return response

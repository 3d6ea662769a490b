"""Moderation on the site: the queue page of the editor console and the moderators' API.

Everything a moderator does goes through :mod:`newsline.community.moderation`, which
audits it. Moderators of one channel (a per-channel role) see and act on that channel's
comments only; install-wide moderators, editors and admins on every channel's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsline import urls
from newsline.community import moderation
from newsline.community.audit import Actor
from newsline.community.comments import CommentError, writing
from newsline.db.models import Ban, Comment, User
from newsline.web.api import ApiError, ChannelSlug, ErrorOut, RowId, api_channel
from newsline.web.auth import Viewer, csrf_unless_token, require_viewer
from newsline.web.csrf import form_fields, require_csrf
from newsline.web.render import page
from newsline.web.site import NO_STORE, ChannelRef, NotFound, Refused, Site, see_other, site_of

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix=urls.API, tags=["moderation"])
QUEUE_SIZE = 50


def _user(session: Session, found: Viewer) -> User:
    user = session.get(User, found.id)
    if user is None:
        raise Refused("This account no longer exists.", status=403)
    return user


def require_moderator(request: Request) -> Viewer:
    """Dependency: a signed-in viewer who moderates the path's channel (401, then 403)."""
    found = require_viewer(request)
    channel = request.path_params.get("channel")
    if not found.can("moderator", channel):
        raise Refused("This needs the moderator role on this channel.", status=403)
    return found


# --- the API ------------------------------------------------------------------------------


class QueuedComment(BaseModel):
    """A comment in the moderators' queue."""

    id: int
    item_id: int
    item_title: str
    parent_id: int | None
    author: str
    author_id: int | None
    body_html: str
    status: str
    hold_reason: str | None
    network: str = Field(description="The poster's /24 (IPv4) or /48 (IPv6), for a range ban")
    created_at: datetime
    flags: int
    reasons: list[str]


class QueueOut(BaseModel):
    """One queue: flagged (most reported first), held (awaiting approval) or recent."""

    queue: str
    comments: list[QueuedComment]


class ActionIn(BaseModel):
    """What to do with a comment, and why (kept in the audit log)."""

    action: Literal["hide", "restore", "delete", "spam"]
    reason: str = Field(default="", max_length=1000)


class ModeratedOut(BaseModel):
    """The comment after the action."""

    id: int
    status: str


class BanIn(BaseModel):
    """Bar an account or an IP range (CIDR) from this channel, for `hours` (none: until
    lifted)."""

    user_id: int | None = Field(default=None, ge=1, le=2**62)
    network: str | None = Field(default=None, max_length=64)
    hours: float | None = Field(default=None, gt=0, le=24 * 365 * 10)
    reason: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _one_target(self) -> BanIn:
        if (self.user_id is None) == (self.network is None):
            raise ValueError("give either user_id or network")
        return self


class BanOut(BaseModel):
    """A ban in force."""

    id: int
    user_id: int | None
    network: str | None
    until: datetime | None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Not accepted (the message says why)"},
    401: {"model": ErrorOut, "description": "Not signed in"},
    403: {"model": ErrorOut, "description": "Not a moderator of this channel, or no CSRF token"},
    404: {"model": ErrorOut, "description": "No such channel or comment"},
    409: {"model": ErrorOut, "description": "Not in a state that allows it"},
}


def _queue(
    site: Site, channel: ChannelRef, kind: moderation.Queue, before: int | None
) -> list[QueuedComment]:
    with Session(site.engine) as session:
        entries = moderation.queue(
            session, kind, channel_ids=[channel.id], limit=QUEUE_SIZE, before_id=before
        )
        return [
            QueuedComment(
                id=e.comment.id,
                item_id=e.comment.item_id,
                item_title=e.item_title,
                parent_id=e.comment.parent_id,
                author=e.author,
                author_id=e.comment.author_id,
                body_html=e.comment.body_html,
                status=e.comment.status,
                hold_reason=e.comment.hold_reason,
                network=e.comment.network,
                created_at=e.comment.created_at,
                flags=e.flags,
                reasons=e.reasons,
            )
            for e in entries
        ]


@api_router.get(
    urls.API_MODERATION_QUEUE,
    response_model=QueueOut,
    responses={k: v for k, v in ERRORS.items() if k in (401, 403, 404)},
    dependencies=[Depends(require_moderator)],
)
def queue(
    request: Request,
    channel: ChannelSlug,
    kind: Annotated[Literal["flagged", "held", "recent"], Query(alias="queue")] = "flagged",
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Older than this id")] = None,
) -> JSONResponse:
    """The moderators' queue of a channel."""
    site = site_of(request)
    ref = api_channel(site, channel)
    out = QueueOut(queue=kind, comments=_queue(site, ref, kind, before))
    return JSONResponse(out.model_dump(mode="json"), headers=NO_STORE)


def _act(
    site: Site,
    found: Viewer,
    channel: ChannelRef | None,
    comment_id: int,
    action: str,
    reason: str,
) -> Comment:
    with writing(site.engine) as session:
        user = _user(session, found)
        comment = session.get(Comment, comment_id)
        if comment is None or (channel is not None and comment.channel_id != channel.id):
            raise NotFound("no such comment")
        return moderation.act(
            session, Actor.of(user), user, comment_id=comment_id, action=action, reason=reason
        )


@api_router.post(
    urls.API_MODERATION_ACTION,
    response_model=ModeratedOut,
    responses=ERRORS,
    dependencies=[Depends(require_moderator), Depends(csrf_unless_token)],
)
def act(
    request: Request,
    channel: ChannelSlug,
    comment_id: RowId,
    data: ActionIn,
) -> JSONResponse:
    """Hide, restore (also: approve a held comment, dismiss reports), delete or mark spam;
    audited, and it teaches the channel's spam model."""
    site = site_of(request)
    ref = api_channel(site, channel)
    try:
        comment = _act(site, require_viewer(request), ref, comment_id, data.action, data.reason)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except CommentError as exc:
        raise ApiError(exc.status, str(exc)) from exc
    return JSONResponse({"id": comment.id, "status": comment.status}, headers=NO_STORE)


@api_router.post(
    urls.API_BANS,
    status_code=201,
    response_model=BanOut,
    responses=ERRORS,
    dependencies=[Depends(require_moderator), Depends(csrf_unless_token)],
)
def ban(request: Request, channel: ChannelSlug, data: BanIn) -> JSONResponse:
    """Bar an account or an IP range from commenting on this channel; audited."""
    site = site_of(request)
    ref = api_channel(site, channel)
    found = require_viewer(request)
    try:
        with writing(site.engine) as session:
            user = _user(session, found)
            row: Ban = moderation.ban(
                session,
                Actor.of(user),
                user,
                user_id=data.user_id,
                network=data.network,
                channel_id=ref.id,
                hours=data.hours,
                reason=data.reason,
            )
    except CommentError as exc:
        raise ApiError(exc.status, str(exc)) from exc
    out = BanOut(id=row.id, user_id=row.user_id, network=row.network, until=row.until)
    return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=NO_STORE)


# --- the queue page -----------------------------------------------------------------------


def _moderated(site: Site, found: Viewer) -> list[ChannelRef]:
    return [site.channel(c.slug) for c in site.settings.channels if found.can("moderator", c.slug)]


@router.get(urls.MODERATION)
async def queue_page(
    request: Request,
    queue: Annotated[Literal["flagged", "held", "recent"], Query()] = "flagged",
    channel: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The moderators' queue: flagged, held and recent comments, with their actions."""
    found = require_viewer(request)
    site = site_of(request)
    channels = _moderated(site, found)
    if not channels:
        raise Refused("This page is for moderators.", status=403)
    current = next((c for c in channels if c.slug == channel), channels[0])
    entries = await run_in_threadpool(_queue, site, current, queue, None)
    template = "admin/moderation.html"
    return page(
        request,
        current,
        template,
        None,
        column="moderation",
        title=f"Moderation · {current.cfg.display_name}",
        headers=NO_STORE,
        queue=queue,
        queues=moderation.QUEUES,
        channels=channels,
        current=current,
        entries=entries,
        actions=moderation.ACTIONS,
    )


@router.post(urls.MODERATION_ACTION, dependencies=[Depends(require_csrf)])
async def queue_action(request: Request, comment_id: RowId) -> Response:
    """A button of the queue page: act on the comment, then back to the queue (303)."""
    found = require_viewer(request)
    site = site_of(request)
    fields = await form_fields(request)
    action = fields.get("action", "")
    back = site.urls.moderation(
        queue=fields.get("queue", "flagged")
        if fields.get("queue") in moderation.QUEUES
        else "flagged",
        channel=fields.get("channel", "")[:64],
    )
    try:
        await run_in_threadpool(
            _act, site, found, None, comment_id, action, fields.get("reason", "")
        )
    except CommentError as exc:
        raise Refused(str(exc), status=exc.status) from exc
    return see_other(back)

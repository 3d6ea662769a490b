"""``/admin``: the desk — what needs an editor now, and the latest actions."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from newsline import urls
from newsline.community.audit import entries
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, Publication, Subscriber, utcnow
from newsline.publish.editorial import UNPUBLISHED
from newsline.web.admin.common import FLASH, admin_page
from newsline.web.auth import Viewer, require_viewer
from newsline.web.site import Refused, see_other, site_of

router = APIRouter(include_in_schema=False)


def _moderates(viewer: Viewer) -> bool:
    return viewer.can("moderator") or any(
        role in ("moderator", "editor", "admin") for role in viewer.channel_roles.values()
    )


@router.get(urls.ADMIN, dependencies=[FLASH])
async def desk(request: Request, viewer: Viewer = Depends(require_viewer)) -> Response:
    """Editors: the desk. Moderators: on to the moderation queue. Readers: 403."""
    site = site_of(request)
    if not viewer.can("editor"):
        if any(viewer.can("editor", c) for c in viewer.channel_roles):
            # A channel's editor: the desk's figures are the whole site's; their items.
            return see_other(site.urls.admin("items"))
        if _moderates(viewer):
            return see_other(site.urls.moderation())
        raise Refused(
            "The console needs the editor role, which your account does not have.", status=403
        )
    now = utcnow()
    with session_scope(site.settings.database_url) as session:

        def count(query: object) -> int:
            return int(session.scalar(query) or 0)  # type: ignore[call-overload]

        figures = {
            "items today": count(
                select(func.count())
                .select_from(Item)
                .where(Item.state == "ready", Item.first_seen_at >= now - timedelta(days=1))
            ),
            "waiting for their page": count(
                select(func.count()).select_from(Item).where(Item.state == "pending")
            ),
            "unpublished": count(
                select(func.count()).select_from(Item).where(Item.state == UNPUBLISHED)
            ),
            "pinned now": count(
                select(func.count()).select_from(Item).where(Item.pinned_until > now)
            ),
            "failing feeds": count(
                select(func.count()).select_from(Feed).where(Feed.status == "error")
            ),
            "paused publications": count(
                select(func.count())
                .select_from(Publication)
                .where(Publication.paused_at.is_not(None))
            ),
            "confirmed subscribers": count(
                select(func.count()).select_from(Subscriber).where(Subscriber.status == "confirmed")
            ),
        }
        latest = entries(session, limit=10)
        return admin_page(
            request, "admin/desk.html", section="", title="Desk", figures=figures, latest=latest
        )

"""``/admin/people``: accounts and their roles, bans, the channels' e-mail subscribers
(confirm, remove, CSV), and the way to the moderation queue."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from newsline import urls
from newsline.community import accounts
from newsline.db.channels import channel_row
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Subscriber, User
from newsline.errors import NewslineError
from newsline.publish import editorial
from newsline.web.admin.common import (
    CSRF,
    EDITOR,
    FLASH,
    actor_of,
    admin_page,
    back_to,
    first,
)
from newsline.web.auth import Viewer
from newsline.web.csrf import form_lists
from newsline.web.site import NO_STORE, BadRequest, Refused, site_of

router = APIRouter(include_in_schema=False)
LIMIT = 500


@router.get(urls.ADMIN_SECTIONS["people"], dependencies=[FLASH])
async def people_page(request: Request, viewer: Viewer = EDITOR) -> Response:
    """Accounts, bans and subscribers."""
    site = site_of(request)
    with session_scope(site.settings.database_url) as session:
        users = list(
            session.scalars(
                select(User).where(User.deleted_at.is_(None)).order_by(User.id).limit(LIMIT)
            )
        )
        roles = {u.id: accounts.channel_roles(session, u.id) for u in users}
        channels = {c.id: c.slug for c in session.scalars(select(Channel).order_by(Channel.slug))}
        subs = list(
            session.scalars(
                select(Subscriber).order_by(Subscriber.channel_id, Subscriber.email).limit(LIMIT)
            )
        )
        bans = accounts.active_bans(session)
        return admin_page(
            request,
            "admin/people.html",
            section="people",
            title="People",
            users=users,
            roles=roles,
            all_roles=accounts.ROLES,
            channels=channels,
            subscribers=subs,
            bans=bans,
            is_admin=viewer.can("admin"),
            here=site.urls.admin("people"),
        )


@router.post(urls.ADMIN_ACTION.format(section="people"), dependencies=[CSRF])
async def people_action(request: Request, viewer: Viewer = EDITOR) -> Response:
    """Set a role, ban or unban an account, confirm or remove a subscriber."""
    site = site_of(request)
    form = await form_lists(request)
    action = first(form, "action")
    default = site.urls.admin("people")
    actor = actor_of(viewer)
    reason = first(form, "reason")[:500]
    try:
        with session_scope(site.settings.database_url) as session:
            if action in ("role", "ban", "unban"):
                user_id = first(form, "user")
                user = (
                    accounts.user_by_id(session, int(user_id))
                    if user_id.isdigit() and len(user_id) < 18
                    else None
                )
                if user is None:
                    raise editorial.EditorialError("no such account")
                if action == "role":
                    role = first(form, "role")
                    if not viewer.can("admin") and (role == "admin" or user.role == "admin"):
                        raise Refused("Only an admin gives or takes the admin role.", status=403)
                    slug = first(form, "channel")
                    channel_id = channel_row(session, site.settings, slug).id if slug else None
                    accounts.set_role(session, actor, user, role, channel_id, reason=reason)
                    notice = f"{user.email} is now {role}" + (f" on {slug}" if slug else "")
                elif action == "ban":
                    hours_text = first(form, "hours")
                    try:
                        hours = float(hours_text) if hours_text else None
                    except ValueError as exc:
                        raise editorial.EditorialError("hours must be a number") from exc
                    accounts.ban(session, actor, user=user, hours=hours, reason=reason)
                    notice = f"{user.email} is banned" + (f" for {hours:g} h" if hours else "")
                else:
                    accounts.unban(session, actor, user=user, reason=reason)
                    notice = f"{user.email} may post again"
            elif action in ("confirm", "unsubscribe-remove"):
                sub_id = first(form, "subscriber")
                if not sub_id.isdigit() or len(sub_id) > 18:
                    raise editorial.EditorialError("no such subscriber")
                sub = editorial.subscriber_of(session, int(sub_id))
                if action == "confirm":
                    editorial.confirm_subscriber(session, actor, sub.id)
                    notice = f"{sub.email} confirmed"
                else:
                    email = sub.email
                    editorial.remove_subscriber(session, actor, sub.channel_id, email)
                    notice = f"{email} removed"
            else:
                raise editorial.EditorialError(f"unknown action {action[:40]!r}")
    except NewslineError as exc:
        if isinstance(exc, Refused):
            raise
        return back_to(default, form, problem=str(exc))
    return back_to(default, form, notice=notice)


@router.get(urls.ADMIN_SUBSCRIBERS_CSV)
async def subscribers_csv(request: Request, viewer: Viewer = EDITOR, channel: str = "") -> Response:
    """A channel's subscribers as CSV: address, status, cadence, dates."""
    site = site_of(request)
    slug = channel or site.settings.web.default_channel
    if site.settings.channel(slug) is None:
        raise BadRequest(f"no channel {slug[:40]!r}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["email", "status", "cadence", "daily_hour", "timezone", "created_at", "confirmed_at"]
    )
    with session_scope(site.settings.database_url) as session:
        row_id = channel_row(session, site.settings, slug).id
        for sub in session.scalars(
            select(Subscriber).where(Subscriber.channel_id == row_id).order_by(Subscriber.email)
        ):
            row = [
                sub.email,
                sub.status,
                sub.cadence,
                sub.daily_hour,
                sub.timezone or "",
                sub.created_at.isoformat(timespec="seconds"),
                sub.confirmed_at.isoformat(timespec="seconds") if sub.confirmed_at else "",
            ]
            # A spreadsheet must not run an address as a formula.
            writer.writerow(
                ["'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v for v in row]
            )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **NO_STORE,
            "content-disposition": f'attachment; filename="{slug}-subscribers.csv"',
        },
    )

"""``/admin/digests``: preview the next Digest exactly as it would publish now, publish it,
rewrite an overview, browse past digests and resend one by e-mail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from newsline import urls
from newsline.db.channels import channel_row
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item
from newsline.errors import NewslineError
from newsline.publish import editorial
from newsline.web.admin.common import (
    CHANNEL_EDITOR,
    CSRF,
    FLASH,
    actor_of,
    admin_page,
    back_to,
    first,
    scope_of,
)
from newsline.web.auth import Viewer
from newsline.web.csrf import form_lists
from newsline.web.safety import clean_digest_body
from newsline.web.site import Refused, site_of

router = APIRouter(include_in_schema=False)
PAST = 30


@router.get(urls.ADMIN_SECTIONS["digests"], dependencies=[FLASH])
async def digests_page(
    request: Request, viewer: Viewer = CHANNEL_EDITOR, channel: str = ""
) -> Response:
    """The next Digest (composed now, not stored) and the channel's past ones."""
    site = site_of(request)
    scope = scope_of(request, viewer)
    slugs = [c.slug for c in site.settings.channels if scope.has(c.slug)]
    known = {c.slug for c in site.settings.channels}
    slug = scope.default(channel if channel in known else "", site.settings.web.default_channel)
    cfg = site.settings.channel(slug)
    assert cfg is not None
    problem = ""
    try:
        preview = editorial.preview_digest(site.settings, slug)
    except NewslineError as exc:
        preview, problem = None, str(exc)
    with session_scope(site.settings.database_url) as session:
        row = channel_row(session, site.settings, slug)
        past = session.execute(
            select(Digest, Item)
            .join(Item, Item.id == Digest.item_id)
            .where(Digest.channel_id == row.id)
            .order_by(Digest.slot_at.desc())
            .limit(PAST)
        ).all()
        body = None
        if preview is not None and preview.composed is not None:
            body = clean_digest_body(preview.composed.body_html)
        return admin_page(
            request,
            "admin/digests.html",
            section="digests",
            title="Digests",
            channels=slugs,
            slug=slug,
            cfg=cfg,
            preview=preview,
            preview_body=body,
            past=past,
            mail_enabled=site.settings.email.enabled,
            here=site.urls.admin("digests", channel=slug),
            **({"problem": problem} if problem else {}),
        )


@router.post(urls.ADMIN_ACTION.format(section="digests"), dependencies=[CSRF])
async def digests_action(request: Request, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """Publish now, rewrite an overview, or resend an e-mail edition."""
    site = site_of(request)
    form = await form_lists(request)
    action = first(form, "action")
    default = site.urls.admin("digests")
    actor = actor_of(viewer)
    scope = scope_of(request, viewer)
    try:
        if action == "publish":
            slug = scope.default(first(form, "channel"), site.settings.web.default_channel)
            result = editorial.publish_digest_now(site.settings, actor, slug)
            notice = {
                "published": f"Published {result.title} with {result.entries} entries.",
                "exists": f"{result.title} was published already.",
                "empty": f"Nothing new for {result.title}: nothing published.",
            }.get(result.status, result.status)
        else:
            digest_id = first(form, "digest")
            if not digest_id.isdigit() or len(digest_id) > 18:
                raise editorial.EditorialError("no digest chosen")
            with session_scope(site.settings.database_url) as session:
                scope.check_digest(session, int(digest_id))
            if action == "overview":
                with session_scope(site.settings.database_url) as session:
                    editorial.edit_overview(
                        session,
                        actor,
                        int(digest_id),
                        first(form, "overview"),
                        first(form, "reason"),
                    )
                notice = "Overview saved; the original is kept."
            elif action == "resend":
                report = editorial.resend_digest(site.settings, actor, int(digest_id))
                notice = f"Sent to {len(report.sent)} subscribers" + (
                    f", {len(report.failed)} failed" if report.failed else ""
                )
            else:
                raise editorial.EditorialError(f"unknown action {action[:40]!r}")
    except Refused:
        raise  # out of the editor's scope: 403, not a problem notice
    except NewslineError as exc:
        return back_to(default, form, problem=str(exc))
    return back_to(default, form, notice=notice)

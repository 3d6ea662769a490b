"""``/admin/publications``: add by URL (the feeds found are shown, the editor chooses),
rename, re-icon, change the republish mode or tag, pause and resume, remove keeping or
hiding the items; each publication's health (last fetch, status, errors, items per day,
how often the page itself could be used)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsline import urls
from newsline.db.engine import session_scope
from newsline.errors import NewslineError
from newsline.publish import editorial
from newsline.web.admin.common import (
    CHANNEL_EDITOR,
    CSRF,
    FLASH,
    OUT_OF_SCOPE,
    actor_of,
    admin_page,
    back_to,
    first,
    scope_of,
)
from newsline.web.auth import Viewer
from newsline.web.csrf import form_lists
from newsline.web.site import Refused, site_of

router = APIRouter(include_in_schema=False)


def _page(request: Request, viewer: Viewer, **context: object) -> Response:
    site = site_of(request)
    scope = scope_of(request, viewer)
    with session_scope(site.settings.database_url) as session:
        health = editorial.publication_health(session)
        in_scope = scope.publication_ids()
        if in_scope is not None:
            mine = set(session.scalars(in_scope))
            health = [h for h in health if h.publication.id in mine]
        return admin_page(
            request,
            "admin/publications.html",
            section="publications",
            title="Publications",
            health=health,
            may_add=scope.everywhere,
            here=site.urls.admin("publications"),
            **context,
        )


@router.get(urls.ADMIN_SECTIONS["publications"], dependencies=[FLASH])
async def publications_page(request: Request, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """Every publication with its health and forms."""
    return _page(request, viewer, found=None, asked="")


@router.post(urls.ADMIN_ACTION.format(section="publications"), dependencies=[CSRF])
async def publications_action(request: Request, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """Discover, add, update, pause, resume or remove."""
    site = site_of(request)
    form = await form_lists(request)
    action = first(form, "action")
    default = site.urls.admin("publications")
    actor = actor_of(viewer)
    tag = first(form, "tag")
    scope = scope_of(request, viewer)
    with session_scope(site.settings.database_url) as session:
        if action not in ("discover", "add"):
            scope.check_publication(session, tag)
    try:
        if action == "discover":
            asked = first(form, "url").strip()
            if not asked:
                raise editorial.EditorialError("give the address of a site or a feed")
            found = await editorial.discover(site.settings, asked)
            return _page(request, viewer, found=found, asked=asked)
        if action == "add":
            if not scope.everywhere:  # a new publication joins every channel carrying all
                raise Refused(OUT_OF_SCOPE, status=403)
            publication = await editorial.add_publication(
                site.settings,
                actor,
                first(form, "feed_url"),
                tag=tag or None,
                name=first(form, "name") or None,
                republish=first(form, "republish", "teaser"),
            )
            notice = f"Added {publication.name} ({publication.tag})."
        else:
            with session_scope(site.settings.database_url) as session:
                reason = first(form, "reason")[:500]
                if action == "pause":
                    editorial.pause_publication(session, actor, tag, reason)
                    notice = f"Paused {tag}: its feeds are not fetched."
                elif action == "resume":
                    editorial.resume_publication(session, actor, tag, reason)
                    notice = f"Resumed {tag}."
                elif action == "update":
                    editorial.update_publication(
                        session,
                        actor,
                        tag,
                        name=first(form, "name"),
                        icon_url=first(form, "icon_url"),
                        republish=first(form, "republish") or None,
                        new_tag=first(form, "new_tag") or None,
                    )
                    notice = f"Saved {first(form, 'new_tag') or tag}."
                elif action == "remove":
                    items = first(form, "items")
                    removal = editorial.remove_publication(
                        session,
                        actor,
                        tag,
                        "keep" if items == "keep" else "hide" if items == "hide" else None,
                        reason,
                    )
                    notice = (
                        f"Removed {tag} (it had no items)."
                        if removal.deleted
                        else f"Removed {tag}: {removal.hidden} items hidden."
                        if items == "hide"
                        else f"Removed {tag}: its {removal.items} items stay on the site."
                    )
                else:
                    raise editorial.EditorialError(f"unknown action {action[:40]!r}")
    except Refused:
        raise  # out of the editor's scope: 403, not a problem notice
    except NewslineError as exc:
        return back_to(default, form, problem=str(exc))
    return back_to(default, form, notice=notice)

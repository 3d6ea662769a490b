"""``/admin/items``: find items (channel, publication, hashtag, state, date, words) and act
on them one by one or in bulk; ``/admin/items/{id}``: edit, retag, pin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from newsline import urls
from newsline.community.audit import entries
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Item, ItemHashtag, Newsline, Publication, utcnow
from newsline.errors import NewslineError
from newsline.publish import editorial
from newsline.text import hashtag_name
from newsline.web.admin.common import (
    CHANNEL_EDITOR,
    CSRF,
    FLASH,
    Scope,
    actor_of,
    admin_page,
    back_to,
    first,
    ids_of,
    scope_of,
)
from newsline.web.auth import Viewer
from newsline.web.csrf import form_lists
from newsline.web.site import NotFound, Refused, site_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
STATES = ("ready", "pending", "unpublished", "duplicate", "failed")
#: The bulk actions, as the form names them.
ACTIONS = {
    "unpublish": "Unpublish",
    "republish": "Republish",
    "include": "Include in the next Digest",
    "exclude": "Exclude from digests",
    "digest-default": "Let the Digest decide",
    "pin": "Pin on the front page",
    "unpin": "Unpin",
}


def _day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC) if value else None
    except ValueError:
        return None


def item_query(
    filters: dict[str, str], channels: dict[str, int], scope: Scope | None = None
) -> Any:
    """Items matching the console's filters (within `scope`), newest first."""
    query = select(Item, Publication.tag).join(Publication, Publication.id == Item.publication_id)
    in_scope = scope.publication_ids() if scope is not None else None
    if in_scope is not None:
        query = query.where(Item.publication_id.in_(in_scope))
    channel_id = channels.get(filters.get("channel", ""))
    if channel_id is not None:
        query = query.where(
            Item.publication_id.in_(
                select(Newsline.publication_id).where(Newsline.channel_id == channel_id)
            )
        )
    if filters.get("publication"):
        query = query.where(Publication.tag == filters["publication"])
    if filters.get("hashtag"):
        tagged = select(ItemHashtag.item_id).where(
            ItemHashtag.hashtag == hashtag_name(filters["hashtag"])
        )
        if channel_id is not None:
            tagged = tagged.where(ItemHashtag.channel_id == channel_id)
        query = query.where(Item.id.in_(tagged))
    if filters.get("state") in STATES:
        query = query.where(Item.state == filters["state"])
    if filters.get("pinned"):
        query = query.where(Item.pinned_until > utcnow())
    since, until = _day(filters.get("since", "")), _day(filters.get("until", ""))
    if since is not None:
        query = query.where(Item.sort_at >= since)
    if until is not None:
        query = query.where(Item.sort_at < until + timedelta(days=1))
    words = filters.get("q", "").strip()
    if words:
        if words.isdigit() and len(words) < 19:
            query = query.where(Item.id == int(words))
        else:
            query = query.where(func.lower(Item.title).contains(words.lower(), autoescape=True))
    return query.order_by(Item.sort_at.desc(), Item.id.desc())


@router.get(urls.ADMIN_SECTIONS["items"], dependencies=[FLASH])
async def items_page(
    request: Request,
    viewer: Viewer = CHANNEL_EDITOR,
    q: str = "",
    channel: str = "",
    publication: str = "",
    hashtag: str = "",
    state: str = "",
    since: str = "",
    until: str = "",
    pinned: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The items list with its filters and bulk actions."""
    site = site_of(request)
    given = {
        "channel": channel,
        "publication": publication,
        "hashtag": hashtag,
        "state": state,
        "since": since,
        "until": until,
        "q": q,
        "pinned": pinned,
    }
    filters = {k: v[:200] for k, v in given.items()}
    page_no = page
    scope = scope_of(request, viewer)
    with session_scope(site.settings.database_url) as session:
        channels = {
            c.slug: c.id
            for c in session.scalars(select(Channel).order_by(Channel.slug))
            if scope.has(c.slug)
        }
        rows = session.execute(
            item_query(filters, channels, scope)
            .offset((page_no - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        ).all()
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        tags: dict[int, list[str]] = {}
        for item_id, tag in session.execute(
            select(ItemHashtag.item_id, ItemHashtag.hashtag)
            .where(ItemHashtag.item_id.in_([r[0].id for r in rows]))
            .order_by(ItemHashtag.item_id, ItemHashtag.rank)
        ):
            if tag not in tags.setdefault(item_id, []):
                tags[item_id].append(tag)
        listed = select(Publication.tag).where(Publication.is_channel_own.is_(False))
        in_scope = scope.publication_ids()
        if in_scope is not None:
            listed = listed.where(Publication.id.in_(in_scope))
        publications = list(session.scalars(listed.order_by(Publication.tag)))
        hashtags = sorted(
            {h.tag for c in site.settings.channels if scope.has(c.slug) for h in c.hashtags}
        )
        query = {k: v for k, v in filters.items() if v}
        return admin_page(
            request,
            "admin/items.html",
            section="items",
            title="Items",
            rows=[(r[0], r[1], tags.get(r[0].id, [])) for r in rows],
            filters=filters,
            channels=list(channels),
            publications=publications,
            hashtags=hashtags,
            states=STATES,
            actions=ACTIONS,
            page_no=page_no,
            prev_url=site.urls.admin("items", **query, page=page_no - 1) if page_no > 1 else None,
            next_url=site.urls.admin("items", **query, page=page_no + 1) if more else None,
            here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            now=utcnow(),
        )


def apply(session: Any, viewer: Viewer, action: str, item_id: int, form: Any) -> None:
    """One bulk action on one item."""
    actor = actor_of(viewer)
    reason = first(form, "reason")[:500]
    if action == "unpublish":
        editorial.unpublish(session, actor, item_id, reason)
    elif action == "republish":
        editorial.republish(session, actor, item_id, reason)
    elif action == "include":
        editorial.set_digest_choice(session, actor, item_id, "include", reason)
    elif action == "exclude":
        editorial.set_digest_choice(session, actor, item_id, "exclude", reason)
    elif action == "digest-default":
        editorial.set_digest_choice(session, actor, item_id, None, reason)
    elif action in ("pin", "unpin"):
        try:
            hours = float(first(form, "hours", "6")) if action == "pin" else 0.0
        except ValueError as exc:
            raise editorial.EditorialError("hours must be a number") from exc
        editorial.pin(session, actor, item_id, hours, reason)
    else:
        raise editorial.EditorialError(f"unknown action {action[:40]!r}")


@router.post(urls.ADMIN_ACTION.format(section="items"), dependencies=[CSRF])
async def items_action(request: Request, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """A bulk (or single) action on the checked items; each one audited on its own."""
    site = site_of(request)
    form = await form_lists(request)
    action = first(form, "action")
    default = site.urls.admin("items")
    try:
        ids = ids_of(form)
    except Refused:
        raise  # out of the editor's scope: 403, not a problem notice
    except NewslineError as exc:
        return back_to(default, form, problem=str(exc))
    if not ids:
        return back_to(default, form, problem="Tick at least one item.")
    scope = scope_of(request, viewer)
    with session_scope(site.settings.database_url) as session:
        for item_id in ids:  # all in scope, or nothing done
            scope.check_item(session, item_id)
    done: list[int] = []
    failed: list[str] = []
    for item_id in ids:
        try:
            with session_scope(site.settings.database_url) as session:
                apply(session, viewer, action, item_id, form)
            done.append(item_id)
        except editorial.EditorialError as exc:
            failed.append(str(exc))
    label = ACTIONS.get(action, action).lower()
    notice = f"{label}: {len(done)} item{'s' if len(done) != 1 else ''}" if done else ""
    return back_to(default, form, notice=notice, problem="; ".join(failed[:5]))


@router.get(urls.ADMIN_ITEM, dependencies=[FLASH])
async def item_page(request: Request, item_id: int, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """One item: its state, the edit, retag and pin forms, and its audit trail."""
    site = site_of(request)
    scope = scope_of(request, viewer)
    with session_scope(site.settings.database_url) as session:
        item = session.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item with id {item_id}")
        scope.check_item(session, item_id)
        publication = session.get(Publication, item.publication_id)
        tags = session.execute(
            select(Channel.slug, ItemHashtag.hashtag, ItemHashtag.source)
            .join(Channel, Channel.id == ItemHashtag.channel_id)
            .where(ItemHashtag.item_id == item_id)
            .order_by(Channel.slug, ItemHashtag.rank)
        ).all()
        tags = [t for t in tags if scope.has(t[0])]
        member_of = set(
            session.scalars(
                select(Channel.slug)
                .join(Newsline, Newsline.channel_id == Channel.id)
                .where(Newsline.publication_id == item.publication_id)
            )
        )
        channels = [c for c in site.settings.channels if c.slug in member_of and scope.has(c.slug)]
        page_links = [
            (c.slug, site.urls.item(c.slug, publication.tag, item.slug or item.id))
            for c in channels
            if publication is not None
        ]
        return admin_page(
            request,
            "admin/item.html",
            section="items",
            title=f"Item {item_id}",
            item=item,
            publication=publication,
            tags=tags,
            channels=channels,
            page_links=page_links,
            trail=entries(session, target_type="item", target_id=item_id, limit=50),
            actions=ACTIONS,
            here=site.urls.admin_item(item_id),
            now=utcnow(),
        )


@router.post(urls.ADMIN_ITEM, dependencies=[CSRF])
async def item_post(request: Request, item_id: int, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """Edit title/summary, revert the edit, or retag the item on a channel."""
    site = site_of(request)
    form = await form_lists(request)
    action = first(form, "action")
    default = site.urls.admin_item(item_id)
    actor = actor_of(viewer)
    scope = scope_of(request, viewer)
    with session_scope(site.settings.database_url) as session:
        scope.check_item(session, item_id)
    try:
        if action == "edit":
            with session_scope(site.settings.database_url) as session:
                editorial.edit(
                    session,
                    actor,
                    item_id,
                    title=first(form, "title"),
                    summary=first(form, "summary"),
                    reason=first(form, "reason")[:500],
                )
            notice = "Title and summary saved; the originals are kept."
        elif action == "revert":
            with session_scope(site.settings.database_url) as session:
                editorial.revert_edit(session, actor, item_id, first(form, "reason")[:500])
            notice = "The original title and summary are shown again."
        elif action == "retag":
            on = first(form, "channel") or None
            if on is None and not scope.everywhere:
                on = scope.slugs[0]  # a per-channel editor retags on their own channel
            if on is not None:
                scope.check_channel(on)
            slug = editorial.retag(site.settings, actor, item_id, first(form, "hashtag"), on)
            notice = f"Retagged on {slug}: the channel's tagger learns from it."
        else:
            with session_scope(site.settings.database_url) as session:
                apply(session, viewer, action, item_id, form)
            notice = f"{ACTIONS.get(action, action)}: done."
    except Refused:
        raise  # out of the editor's scope: 403, not a problem notice
    except NewslineError as exc:
        return back_to(default, form, problem=str(exc))
    return back_to(default, form, notice=notice)

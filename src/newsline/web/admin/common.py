"""What every console page shares: the role check, the page frame, forms and redirects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from newsline.community.audit import Actor
from newsline.db.models import Channel, Digest, Item, Newsline, Publication
from newsline.web.auth import Viewer, require_role, require_role_somewhere
from newsline.web.csrf import require_csrf
from newsline.web.render import page
from newsline.web.site import NO_STORE, BadRequest, Refused, see_other, site_of

#: The install-wide sections (people, roles, the audit log) need an install-wide editor.
EDITOR = Depends(require_role("editor"))
#: The channel sections (items, digests, publications, channel settings) need an editor
#: install-wide or on a channel; a per-channel editor sees and acts on that channel only
#: (:class:`Scope`).
CHANNEL_EDITOR = Depends(require_role_somewhere("editor"))
#: Its forms also need the CSRF token of the session.
CSRF = Depends(require_csrf)


def _flash(notice: str = "", problem: str = "") -> None:
    """The outcome of the last action (``?notice=`` / ``?problem=``), shown by the layout.

    Declared so that the render cache's canonical query keeps them (web/cache.py keeps only
    the parameters a route declares)."""


#: Every console page declares it (and its own filters) for that reason.
FLASH = Depends(_flash)
#: Bulk actions name at most this many items.
MAX_BULK = 500


OUT_OF_SCOPE = "That belongs to a channel your editor role does not cover."


@dataclass(frozen=True)
class Scope:
    """The channels a console page shows and acts on: every channel for an install-wide
    editor, else the channels where the viewer holds the editor role.

    A publication (and its items) is in scope when every channel carrying it is: a
    publication shared with another channel is that channel's too, so only an editor of
    all of them (or install-wide) may change it."""

    slugs: tuple[str, ...]
    everywhere: bool

    def has(self, slug: str) -> bool:
        """Whether channel `slug` is in scope."""
        return self.everywhere or slug in self.slugs

    def check_channel(self, slug: str) -> None:
        """403 unless channel `slug` is in scope."""
        if not self.has(slug):
            raise Refused(OUT_OF_SCOPE, status=403)

    def publication_ids(self) -> Select[Any] | None:
        """The ids of the publications in scope (None: all of them)."""
        if self.everywhere:
            return None
        carried = select(Newsline.publication_id).join(Channel, Channel.id == Newsline.channel_id)
        mine = carried.where(Channel.slug.in_(self.slugs))
        others = carried.where(Channel.slug.not_in(self.slugs))
        return select(Publication.id).where(Publication.id.in_(mine), Publication.id.not_in(others))

    def _check_publication_id(self, session: Session, publication_id: int) -> None:
        ids = self.publication_ids()
        if ids is not None and session.scalar(ids.where(Publication.id == publication_id)) is None:
            raise Refused(OUT_OF_SCOPE, status=403)

    def check_item(self, session: Session, item_id: int) -> None:
        """403 unless item `item_id` is in scope (a missing one is left to the action)."""
        if self.everywhere:
            return
        item = session.get(Item, item_id)
        if item is not None:
            self._check_publication_id(session, item.publication_id)

    def check_publication(self, session: Session, tag: str) -> None:
        """403 unless the publication tagged `tag` is in scope (a missing one is left to
        the action)."""
        if self.everywhere:
            return
        found = session.scalar(select(Publication.id).where(Publication.tag == tag))
        if found is not None:
            self._check_publication_id(session, found)

    def check_digest(self, session: Session, digest_id: int) -> None:
        """403 unless Digest `digest_id` is of a channel in scope."""
        if self.everywhere:
            return
        slug = session.scalar(
            select(Channel.slug)
            .join(Digest, Digest.channel_id == Channel.id)
            .where(Digest.id == digest_id)
        )
        if slug is not None:
            self.check_channel(slug)

    def default(self, wanted: str, fallback: str) -> str:
        """The channel a page shows: `wanted` when given, else `fallback` when in scope,
        else the first in scope (403 when `wanted` is out of scope)."""
        if wanted:
            self.check_channel(wanted)
            return wanted
        return fallback if self.has(fallback) or not self.slugs else self.slugs[0]


def scope_of(request: Request, viewer: Viewer) -> Scope:
    """The viewer's console scope (:class:`Scope`)."""
    slugs = tuple(c.slug for c in site_of(request).settings.channels)
    if viewer.can("editor"):
        return Scope(slugs, True)
    return Scope(tuple(s for s in slugs if viewer.can("editor", s)), False)


def actor_of(viewer: Viewer) -> Actor:
    """The audit log's actor for a signed-in editor."""
    return Actor(label=viewer.email, user_id=viewer.id)


def admin_page(
    request: Request, template: str, *, section: str, title: str, **context: Any
) -> HTMLResponse:
    """A console page in the default channel's chrome, never cached by anybody."""
    site = site_of(request)
    channel = site.default_channel()
    notice = request.query_params.get("notice", "")[:300]
    problem = request.query_params.get("problem", "")[:300]
    context.setdefault("notice", notice)
    context.setdefault("problem", problem)
    return page(
        request,
        channel,
        template,
        None,
        column="console",
        title=f"{title} · console · {channel.cfg.display_name}",
        headers=NO_STORE,
        section=section,
        **context,
    )


def first(form: Mapping[str, list[str]], name: str, default: str = "") -> str:
    """A form field's first value."""
    values = form.get(name)
    return values[0] if values else default


def ids_of(form: Mapping[str, list[str]], name: str = "ids") -> list[int]:
    """The integer ids a form names (checkboxes), in order, without repeats."""
    out: list[int] = []
    for value in form.get(name, []):
        for part in value.replace(",", " ").split():
            if not part.isdigit() or len(part) > 18:
                raise BadRequest(f"{part[:20]!r} is not an id")
            if int(part) not in out:
                out.append(int(part))
    if len(out) > MAX_BULK:
        raise BadRequest(f"at most {MAX_BULK} at once")
    return out


def back_to(default: str, form: Mapping[str, list[str]], **message: str) -> RedirectResponse:
    """Post/redirect/get: back to the page the form came from (a console path only), with
    the outcome in ``notice`` or ``problem``."""
    target = first(form, "back") or default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin"):
        target = default
        parts = urlsplit(target)
    query = [
        (k, v)
        for k, vs in parse_qs(parts.query).items()
        for v in vs
        if k not in ("notice", "problem")
    ]
    query += [(k, v[:300]) for k, v in message.items() if v]
    location = parts.path + (f"?{urlencode(query)}" if query else "")
    return see_other(location)

"""What every console page shares: the role check, the page frame, forms and redirects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from newsline.community.audit import Actor
from newsline.web.auth import Viewer, require_role
from newsline.web.csrf import require_csrf
from newsline.web.render import page
from newsline.web.site import BadRequest, site_of

#: The console's pages need an editor (install-wide).
EDITOR = Depends(require_role("editor"))
#: Its forms also need the CSRF token of the session.
CSRF = Depends(require_csrf)


def _flash(notice: str = "", problem: str = "") -> None:
    """The outcome of the last action (``?notice=`` / ``?problem=``), shown by the layout.

    Declared so that the render cache's canonical query keeps them (web/cache.py keeps only
    the parameters a route declares)."""


#: Every console page declares it (and its own filters) for that reason.
FLASH = Depends(_flash)
#: Forms are small; bulk actions name at most this many items.
MAX_FORM_BYTES = 64 * 1024
MAX_BULK = 500
NO_STORE = {"cache-control": "private, no-store"}


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


async def form_lists(request: Request) -> dict[str, list[str]]:
    """A urlencoded form's fields, every value of each (checkbox lists)."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequest("This form is too large.")
    return parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)


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
    return RedirectResponse(location, status_code=303, headers=NO_STORE)

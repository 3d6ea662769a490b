"""Who is signed in: the :class:`Viewer` of a request, and the dependencies that require one.

A request is signed in by a signed-in session id in the ``nl_sid`` cookie (see
:mod:`newsline.web.session`: ids starting ``S.``, made fresh at sign-in) or by a personal
API token in ``Authorization: Bearer <token>``. :func:`viewer` looks it up once per request
(``request.state``) and answers None for everybody else without touching the database.

- :func:`require_viewer`: API paths answer 401 (JSON), pages redirect (303) to the sign-in
  page with ``?next=`` the page asked for.
- :func:`require_role`: as above, then 403 below the role; ``reader < moderator < editor <
  admin``, and a role held on one channel counts on that channel (``channel_param`` names
  the path parameter carrying its slug).
- :func:`csrf_unless_token`: API writes need the CSRF token of the session (``X-CSRF-Token``)
  unless they carry an API token (which a browser never sends by itself).

Templates call ``viewer()`` (a Jinja global set by :func:`install`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import Engine

from newsline import urls
from newsline.community.accounts import (
    api_token_user,
    channel_roles,
    has_role,
    secret_hash,
    session_due_touch,
    session_expired,
    session_user,
)
from newsline.db.engine import session_scope
from newsline.db.models import User, utcnow
from newsline.db.raw import raw_rows
from newsline.errors import NewslineError
from newsline.web.csrf import require_csrf
from newsline.web.queries import aware
from newsline.web.safety import local_path
from newsline.web.session import is_signed_in_id, session_id
from newsline.web.site import Refused, see_other, site_of

_VIEWER = "newsline_viewer"
_METHOD = "newsline_auth_method"


@dataclass(frozen=True)
class Viewer:
    """The signed-in reader of a request."""

    id: int
    email: str
    display_name: str
    role: str  # reader | moderator | editor | admin, install-wide
    verified: bool
    channel_roles: dict[str, str] = field(default_factory=dict)  # channel slug -> role

    def can(self, role: str, channel: str | None = None) -> bool:
        """Whether the viewer holds at least `role` (on `channel`, a slug, when given)."""
        return has_role(self.role, self.channel_roles, role, channel)

    @classmethod
    def of(cls, user: User, roles: dict[str, str]) -> Viewer:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            verified=user.verified_at is not None,
            channel_roles=roles,
        )


class SignInRequired(NewslineError):
    """A page for signed-in readers only; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("Please sign in first.")
        self.next_path = next_path


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


_SESSION_VIEWER = (
    "SELECT auth_session.created_at, auth_session.last_seen_at, auth_session.expires_at, "
    "user_account.id, user_account.email, user_account.display_name, user_account.role, "
    "user_account.verified_at, channel.slug, channel_role.role "
    "FROM auth_session JOIN user_account ON user_account.id = auth_session.user_id "
    "LEFT JOIN channel_role ON channel_role.user_id = user_account.id "
    "LEFT JOIN channel ON channel.id = channel_role.channel_id "
    "WHERE auth_session.id_hash = :hash AND user_account.deleted_at IS NULL"
)


def _session_viewer(engine: Engine, sid: str) -> Viewer | bool | None:
    """The viewer of signed-in session `sid` read in one statement (the ORM's look-up cost
    ~10x more on every signed-in page); None when there is no such session; False when it
    needs a write (expired: removed; idle clock: touched), which :func:`session_user` does."""
    now = utcnow()
    with engine.connect() as conn:
        rows = raw_rows(conn, _SESSION_VIEWER, {"hash": secret_hash(sid)})
    if not rows:
        return None
    created, seen, expires, user_id, email, name, role, verified = rows[0][:8]
    if session_expired(aware(created), aware(expires), now) or session_due_touch(aware(seen), now):
        return False
    return Viewer(
        id=user_id,
        email=email,
        display_name=name,
        role=role,
        verified=verified is not None,
        channel_roles={row[8]: row[9] for row in rows if row[8]},
    )


def _lookup(request: Request) -> tuple[Viewer | None, str | None]:
    token = _bearer(request)
    sid = session_id(request)
    if token is None and not is_signed_in_id(sid):
        return None, None
    site = site_of(request)
    if token is None:
        assert sid is not None
        fast = _session_viewer(site.engine, sid)
        if isinstance(fast, Viewer):  # read in one statement, nothing to write
            return fast, "session"
        if fast is None:
            return None, None
    with session_scope(site.settings.database_url) as session:
        if token is not None:
            user = api_token_user(session, token)
            method = "token"
        else:
            assert sid is not None
            found = session_user(session, sid)
            user = found[1] if found is not None else None
            method = "session"
        if user is None:
            return None, None
        return Viewer.of(user, channel_roles(session, user.id)), method


def viewer(request: Request) -> Viewer | None:
    """The signed-in reader of `request`, or None (looked up once per request)."""
    state = request.scope.setdefault("state", {})
    if _VIEWER not in state:
        state[_VIEWER], state[_METHOD] = _lookup(request)
    found: Viewer | None = state[_VIEWER]
    return found


def forget_viewer(request: Request) -> None:
    """Drop the cached viewer (after signing in or out within the request)."""
    state = request.scope.setdefault("state", {})
    state.pop(_VIEWER, None)
    state.pop(_METHOD, None)


def auth_method(request: Request) -> str | None:
    """How the request is signed in: ``session`` (cookie), ``token`` (API token) or None."""
    viewer(request)
    method: str | None = request.scope["state"].get(_METHOD)
    return method


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API (errors as JSON, no redirects)."""
    return request.url.path.startswith(urls.API + "/")


def require_viewer(request: Request) -> Viewer:
    """Dependency: the signed-in reader; else 401 (API) or a redirect to sign in (pages)."""
    found = viewer(request)
    if found is not None:
        return found
    if is_api(request):
        raise Refused("Sign in first (a session cookie or an API token).", status=401)
    query = request.url.query
    raise SignInRequired(request.url.path + (f"?{query}" if query else ""))


def require_role(role: str, channel_param: str | None = None) -> Callable[[Request], Viewer]:
    """Dependency factory: the signed-in reader holding at least `role` (on the channel named
    by path parameter `channel_param`, when given); 401/303 when signed out, 403 below it."""

    def dependency(request: Request) -> Viewer:
        found = require_viewer(request)
        channel = request.path_params.get(channel_param) if channel_param else None
        if not found.can(role, channel):
            raise Refused(
                f"This needs the {role} role, which your account does not have.", status=403
            )
        return found

    dependency.__name__ = f"require_{role}"
    return dependency


def require_role_somewhere(role: str) -> Callable[[Request], Viewer]:
    """Dependency factory: the signed-in reader holding at least `role` install-wide or on
    at least one channel (a page that then shows only those channels' data); 401/303 when
    signed out, 403 below it everywhere."""

    def dependency(request: Request) -> Viewer:
        found = require_viewer(request)
        if not (found.can(role) or any(found.can(role, c) for c in found.channel_roles)):
            raise Refused(
                f"This needs the {role} role, which your account does not have.", status=403
            )
        return found

    dependency.__name__ = f"require_{role}_somewhere"
    return dependency


async def csrf_unless_token(request: Request) -> None:
    """Dependency for API writes: a request signed in by API token needs no CSRF token; any
    other needs the session's (``X-CSRF-Token`` header or ``csrf_token`` form field)."""
    if _bearer(request) is not None:
        return
    await require_csrf(request)


@pass_context
def viewer_global(context: Context) -> Viewer | None:
    """Jinja global ``viewer()``: the page's signed-in reader, or None."""
    return viewer(context["request"])


def install(app: FastAPI) -> None:
    """Wire accounts into the app: the ``viewer()`` template global and the sign-in redirect."""
    site_templates: Any = app.state.site.templates
    site_templates.globals["viewer"] = viewer_global

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        target = site_of(request).urls.sign_in(local_path(exc.next_path))
        return see_other(target)

    app.add_exception_handler(SignInRequired, sign_in_required)

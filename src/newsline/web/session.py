"""The reader's session: a random id in the ``nl_sid`` cookie, made when first needed.

The id keys the reader's presence (one reader online however many heartbeats) and ties
CSRF tokens to the browser (:mod:`newsline.web.csrf`). It is made only where needed (a
form page, a heartbeat), never on plain pages. Two middlewares carry it:

- :class:`SessionReaderMiddleware` (outside the render cache) takes ``nl_sid`` out of the
  request's Cookie header into the request state: pages do not depend on it, so a reader
  with a session still gets the shared cached page.
- :class:`SessionCookieMiddleware` (inside the render cache, which then keeps nothing)
  sets the cookie on the response of a request that made a session (``HttpOnly``,
  ``SameSite=Lax``, ``Secure`` over TLS: :func:`newsline.web.clients.set_cookie`).

A signed-in reader's id is a different, longer one starting ``S.`` (:func:`rotate_session`
makes it on sign-in, so an id planted before sign-in is worth nothing after; the table
``auth_session`` keeps its hash). :class:`SessionReaderMiddleware` leaves such an id in the
Cookie header, so the render cache sees a personal request and neither serves nor keeps a
shared page for it: the check costs a string prefix, no database look-up.
"""

from __future__ import annotations

import re
import secrets

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsline.web.clients import set_cookie

SESSION_COOKIE = "nl_sid"
SESSION_AGE = 365 * 86400
_STATE_KEY = "newsline_new_session"
_SENT_KEY = "newsline_session_cookie"
_ROTATED_KEY = "newsline_session_age"
#: Signed-in session ids start with this (anonymous ones never contain a dot).
SIGNED_IN_PREFIX = "S."
_ID = re.compile(r"^(?:S\.)?[A-Za-z0-9_-]{22,64}$")


def valid_session_id(value: str | None) -> bool:
    """Whether a cookie value can be a session id we made."""
    return value is not None and _ID.match(value) is not None


def is_signed_in_id(value: str | None) -> bool:
    """Whether a session id is of the signed-in kind (it may still be expired or revoked)."""
    return value is not None and value.startswith(SIGNED_IN_PREFIX)


def session_id(request: Request) -> str | None:
    """The request's session id (from its cookie, or made during this request), or None."""
    state = request.scope.get("state", {})
    made = state.get(_STATE_KEY)
    if made:
        return str(made)
    value = state.get(_SENT_KEY) or request.cookies.get(SESSION_COOKIE)
    return value if valid_session_id(value) else None


def ensure_session(request: Request) -> str:
    """The request's session id, making one (the response will set its cookie) if needed."""
    current = session_id(request)
    if current is not None:
        return current
    new = secrets.token_urlsafe(18)
    request.scope.setdefault("state", {})[_STATE_KEY] = new
    return new


def rotate_session(request: Request, signed_in: bool, max_age: int = SESSION_AGE) -> str:
    """Replace the request's session id with a fresh one (sign-in, sign-out): the response
    sets it, and CSRF tokens made from now on are bound to it. Returns the new id."""
    new = SIGNED_IN_PREFIX + secrets.token_urlsafe(32) if signed_in else secrets.token_urlsafe(18)
    state = request.scope.setdefault("state", {})
    state[_STATE_KEY] = new
    state[_ROTATED_KEY] = max_age
    return new


class SessionCookieMiddleware:
    """Sets ``nl_sid`` on the response when the request made a session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                made = scope["state"].get(_STATE_KEY)
                if made:
                    carrier = Response()
                    age = scope["state"].get(_ROTATED_KEY, SESSION_AGE)
                    set_cookie(carrier, Request(scope), SESSION_COOKIE, made, age)
                    headers = MutableHeaders(scope=message)
                    for name, value in carrier.raw_headers:
                        if name == b"set-cookie":
                            headers.append("set-cookie", value.decode("latin-1"))
                    # A response setting a cookie is somebody's own: no shared cache keeps it.
                    if "no-store" not in headers.get("cache-control", ""):
                        headers["cache-control"] = "private, no-store"
            await send(message)

        await self.app(scope, receive, with_cookie)


def _without_session(cookie: bytes) -> tuple[bytes, str | None]:
    """The Cookie header without ``nl_sid``, and the value it had."""
    kept, found = [], None
    for part in cookie.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == SESSION_COOKIE.encode():
            found = value.strip().strip(b'"').decode("latin-1")
        elif part.strip():
            kept.append(part.strip())
    return b"; ".join(kept), found


class SessionReaderMiddleware:
    """Moves ``nl_sid`` from the Cookie header into the request state (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = []
            found = None
            for name, value in scope["headers"]:
                if name == b"cookie" and SESSION_COOKIE.encode() in value:
                    value, sent = _without_session(value)
                    found = sent or found
                    if not value:
                        continue
                headers.append((name, value))
            # A signed-in id stays in the header: the render cache must see a personal request.
            if found is not None and not is_signed_in_id(found):
                scope = {**scope, "headers": headers}
                scope["state"] = {**scope.get("state", {}), _SENT_KEY: found}
        await self.app(scope, receive, send)

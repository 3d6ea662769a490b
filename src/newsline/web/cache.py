"""An in-process micro-cache: anonymous GET responses reused for about a second.

A burst of readers on the same page costs one render per worker per second. Responses
are keyed by path, query, the reader-option cookies and whether the client is a bot (bots
see 0 readers online); requests carrying any other cookie (a signed-in session's ``nl_sid``
among them: :mod:`newsline.web.session`) or an ``Authorization`` header, responses setting
a cookie, and responses marked ``no-store`` or ``private`` are never cached.

One render per page at a time: while a page is being rendered, other requests for it
wait for that render instead of starting their own (without this, the moment a busy
page expires every waiting request renders it: at 200 connections that is a burst of
~100 renders per worker and a p99 over a second). Once a page has expired, the first
request renders it afresh while the others are served the expired copy, for at most
`max_stale` seconds after it expired. Ages and the online count may thus be up to
`ttl` seconds old, plus one render time.

The query is first made canonical (:func:`canonical_query`): only the parameters the
matched route declares are kept, the first value of each, names compared without case,
empty ones dropped, in a fixed order. So ``?x=<random>`` (or ``utm_*``, ``fbclid``) cannot make a new cache
entry, and the route sees exactly the query its cache key names. The shipped
``deploy/nginx.conf`` builds its cache key the same way (nginx's ``$arg_name`` is the
first value, name without case): keep the two in step.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from http.cookies import CookieError, SimpleCookie

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsline import urls
from newsline.community.presence import is_bot

OPTION_COOKIES = frozenset({"nl_theme", "nl_dense"})
# Images vary by Accept (AVIF/WebP/JPEG), which this key does not: their proxy caches them.
SKIP_PREFIXES = (urls.STATIC + "/", urls.OPTIONS, urls.IMAGE.split("{")[0])

Entry = tuple[float, Message, bytes]


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, in routing order (FastAPI >= 0.165 keeps included routers whole)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes)


def route_query_params(routes: Iterable[BaseRoute], scope: Scope) -> frozenset[str]:
    """The query parameters (lower case) declared by the GET route that serves `scope`'s path."""
    probe = {**scope, "method": "GET"}
    for route in _api_routes(routes):
        match, _ = Route.matches(route, probe)  # by path and method alone
        if match is Match.FULL:
            return frozenset(_query_names(route.dependant))
    return frozenset()


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias.lower() for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def canonical_query(raw: bytes, known: frozenset[str]) -> bytes:
    """`raw` with only the `known` parameters, as nginx's ``$arg_<name>`` reads them.

    A parameter is its first ``name=value`` field whose raw (undecoded) name equals a known
    one without regard to case; an empty value counts as absent. Values stay as they came
    (the route decodes them); names are lower-cased and sorted. (A route that reads a
    repeated parameter as a list would see its first value only: none does.)
    """
    if not raw:
        return raw
    kept: dict[bytes, bytes] = {}
    for part in raw.split(b"&"):
        name, eq, value = part.partition(b"=")
        name = name.lower()
        if eq and name not in kept and name.decode("latin-1") in known:
            kept[name] = value
    return b"&".join(name + b"=" + value for name, value in sorted(kept.items()) if value)


class RenderCacheMiddleware:
    """Caches whole 200 responses of anonymous GET requests for `ttl` seconds."""

    def __init__(
        self, app: ASGIApp, ttl: float = 1.0, max_entries: int = 4096, max_stale: float = 10.0
    ) -> None:
        self.app = app
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_stale = max_stale
        self.entries: OrderedDict[tuple[str, ...], Entry] = OrderedDict()
        # Renders under way, by key: their outcome (None when not cacheable) once done.
        self.rendering: dict[tuple[str, ...], asyncio.Future[Entry | None]] = {}
        self.known: dict[str, frozenset[str]] = {}  # path -> its route's query parameters

    def known_params(self, scope: Scope) -> frozenset[str]:
        """The query parameters the route of this path reads (remembered per path)."""
        path: str = scope["path"]
        found = self.known.get(path)
        if found is None:
            app = scope.get("app")
            found = route_query_params(getattr(app, "routes", ()), scope)
            if len(self.known) >= self.max_entries:
                self.known.clear()  # made-up paths must not grow it without bound
            self.known[path] = found
        return found

    def canonical(self, scope: Scope) -> Scope:
        """`scope` with its query made canonical, for GET and HEAD requests of pages."""
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope.get("query_string")
            or scope["path"].startswith(SKIP_PREFIXES)
        ):
            return scope
        query = canonical_query(scope["query_string"], self.known_params(scope))
        return scope if query == scope["query_string"] else {**scope, "query_string": query}

    def key(self, scope: Scope) -> tuple[str, ...] | None:
        """The cache key of a request, or None when it must not be cached."""
        if scope["type"] != "http" or scope["method"] != "GET" or self.ttl <= 0:
            return None
        path: str = scope["path"]
        if path.startswith(SKIP_PREFIXES):
            return None
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            return None  # signed in by an API token: a personal request
        options = ["", ""]
        raw_cookie = headers.get(b"cookie")
        if raw_cookie:
            try:
                jar = SimpleCookie(raw_cookie.decode("latin-1"))
            except CookieError:
                return None
            if set(jar) - OPTION_COOKIES:
                return None  # a personal request (login, comments): render it
            options = [
                jar["nl_theme"].value if "nl_theme" in jar else "",
                jar["nl_dense"].value if "nl_dense" in jar else "",
            ]
        agent = headers.get(b"user-agent", b"").decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        return (path, query, *options, "bot" if is_bot(agent) else "human")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = self.canonical(scope)
        key = self.key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[0] > now:
            await self._replay(entry, send)
            return
        pending = self.rendering.get(key)
        if pending is not None:
            if entry is not None and now - entry[0] < self.max_stale:
                await self._replay(entry, send)  # being rendered afresh right now
                return
            fresh = await asyncio.shield(pending)
            if fresh is not None:
                await self._replay(fresh, send)
                return
            await self.app(scope, receive, send)  # not cacheable: this request's own render
            return
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self.rendering[key] = future
        stored: Entry | None = None
        try:
            stored = await self._render(key, scope, receive, send, now)
        finally:
            del self.rendering[key]
            future.set_result(stored)

    @staticmethod
    async def _replay(entry: Entry, send: Send) -> None:
        await send(entry[1])
        await send({"type": "http.response.body", "body": entry[2]})

    async def _render(
        self, key: tuple[str, ...], scope: Scope, receive: Receive, send: Send, now: float
    ) -> Entry | None:
        """Render the response, pass it on, and store it when it may be cached."""
        start: Message | None = None
        chunks: list[bytes] = []
        stored: Entry | None = None

        async def capture(message: Message) -> None:
            nonlocal start, stored
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    stored = self._store(key, start, b"".join(chunks), now)
            await send(message)

        await self.app(scope, receive, capture)
        return stored

    def _store(
        self, key: tuple[str, ...], start: Message | None, body: bytes, now: float
    ) -> Entry | None:
        if start is None or start["status"] != 200:
            return None
        for name, value in start.get("headers", []):
            name = name.lower()
            if name == b"set-cookie":
                return None
            # Pages that say so (subscription pages carry tokens and addresses) stay uncached.
            if name == b"cache-control" and (b"no-store" in value or b"private" in value):
                return None
        entry = (now + self.ttl, start, body)
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return entry

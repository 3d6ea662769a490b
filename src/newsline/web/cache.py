"""An in-process micro-cache: anonymous GET responses reused for about a second.

A burst of readers on the same page costs one render per worker per second. Responses
are keyed by path, query, the reader-option cookies and whether the client is a bot (bots
see 0 readers online); requests carrying any other cookie, responses setting one, and
responses marked ``no-store`` or ``private`` are never cached. Ages and the online count
may thus be up to `ttl` seconds old.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsline import urls
from newsline.community.presence import is_bot

OPTION_COOKIES = frozenset({"nl_theme", "nl_dense"})
SKIP_PREFIXES = (urls.STATIC + "/", urls.OPTIONS)

Entry = tuple[float, Message, bytes]


class RenderCacheMiddleware:
    """Caches whole 200 responses of anonymous GET requests for `ttl` seconds."""

    def __init__(self, app: ASGIApp, ttl: float = 1.0, max_entries: int = 4096) -> None:
        self.app = app
        self.ttl = ttl
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[str, ...], Entry] = OrderedDict()

    def key(self, scope: Scope) -> tuple[str, ...] | None:
        """The cache key of a request, or None when it must not be cached."""
        if scope["type"] != "http" or scope["method"] != "GET" or self.ttl <= 0:
            return None
        path: str = scope["path"]
        if path.startswith(SKIP_PREFIXES):
            return None
        headers = dict(scope["headers"])
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
        key = self.key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[0] > now:
            await send(entry[1])
            await send({"type": "http.response.body", "body": entry[2]})
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._store(key, start, b"".join(chunks), now)

        await self.app(scope, receive, capture)

    def _store(self, key: tuple[str, ...], start: Message | None, body: bytes, now: float) -> None:
        if start is None or start["status"] != 200:
            return
        for name, value in start.get("headers", []):
            name = name.lower()
            if name == b"set-cookie":
                return
            # Pages that say so (subscription pages carry tokens and addresses) stay uncached.
            if name == b"cache-control" and (b"no-store" in value or b"private" in value):
                return
        self.entries[key] = (now + self.ttl, start, body)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

"""One pure-ASGI layer for every response: security headers, and conditional GET.

For a successful GET/HEAD whose handler set no ETag, the body is hashed into a strong
ETag; ``If-None-Match`` (or ``If-Modified-Since`` when the handler gave a
``Last-Modified``) answers ``304 Not Modified``. Every GET gets a ``Cache-Control``.
"""

from __future__ import annotations

import hashlib
import time
from email.utils import formatdate, parsedate_to_datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts, styles, fonts and fetches fall back to default-src ('self' only, no inline
# code); no directive repeats it: the header is re-read on every nginx cache hit, and this
# one is most of the response's header bytes.
CSP = (
    "default-src 'self'; img-src 'self' https: http: data:; media-src https: http:; "
    "object-src 'none'; frame-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
DEFAULT_CACHE_CONTROL = b"public, no-cache"
KEEP_ON_304 = {b"etag", b"cache-control", b"last-modified", b"vary", b"expires"}


def _etag_matches(header: str, etag: str) -> bool:
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def _not_modified_since(header: str, last_modified: str) -> bool:
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False


class SiteHeadersMiddleware:
    """Adds security headers to all responses and ETag/304 handling to GET and HEAD.

    With `proxy_adds_security_headers` (``web.proxy_adds_security_headers``: the shipped
    deploy/nginx.conf adds them itself) a request that came through a proxy (it carries
    ``X-Forwarded-For``) gets none from here: nginx stores each cached response's headers
    and parses them again on every hit, and these are most of their bytes. A request
    without the header (straight to the app) still gets them, so a flag set by mistake
    leaves no directly served page without them."""

    def __init__(self, app: ASGIApp, proxy_adds_security_headers: bool = False) -> None:
        self.app = app
        self.proxy_adds = proxy_adds_security_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        security = (
            [] if self.proxy_adds and b"x-forwarded-for" in request_headers else SECURITY_HEADERS
        )
        if scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, self._decorating(send, security))
            return
        is_head = scope["method"] == "HEAD"
        if is_head:  # answer HEAD like GET (same validators), then drop the body
            scope = {**scope, "method": "GET"}
        if_none_match = request_headers.get(b"if-none-match", b"").decode("latin-1")
        if_modified_since = request_headers.get(b"if-modified-since", b"").decode("latin-1")
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def capture(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += security
                if b"cache-control" not in names:
                    headers.append((b"cache-control", DEFAULT_CACHE_CONTROL))
                message = {**message, "headers": headers}
                # Only whole successful bodies without their own validator are buffered.
                if message["status"] != 200 or b"etag" in names:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            if passthrough or start is None:
                if is_head and message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            await self._finish(
                start, body, (if_none_match, if_modified_since), security, send, is_head
            )

        await self.app(scope, receive, capture)

    async def _finish(
        self,
        start: Message,
        body: bytes,
        conditions: tuple[str, str],
        security: list[tuple[bytes, bytes]],
        send: Send,
        is_head: bool,
    ) -> None:
        if_none_match, if_modified_since = conditions
        headers: list[tuple[bytes, bytes]] = start["headers"]
        # SHA-1, cut to 96 bits: twice as fast as BLAKE2b on a 60 KiB page (~120 µs against
        # ~245, a fifth of a page kept by data version); an ETag needs no more than that.
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:24] + '"'
        last_modified = next(
            (v.decode("latin-1") for k, v in headers if k.lower() == b"last-modified"), ""
        )
        headers.append((b"etag", etag.encode()))
        if not last_modified:
            # Dated back: a page with no date now may have one on a later request (an item
            # page whose comments just changed, web/item.py), which must not match this one.
            headers.append((b"last-modified", formatdate(time.time() - 2, usegmt=True).encode()))
        if if_none_match:
            fresh = _etag_matches(if_none_match, etag)
        else:
            fresh = bool(if_modified_since and last_modified) and _not_modified_since(
                if_modified_since, last_modified
            )
        if fresh:
            kept = [(k, v) for k, v in headers if k.lower() in KEEP_ON_304]
            kept += security
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(start)
        await send({"type": "http.response.body", "body": b"" if is_head else body})

    @staticmethod
    def _decorating(send: Send, security: list[tuple[bytes, bytes]]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + security
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

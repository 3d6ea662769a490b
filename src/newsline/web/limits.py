"""Limits on what a request may make us read and echo: body size, validation-error size.

:class:`BodyLimitMiddleware` refuses a body over ``web.max_body_bytes`` with 413: at once
when its ``Content-Length`` says so, else as soon as the streamed chunks pass the limit
(chunked uploads are counted, never buffered beyond it). :func:`validation_errors` is what
a 422 answer lists: field, problem, never the submitted value itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A 422 lists at most this many problems, each message cut to this many characters.
MAX_ERRORS = 20
MAX_MESSAGE = 200


class BodyTooLarge(HTTPException):
    """A request body over the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` (or a larger limit for some path prefixes)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    def limit_for(self, path: str) -> int:
        """The body limit of a path."""
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server refuses a garbage Content-Length itself
            if too_large:
                await _refuse(send, limit)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """A validation error list fit to send back: location, type and message of each problem,
    without the offending input (it may be megabytes, or somebody else's data)."""
    shown = []
    for error in list(errors)[:MAX_ERRORS]:
        loc = [part if isinstance(part, int) else _short(part) for part in error.get("loc", ())[:8]]
        shown.append(
            {"loc": loc, "type": _short(error.get("type", "")), "msg": _short(error.get("msg", ""))}
        )
    return shown

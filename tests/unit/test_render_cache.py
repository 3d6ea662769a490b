"""The render cache renders a page once at a time (issue 16, "Load"): when a busy page is
missing or expired, concurrent requests for it wait for one render or get the expired
copy, instead of each rendering it (a burst that put the front page's p99 over a second).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from newsline.web.cache import RenderCacheMiddleware


class SlowPage:
    """An ASGI app that takes `delay` seconds per render and counts its renders."""

    def __init__(self, delay: float, status: int = 200, headers: Any = ()) -> None:
        self.delay = delay
        self.status = status
        self.headers = list(headers)
        self.renders = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.renders += 1
        number = self.renders
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": f"render {number}".encode()})


def scope(path: str = "/news/newsline") -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"user-agent", b"Mozilla/5.0 Chrome/126.0")],
    }


async def get(cache: RenderCacheMiddleware, path: str = "/news/newsline") -> str:
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        messages.append(message)

    await cache(scope(path), receive, send)
    assert messages[0]["status"] in (200, 404)
    return b"".join(m.get("body", b"") for m in messages[1:]).decode()


def test_concurrent_misses_share_one_render() -> None:
    page = SlowPage(0.2)
    cache = RenderCacheMiddleware(page, ttl=60)

    async def burst() -> list[str]:
        return await asyncio.gather(*(get(cache) for _ in range(50)))

    assert asyncio.run(burst()) == ["render 1"] * 50
    assert page.renders == 1
    asyncio.run(get(cache, "/news/solo/harbor"))  # another page: its own render
    assert page.renders == 2


def test_an_expired_page_is_rendered_once_while_others_get_the_old_copy() -> None:
    page = SlowPage(0.2)
    cache = RenderCacheMiddleware(page, ttl=0.05)

    async def scenario() -> list[str]:
        assert await get(cache) == "render 1"
        await asyncio.sleep(0.1)  # expired
        return await asyncio.gather(*(get(cache) for _ in range(20)))

    bodies = asyncio.run(scenario())
    assert page.renders == 2
    assert bodies.count("render 2") == 1 and bodies.count("render 1") == 19


def test_uncacheable_pages_are_rendered_per_request() -> None:
    for page in (SlowPage(0.05, 404), SlowPage(0.05, headers=[(b"set-cookie", b"a=b")])):
        cache = RenderCacheMiddleware(page, ttl=60)

        async def burst(cache: RenderCacheMiddleware = cache) -> list[str]:
            return await asyncio.gather(*(get(cache) for _ in range(5)))

        bodies = asyncio.run(burst())
        assert page.renders == 5 and len(set(bodies)) == 5

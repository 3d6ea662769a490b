"""A small WebSub hub on loopback (the W3C WebSub Recommendation), for tests and demos.

It does what the spec asks of a hub, on aiohttp:

- accepts ``hub.mode=subscribe`` / ``unsubscribe`` (§5.1) with ``hub.callback``,
  ``hub.topic``, ``hub.lease_seconds`` and ``hub.secret``, answers 202 and then verifies
  the subscriber's intent (§5.3) with a GET carrying ``hub.challenge``: only an echoed
  challenge makes (or ends) the subscription;
- can deny a topic (§5.2: a GET with ``hub.mode=denied`` and ``hub.reason``);
- keeps each subscription's lease and stops delivering when it expires;
- distributes content (§7) with ``Link: <hub>; rel="hub", <topic>; rel="self"`` and, when
  the subscriber gave a secret, ``X-Hub-Signature: sha256=<HMAC of the body>`` (§8); a 410
  answer ends the subscription;
- takes publishers' pings (``hub.mode=publish`` with ``hub.url``, the common convention):
  it fetches the topic and distributes it.

For tests it can be *down* (every request answered 503) and can expire leases on demand.
Run it with ``with WebSubHub() as hub:`` (a thread with its own event loop); the methods
without a leading underscore are safe to call from the test's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

T = TypeVar("T")
#: §5.1: a secret must be less than 200 bytes.
MAX_SECRET_BYTES = 199


@dataclass
class HubSubscription:
    """One verified subscription, as the hub keeps it."""

    topic: str
    callback: str
    secret: str | None
    lease_seconds: int
    expires_at: float  # time.time() seconds


@dataclass(frozen=True)
class Verification:
    """One intent verification the hub made: what it asked, and whether it was confirmed."""

    mode: str
    topic: str
    callback: str
    status: int | None
    confirmed: bool


@dataclass(frozen=True)
class Delivered:
    """One content distribution request: to whom, and what the subscriber answered."""

    topic: str
    callback: str
    status: int | None
    error: str | None = None


class WebSubHub:
    """The hub. ``url`` is its endpoint once started."""

    def __init__(
        self,
        *,
        default_lease: int = 86400,
        max_lease: int = 30 * 86400,
        signature_method: str = "sha256",
    ) -> None:
        self.default_lease = default_lease
        self.max_lease = max_lease
        self.signature_method = signature_method
        self.url = ""
        #: When true, every request is answered 503 (a hub that is down).
        self.down = False
        #: Topics whose subscriptions are denied, with the reason given.
        self.denied: dict[str, str] = {}
        self.requests: list[dict[str, str]] = []
        self.verifications: list[Verification] = []
        self.deliveries: list[Delivered] = []
        self._subscriptions: dict[tuple[str, str], HubSubscription] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> WebSubHub:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Serve on a free loopback port, in a thread of its own."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="websub-hub", daemon=True)
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        """Finish outstanding work, stop serving and end the thread."""
        if self._loop is None:
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def _stop(self) -> None:
        await self._settle()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "start the hub first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    # -- the test's side --------------------------------------------------------------------

    def settle(self) -> None:
        """Wait until every verification and distribution the hub started has finished."""
        self._call(self._settle())

    def subscribers(self, topic: str) -> list[HubSubscription]:
        """The topic's subscriptions whose lease has not expired."""

        async def current() -> list[HubSubscription]:
            now = time.time()
            return [
                s for (t, _), s in self._subscriptions.items() if t == topic and s.expires_at > now
            ]

        return self._call(current())

    def expire(self, topic: str | None = None) -> int:
        """End the leases of a topic's subscriptions (all topics' when None) right now."""

        async def expire() -> int:
            subs = [s for (t, _), s in self._subscriptions.items() if topic in (None, t)]
            for sub in subs:
                sub.expires_at = time.time() - 1
            return len(subs)

        return self._call(expire())

    def publish(
        self, topic: str, body: bytes, content_type: str = "application/rss+xml"
    ) -> list[Delivered]:
        """Distribute new content of `topic` to its subscribers; what each answered."""
        return self._call(self._distribute(topic, body, content_type))

    # -- the hub's side (§5-§8) -------------------------------------------------------------

    async def _settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="hub temporarily down")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        mode = form.get("hub.mode", "")
        if mode in ("subscribe", "unsubscribe"):
            return self._subscription_request(mode, form)
        if mode == "publish":
            topic = form.get("hub.url") or form.get("hub.topic") or ""
            if not _web_url(topic):
                return web.Response(status=400, text="hub.url must be an http(s) URL")
            self._spawn(self._fetch_and_distribute(topic))
            return web.Response(status=202, text="publishing")
        return web.Response(status=400, text=f"unknown hub.mode {mode!r}")

    def _subscription_request(self, mode: str, form: dict[str, str]) -> web.Response:
        callback, topic = form.get("hub.callback", ""), form.get("hub.topic", "")
        if not _web_url(callback):
            return web.Response(status=400, text="hub.callback must be an http(s) URL")
        if not topic:
            return web.Response(status=400, text="hub.topic is required")
        secret = form.get("hub.secret") or None
        if secret is not None and len(secret.encode()) > MAX_SECRET_BYTES:
            return web.Response(status=400, text="hub.secret must be less than 200 bytes")
        asked = form.get("hub.lease_seconds", "")
        lease = int(asked) if asked.isdigit() and int(asked) > 0 else self.default_lease
        lease = min(lease, self.max_lease)
        if mode == "subscribe" and topic in self.denied:
            self._spawn(self._deny(topic, callback, self.denied[topic]))
        else:
            self._spawn(self._verify(mode, topic, callback, secret, lease))
        return web.Response(status=202, text="accepted; verifying intent")

    async def _verify(
        self, mode: str, topic: str, callback: str, secret: str | None, lease: int
    ) -> None:
        assert self._client is not None
        challenge = secrets.token_urlsafe(24)
        query = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            query["hub.lease_seconds"] = str(lease)
        status: int | None = None
        confirmed = False
        try:
            async with self._client.get(URL(callback).update_query(query)) as resp:
                status = resp.status
                confirmed = 200 <= status < 300 and (await resp.text()) == challenge
        except (aiohttp.ClientError, OSError, TimeoutError):
            confirmed = False
        self.verifications.append(Verification(mode, topic, callback, status, confirmed))
        if not confirmed:
            return
        if mode == "subscribe":
            self._subscriptions[(topic, callback)] = HubSubscription(
                topic, callback, secret, lease, time.time() + lease
            )
        else:
            self._subscriptions.pop((topic, callback), None)

    async def _deny(self, topic: str, callback: str, reason: str) -> None:
        assert self._client is not None
        query = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": reason}
        status: int | None = None
        try:
            async with self._client.get(URL(callback).update_query(query)) as resp:
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass
        self.verifications.append(Verification("denied", topic, callback, status, False))

    async def _fetch_and_distribute(self, topic: str) -> None:
        assert self._client is not None
        try:
            async with self._client.get(topic) as resp:
                body = await resp.read()
                content_type = resp.headers.get("content-type", "application/octet-stream")
                ok = resp.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return
        if ok:
            await self._distribute(topic, body, content_type)

    async def _distribute(self, topic: str, body: bytes, content_type: str) -> list[Delivered]:
        assert self._client is not None
        now = time.time()
        for key, sub in list(self._subscriptions.items()):
            if sub.expires_at <= now:
                del self._subscriptions[key]  # the lease is over: no more deliveries
        targets = [s for (t, _), s in self._subscriptions.items() if t == topic]
        results = await asyncio.gather(*(self._deliver(s, body, content_type) for s in targets))
        self.deliveries.extend(results)
        return list(results)

    async def _deliver(self, sub: HubSubscription, body: bytes, content_type: str) -> Delivered:
        assert self._client is not None
        headers = {
            "Content-Type": content_type,
            "Link": f'<{self.url}>; rel="hub", <{sub.topic}>; rel="self"',
        }
        if sub.secret:
            algorithm = getattr(hashlib, self.signature_method)
            digest = hmac.new(sub.secret.encode(), body, algorithm).hexdigest()
            headers["X-Hub-Signature"] = f"{self.signature_method}={digest}"
        try:
            async with self._client.post(sub.callback, data=body, headers=headers) as resp:
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Delivered(sub.topic, sub.callback, None, str(exc) or type(exc).__name__)
        if status == 410:  # §7: the subscriber says the subscription is gone
            self._subscriptions.pop((sub.topic, sub.callback), None)
        return Delivered(sub.topic, sub.callback, status)


def _web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)

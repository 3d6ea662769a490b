"""Polite HTTP: honest User-Agent, robots.txt, per-host limits, conditional GET, size caps.

One :class:`Fetcher` per run. It follows redirects itself (at most ``max_redirects``,
re-checking every hop against the SSRF guard, which judges the very address each socket
connects to: see :mod:`newsline.ingest.netguard`), decompresses bodies itself so the
decompressed size is capped too (a gzip bomb costs at most ``max_body_bytes``), and
retries transient failures with exponential backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp
import brotli
from protego import Protego
from yarl import URL

from newsline.config import FetchSettings
from newsline.errors import NewslineError
from newsline.ingest.netguard import (
    AddressGuard,
    BlockedAddressError,
    ConnectTo,
    GuardedResolver,
    describe,
)
from newsline.ingest.politeness import LocalPoliteness, Politeness, RobotsRecord, Turn

log = logging.getLogger(__name__)

Kind = Literal["feed", "page", "robots", "other"]
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
CHUNK = 64 * 1024


class FetchError(NewslineError):
    """A fetch failed; ``str()`` is a one-line reason fit for an operator."""

    retryable = False

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{reason} ({url})")
        self.url = url
        self.reason = reason
        self.status = status


class BlockedURLError(FetchError):
    """Refused before connecting: bad scheme, or a private/local address (SSRF guard)."""


class RobotsDisallowedError(FetchError):
    """robots.txt forbids this URL for our User-Agent."""


class TooLargeError(FetchError):
    """The body (raw or decompressed) exceeds ``fetch.max_body_bytes``."""


class TooManyRedirectsError(FetchError):
    """More than ``fetch.max_redirects`` redirects, or a loop."""


class FetchTimeoutError(FetchError):
    """Connect or read timed out."""

    retryable = True


class ConnectionFailedError(FetchError):
    """DNS, TCP, TLS or a broken connection."""

    retryable = True


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, url: str, status: int, *, retry_after: float | None = None) -> None:
        reason = f"HTTP {status}"
        if retry_after is not None:
            reason += f" (Retry-After {retry_after:.0f}s)"
        super().__init__(url, reason, status=status)
        self.retry_after = retry_after
        self.retryable = status in RETRYABLE_STATUS


class ContentError(FetchError):
    """The body is corrupt (bad compression, truncated transfer)."""


@dataclass(frozen=True)
class FetchResult:
    """A response with its body fully read (and decompressed)."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    wire_bytes: int
    #: Where the URL has moved for good: the target of the permanent redirects (301, 308)
    #: the response came through before any temporary one; None when it did not move.
    moved_to: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Attempt:
    """What the fetch log records about one HTTP attempt."""

    kind: Kind
    url: str
    status: int | None
    error: str | None
    duration_ms: int
    bytes: int


@dataclass
class _Robots:
    parser: Protego | None  # None = allow everything
    expires: float
    disallow_all: bool = False


@dataclass
class FetchStats:
    """Counters for one run."""

    requests: int = 0
    not_modified: int = 0
    errors: int = 0
    bytes: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Fetcher:
    """The polite HTTP client. Use as ``async with Fetcher(settings.fetch) as f: ...``."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        on_attempt: Callable[[Attempt], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        politeness: Politeness | None = None,
    ) -> None:
        self.settings = settings
        # Per-host turns, Retry-After and the robots.txt cache: this process's own, or
        # shared by every worker of a distributed install (see newsline.ingest.politeness).
        self.politeness: Politeness = politeness or LocalPoliteness(sleep)
        self.rules = [ConnectTo.parse(r) for r in settings.connect_to]
        self.guard = AddressGuard(self.rules, allow_private=settings.allow_private)
        self.on_attempt = on_attempt
        self.stats = FetchStats()
        self._sleep = sleep
        self._crawl_delay: dict[str, float] = {}
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        ctx = ssl.create_default_context()
        if s.ca_bundle is not None:
            if not s.ca_bundle.exists():
                raise FileNotFoundError(f"fetch.ca_bundle {s.ca_bundle} does not exist")
            ctx.load_verify_locations(cafile=str(s.ca_bundle))
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.rules, self.guard),
            socket_factory=self.guard.socket_factory,
            ssl=ctx,
            limit=s.concurrency,
            limit_per_host=0,
            ttl_dns_cache=300,
            enable_cleanup_closed=True,
        )
        # Tell the politeness when a request's headers are on the wire (see Turn.started).
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        self._session = aiohttp.ClientSession(
            connector=connector,
            trace_configs=[trace],
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=s.total_timeout, sock_connect=s.connect_timeout, sock_read=s.read_timeout
            ),
            headers={"User-Agent": s.agent, "Accept-Encoding": "gzip, deflate, br"},
            max_line_size=16384,
            max_field_size=16384,
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- public API -------------------------------------------------------------------------

    async def get(
        self,
        url: str,
        *,
        kind: Kind = "other",
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        check_robots: bool | None = None,
    ) -> FetchResult:
        """GET a URL politely, with retries. Raises a :class:`FetchError` subclass on failure.

        Pages are checked against robots.txt by default; feeds are not (subscribing to a
        feed is an explicit request for it, as every feed reader treats it).
        """
        if check_robots is None:
            check_robots = kind == "page"
        if check_robots:
            try:
                allowed = await self.allowed(url)
            except BlockedURLError as exc:
                raise BlockedURLError(url, exc.reason) from exc
            if not allowed:
                raise RobotsDisallowedError(url, "robots.txt disallows this URL for newsline")
        attempt = 0
        while True:
            try:
                return await self._get_following(url, kind, etag, last_modified, accept)
            except FetchError as exc:
                retry_after = getattr(exc, "retry_after", None)
                if not exc.retryable or attempt >= self.settings.retries:
                    raise
                if retry_after is not None and retry_after > self.settings.max_retry_after:
                    raise
                delay = self.settings.backoff_base * (2**attempt) * (1 + random.random() / 4)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                attempt += 1
                log.info("retrying %s in %.1fs after: %s", url, delay, exc.reason)
                host = urlsplit(url).hostname
                if retry_after is not None and host:
                    # The host asked for a pause: the other workers sharing our politeness
                    # stay off it too (see newsline.ingest.politeness).
                    await self.politeness.hold_off(host, delay)
                await self._sleep(delay)

    async def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our User-Agent fetch this URL (cached per host).

        Raises :class:`BlockedURLError` when the SSRF guard refuses the site itself, or the
        URL cannot be parsed.
        """
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise BlockedURLError(url, f"invalid URL: {describe(exc)}") from exc
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self._robots.get(origin)
        if robots is None or robots.expires < time.monotonic():
            lock = self._robots_locks.setdefault(origin, asyncio.Lock())
            async with lock:
                robots = self._robots.get(origin)
                if robots is None or robots.expires < time.monotonic():
                    robots = await self._robots_of(origin)
                    self._robots[origin] = robots
        if robots.disallow_all:
            return False
        if robots.parser is None:
            return True
        return bool(robots.parser.can_fetch(url, "newsline"))

    # -- internals --------------------------------------------------------------------------

    async def _robots_of(self, origin: str) -> _Robots:
        """The robots.txt of `origin`: from the (possibly shared) cache, else fetched and
        cached for the others."""
        record = await self.politeness.robots_get(origin)
        if record is not None:
            # Kept here for a while only: the shared cache knows when it expires.
            return self._parsed_robots(origin, record, min(self.settings.robots_cache_seconds, 600))
        record, ttl = await self._load_robots(origin)
        await self.politeness.robots_put(origin, record, ttl)
        return self._parsed_robots(origin, record, ttl)

    def _parsed_robots(self, origin: str, record: RobotsRecord, ttl: float) -> _Robots:
        expires = time.monotonic() + ttl
        if record.text is None:
            return _Robots(None, expires, disallow_all=record.disallow_all)
        parser = Protego.parse(record.text)
        delay = parser.crawl_delay("newsline")
        if delay:
            self._crawl_delay[urlsplit(origin).hostname or ""] = min(float(delay), 30.0)
        return _Robots(parser, expires)

    async def _load_robots(self, origin: str) -> tuple[RobotsRecord, float]:
        """Fetch the robots.txt of `origin`: what it says, and for how long to believe it."""
        ttl = self.settings.robots_cache_seconds
        robots_url = f"{origin}/robots.txt"
        try:
            result = await self._get_following(robots_url, "robots", None, None, None)
        except BlockedURLError as exc:
            if exc.url == robots_url:
                raise  # the site itself is refused: say so, not "robots.txt disallows"
            log.warning("robots.txt of %s redirects to a refused address (%s)", origin, exc)
            return RobotsRecord(None, disallow_all=True), 600
        except HTTPStatusError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return RobotsRecord(None), ttl  # no robots.txt: everything allowed
            # 5xx: the site cannot say what it allows; stay off it for a while (RFC 9309).
            return RobotsRecord(None, disallow_all=True), 600
        except FetchError as exc:
            log.warning("robots.txt of %s unavailable (%s); not fetching its pages", origin, exc)
            return RobotsRecord(None, disallow_all=True), 600
        return RobotsRecord(result.body.decode("utf-8", errors="replace")), ttl

    async def _get_following(
        self,
        url: str,
        kind: Kind,
        etag: str | None,
        last_modified: str | None,
        accept: str | None,
    ) -> FetchResult:
        start = time.monotonic()
        seen = {url}
        current = url
        moved_to: str | None = None
        permanent = True  # every redirect so far was permanent
        for _hop in range(self.settings.max_redirects + 1):
            result = await self._get_once(current, kind, etag, last_modified, accept)
            if result.status in (301, 302, 303, 307, 308) and "location" in result.headers:
                location = result.headers["location"]
                try:
                    target = urljoin(current, location)
                except ValueError as exc:  # ``Location: http://[::1``
                    reason = f"redirect to an invalid URL ({describe(exc)}): {location[:200]}"
                    raise FetchError(url, reason, status=result.status) from exc
                if target in seen:
                    raise TooManyRedirectsError(url, f"redirect loop at {target}")
                seen.add(target)
                current = target
                permanent = permanent and result.status in (301, 308)
                if permanent:
                    moved_to = target
                continue
            if result.status >= 400:
                raise HTTPStatusError(
                    url, result.status, retry_after=_retry_after(result.headers.get("retry-after"))
                )
            return FetchResult(
                url=url,
                final_url=current,
                status=result.status,
                headers=result.headers,
                body=result.body,
                elapsed=time.monotonic() - start,
                wire_bytes=result.wire_bytes,
                moved_to=moved_to,
            )
        raise TooManyRedirectsError(url, f"more than {self.settings.max_redirects} redirects")

    async def _get_once(
        self,
        url: str,
        kind: Kind,
        etag: str | None,
        last_modified: str | None,
        accept: str | None,
    ) -> FetchResult:
        assert self._session is not None, "use Fetcher as an async context manager"
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:  # unbalanced brackets, a port out of range, ...
            raise BlockedURLError(url, f"invalid URL: {describe(exc)}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedURLError(url, "only http and https URLs can be fetched")
        try:
            # The host as aiohttp will connect to it: yarl folds Unicode dots and the like.
            host = URL(url).raw_host or ""
        except ValueError as exc:
            raise BlockedURLError(url, f"invalid URL: {describe(exc)}") from exc
        try:
            self.guard.check_host(host, port)
        except BlockedAddressError as exc:
            raise BlockedURLError(url, str(exc)) from exc
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        delay = max(self.settings.min_host_delay, self._crawl_delay.get(parts.hostname, 0.0))
        async with self.politeness.turn(
            parts.hostname, concurrency=self.settings.per_host_concurrency, delay=delay
        ) as turn:
            started = time.monotonic()
            status: int | None = None
            wire = 0
            sent = _SendReport(turn)
            try:
                async with self._session.get(
                    url, headers=headers, allow_redirects=False, trace_request_ctx=sent
                ) as resp:
                    status = resp.status
                    resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                    if status == 304 or status >= 300:
                        body, wire = b"", 0
                    else:
                        body, wire = await self._read_body(url, resp, resp_headers)
                self._record(kind, url, status, None, started, wire)
            except FetchError as exc:
                self._record(kind, url, status, exc.reason, started, wire)
                raise
            except BlockedAddressError as exc:
                self._record(kind, url, None, str(exc), started, 0)
                raise BlockedURLError(url, str(exc)) from exc
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, BlockedAddressError):
                    self._record(kind, url, None, str(exc.os_error), started, 0)
                    raise BlockedURLError(url, str(exc.os_error)) from exc
                reason = f"cannot connect: {describe(exc.os_error)}"
                self._record(kind, url, None, reason, started, 0)
                raise ConnectionFailedError(url, reason) from exc
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                reason = f"timed out after {time.monotonic() - started:.1f}s"
                self._record(kind, url, status, reason, started, wire)
                raise FetchTimeoutError(url, reason) from exc
            except aiohttp.ClientPayloadError as exc:
                reason = f"broken transfer: {describe(exc)}"
                self._record(kind, url, status, reason, started, wire)
                raise ConnectionFailedError(url, reason) from exc
            except (aiohttp.ClientError, OSError) as exc:
                reason = f"connection failed: {describe(exc)}"
                self._record(kind, url, status, reason, started, wire)
                raise ConnectionFailedError(url, reason) from exc
            finally:
                await sent.reported()
        return FetchResult(url, url, status, resp_headers, body, time.monotonic() - started, wire)

    async def _read_body(
        self, url: str, resp: aiohttp.ClientResponse, headers: dict[str, str]
    ) -> tuple[bytes, int]:
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLargeError(
                url, f"body of {int(declared):,} bytes exceeds the {limit:,}-byte limit"
            )
        decoder = _Decoder.for_encoding(headers.get("content-encoding", ""), url, limit)
        out = bytearray()
        wire = 0
        async for chunk in resp.content.iter_chunked(CHUNK):
            wire += len(chunk)
            if wire > limit:
                raise TooLargeError(url, f"body exceeds the {limit:,}-byte limit")
            out += decoder.feed(chunk, limit - len(out))
        out += decoder.finish(limit - len(out))
        return bytes(out), wire

    def _record(
        self, kind: Kind, url: str, status: int | None, error: str | None, started: float, size: int
    ) -> None:
        self.stats.requests += 1
        self.stats.bytes += size
        if status is not None:
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status == 304:
                self.stats.not_modified += 1
        if error is not None:
            self.stats.errors += 1
        if self.on_attempt is not None:
            self.on_attempt(
                Attempt(kind, url, status, error, int((time.monotonic() - started) * 1000), size)
            )


class _SendReport:
    """Reports a politeness turn started once its request has really left (see below)."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.tasks: list[asyncio.Task[None]] = []

    def after_write(self) -> None:
        # Every send reports: aiohttp sends a GET again, within the same turn, when a reused
        # keep-alive connection turns out closed.
        self.tasks.append(asyncio.get_running_loop().create_task(self.turn.started()))

    async def reported(self) -> None:
        if self.tasks:
            await asyncio.shield(asyncio.gather(*self.tasks))


async def _headers_sent(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    """aiohttp's hook for a request's headers: report the politeness turn started.

    aiohttp calls it just *before* it writes them (``StreamWriter.write_headers`` awaits the
    hook, then the GET goes out in the same step, with no await in between). Reporting from
    here — a Redis round trip, then however long this process waits for a CPU — stamped the
    start that long before the request left, so the next turn on the host (another worker's)
    could reach the host closer than the minimum delay. The report is scheduled instead, for
    once this task yields, which is after the write: Redis stamps the start later than the
    request really left, never earlier.
    """
    sent = getattr(context, "trace_request_ctx", None)
    if isinstance(sent, _SendReport):
        asyncio.get_running_loop().call_soon(sent.after_write)


class _Decoder:
    """Streaming Content-Encoding decoder that never produces more than it is allowed."""

    def __init__(self, url: str, mode: str) -> None:
        self.url = url
        self.mode = mode
        self._zlib: zlib._Decompress | None = None
        self._br: brotli.Decompressor | None = None
        if mode == "gzip":
            self._zlib = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
        elif mode == "deflate":
            self._zlib = zlib.decompressobj()
        elif mode == "br":
            self._br = brotli.Decompressor()
        self._started = False

    @classmethod
    def for_encoding(cls, encoding: str, url: str, limit: int) -> _Decoder:
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            return cls(url, "identity")
        if enc in ("gzip", "x-gzip"):
            return cls(url, "gzip")
        if enc in ("deflate", "br"):
            return cls(url, enc)
        raise ContentError(url, f"unsupported Content-Encoding {encoding!r}")

    def _too_large(self, limit: int) -> TooLargeError:
        return TooLargeError(self.url, f"decompressed body exceeds the {limit:,}-byte limit")

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self.mode == "identity":
            return chunk
        try:
            if self.mode == "deflate" and self._zlib is not None and not self._started:
                self._started = True
                # "deflate" should be zlib-wrapped (RFC 9110), but servers also send raw deflate.
                if len(chunk) >= 2 and not _is_zlib_header(chunk):
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            if self._zlib is not None:
                data = self._zlib.decompress(chunk, room + 1)
                if len(data) > room or self._zlib.unconsumed_tail:
                    raise self._too_large(room)
                return data
            assert self._br is not None
            data = self._br.process(chunk, output_buffer_limit=room + 1)
            if len(data) > room or not self._br.can_accept_more_data():
                raise self._too_large(room)
            return data
        except (zlib.error, brotli.error) as exc:
            raise ContentError(self.url, f"corrupt {self.mode} body: {exc}") from exc

    def finish(self, room: int) -> bytes:
        if self._zlib is None:
            return b""
        try:
            data = self._zlib.flush()
        except zlib.error as exc:
            raise ContentError(self.url, f"corrupt {self.mode} body: {exc}") from exc
        if len(data) > room:
            raise self._too_large(room)
        return data


def _is_zlib_header(data: bytes) -> bool:
    """Whether ``data`` starts with a zlib header (RFC 1950: method 8, check bits)."""
    return data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())

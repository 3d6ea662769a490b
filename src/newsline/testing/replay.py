"""Replay a capture corpus on 127.0.0.1: any number of hosts, HTTP and HTTPS, faults on demand.

The server answers for every host of the corpus at once: one HTTP port and one HTTPS port,
requests routed by the ``Host`` header (HTTPS certificates chosen by SNI, issued on the fly by
a throwaway CA made at start). newsline reaches it through two ordinary settings,
``fetch.connect_to`` and ``fetch.ca_bundle`` (see :meth:`ReplayServer.settings_env`); the
fetcher has no replay branch.

It is written on raw asyncio streams rather than an HTTP framework so that faults can be
exact on the wire: a TCP reset halfway through a body, a body cut short under a matching
``Content-Length``, a never-answered request.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import logging
import re
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import zlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import trustme

from newsline.errors import NewslineError
from newsline.testing.corpus import (
    CorpusError,
    Entry,
    origin_key,
    read_manifest,
    target_key,
    url_key,
)

log = logging.getLogger(__name__)

__all__ = [
    "CorpusError",
    "ReplayServer",
    "ReplayStartError",
    "gzip_bomb_chunks",
    "replay_in_thread",
]

SLOW_RATE = 100  # bytes per second for the `slow` fault
BOMB_SIZE = 2 << 30  # what the `gzip-bomb` body inflates to (2 GiB; ~2 MB on the wire)
OVERSIZE = 64 << 20  # length of the `oversize` body (64 MiB, above the spec's 50 MB)
MAX_HEAD = 64 * 1024  # request line + headers
IDLE_TIMEOUT = 120.0  # seconds a keep-alive connection may sit between requests
#: How far two request arrivals' gap as the server stamps it (HostLoad.min_gap) may read below
#: the true gap: each stamp is the kernel's, counted in clock ticks (1-10 ms by the kernel's
#: HZ), not the loop's (see _arrived).
ARRIVAL_RESOLUTION = 0.025

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

# Bodies used by body-shaped faults (reset, slow, truncated, bad-charset) when the entry has
# none: the page for HTML entries, else the feed. Our own text; the accented words make the
# Latin-1 bytes of `bad-charset` visible.
FAULT_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
<channel>
<title>Replay fault feed</title>
<link>https://fault.example/</link>
<description>A feed served by newsline's replay server to exercise fault handling.</description>
<item><title>Café owners on Rue Noël expect a busy winter market</title>
<link>https://fault.example/cafe-market</link>
<guid>https://fault.example/cafe-market</guid>
<description>Stall holders at the winter market said crêpes and mulled cider sold out
by midday on Saturday, and organisers plan to extend opening hours next weekend.</description>
</item>
<item><title>Municipal pool reopens after a two-month façade repair</title>
<link>https://fault.example/pool-reopens</link>
<guid>https://fault.example/pool-reopens</guid>
<description>Swimmers returned on Monday morning; the city said the repair came in under
budget and the sauna will follow in the spring.</description>
</item>
</channel>
</rss>
"""

FAULT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Café owners expect a busy winter market</title>
</head><body><main><article><h1>Café owners expect a busy winter market</h1>
<p>Stall holders at the winter market on Rue Noël said crêpes and mulled cider sold out by
midday on Saturday, and organisers plan to extend opening hours next weekend.</p>
<p>The municipal pool reopens on Monday after a two-month façade repair.</p>
</article></main></body></html>
"""

NOT_A_FEED = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Welcome</title></head>
<body><h1>Welcome to our new website</h1>
<p>We have moved things around. This page is HTML, not a feed.</p></body></html>
"""


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (for tests and the access log)."""

    method: str
    url: str
    status: int | str  # an HTTP status, or the fault name
    scheme: str


@dataclass
class HostLoad:
    """How one host was loaded: requests, the most answered at once, the closest starts.

    Politeness across workers is checked against these (per-host concurrency and minimum
    delay), measured where it matters: at the server.
    """

    requests: int = 0
    active: int = 0
    peak: int = 0
    min_gap: float | None = None  # seconds between the two closest request arrivals
    closest_at: float | None = None  # when the later of those two arrived (loop time)
    #: The latest arrivals (loop time). A busy loop may read two connections' requests in
    #: another order than they arrived, so a new one is compared with each of these.
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=8))

    def begin(self, arrived: float) -> None:
        """Count a request whose head reached this host at `arrived` (see :func:`_arrived`)."""
        self.requests += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        for other in self.recent:
            gap = abs(arrived - other)
            if self.min_gap is None or gap < self.min_gap:
                self.min_gap, self.closest_at = gap, max(arrived, other)
        self.recent.append(arrived)

    def reset_peak(self) -> None:
        """Count the most answered at once from now on (the closest starts keep counting)."""
        self.peak = self.active


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


class _Close(Exception):
    """Raised inside a handler to end the connection without an answer."""


class ReplayStartError(NewslineError, OSError):
    """The replay server cannot write its CA file or listen on its ports."""


class ReplayServer:
    """Serve a capture corpus on 127.0.0.1 over HTTP and HTTPS.

    Use as ``async with ReplayServer(corpus) as server:`` or ``await server.start()`` /
    ``await server.stop()``. Port 0 picks free ports; the bound ones are ``http_port`` and
    ``https_port``. ``ca_file`` is the PEM of the throwaway CA (written at start, into
    ``ca_file`` when given, else into a temporary directory removed at stop).
    """

    def __init__(
        self,
        corpus_dir: Path | str,
        http_port: int = 0,
        https_port: int = 0,
        *,
        host: str = "127.0.0.1",
        ca_file: Path | str | None = None,
        slow_rate: int = SLOW_RATE,
        bomb_size: int = BOMB_SIZE,
        oversize: int = OVERSIZE,
        latency: float = 0.0,
    ) -> None:
        self.corpus_dir = Path(corpus_dir)
        # Seconds every answer takes (a real server's think time): with it, requests to a
        # host overlap unless the client limits them, which host_load's peaks then show.
        self.latency = latency
        self.host = host
        self.http_port = http_port
        self.https_port = https_port
        self.slow_rate = slow_rate
        self.bomb_size = bomb_size
        self.oversize = oversize
        self._ca_file_arg = Path(ca_file) if ca_file is not None else None
        self._tmpdir: Path | None = None
        self.ca_file: Path = Path()
        self.entries: dict[str, Entry] = {}
        self.hits: Counter[str] = Counter()
        self.log: deque[RequestRecord] = deque(maxlen=100_000)
        self.active_connections = 0
        self.peak_connections = 0
        self.host_load: dict[str, HostLoad] = {}
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ca: trustme.CA | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._default_context: ssl.SSLContext | None = None
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> ReplayServer:
        """Load the manifest, make the CA, bind both ports (CorpusError, ReplayStartError)."""
        if self._started:
            return self
        self.load()
        self._ca = trustme.CA(organization_name="newsline replay (throwaway)")
        try:
            if self._ca_file_arg is not None:
                self.ca_file = self._ca_file_arg
                self.ca_file.parent.mkdir(parents=True, exist_ok=True)
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix="newsline-replay-"))
                self.ca_file = self._tmpdir / "ca.pem"
            self._ca.cert_pem.write_to_path(str(self.ca_file))
            self._default_context = self._server_context("localhost", "127.0.0.1")
            self._default_context.sni_callback = self._sni
            http = await asyncio.start_server(
                functools.partial(self._connection, scheme="http"),
                self.host,
                self.http_port,
                backlog=2048,
                limit=MAX_HEAD,
            )
            self._servers.append(http)
            https = await asyncio.start_server(
                functools.partial(self._connection, scheme="https"),
                self.host,
                self.https_port,
                ssl=self._default_context,
                ssl_handshake_timeout=30,
                backlog=2048,
                limit=MAX_HEAD,
            )
            self._servers.append(https)
        except OSError as exc:
            await self.stop()
            raise ReplayStartError(f"cannot start the replay server: {exc}") from exc
        self.http_port = http.sockets[0].getsockname()[1]
        self.https_port = https.sockets[0].getsockname()[1]
        self._started = True
        log.debug(
            "replaying %s (%d URLs) on http://%s:%d and https://%s:%d",
            self.corpus_dir,
            len(self.entries),
            self.host,
            self.http_port,
            self.host,
            self.https_port,
        )
        return self

    def load(self) -> None:
        """(Re)read the manifest; later lines for the same URL win."""
        entries = read_manifest(self.corpus_dir)
        self.entries = {url_key(e.url): e for e in entries}

    async def stop(self) -> None:
        """Close the ports, end every open connection, remove the temporary CA file."""
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        self._servers.clear()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._started = False

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- how newsline finds it -------------------------------------------------------------

    @property
    def connect_to(self) -> list[str]:
        """``fetch.connect_to`` rules sending every host's ports 80/443 here."""
        return [f"*:80:{self.host}:{self.http_port}", f"*:443:{self.host}:{self.https_port}"]

    def settings_env(self) -> dict[str, str]:
        """The two environment variables that point newsline's fetcher at this server."""
        return {
            "NEWSLINE_FETCH__CONNECT_TO": ",".join(self.connect_to),
            "NEWSLINE_FETCH__CA_BUNDLE": str(self.ca_file),
        }

    def fetch_settings(self) -> dict[str, Any]:
        """The same two settings as ``fetch`` keys (``connect_to`` list, ``ca_bundle`` path)."""
        return {"connect_to": self.connect_to, "ca_bundle": str(self.ca_file)}

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only this server's CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def url_for(self, url: str) -> str:
        """A loopback URL reaching ``url`` directly (``http://127.0.0.1:PORT/path``).

        The original host must then go in the ``Host`` header (HTTP only; for HTTPS use
        ``connect_to`` so that SNI carries the name).
        """
        parts = urlsplit(url)
        port = self.http_port if parts.scheme == "http" else self.https_port
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return f"{parts.scheme}://{self.host}:{port}{target}"

    # -- TLS -------------------------------------------------------------------------------

    def _server_context(self, *names: str) -> ssl.SSLContext:
        assert self._ca is not None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_alpn_protocols(["http/1.1"])
        self._ca.issue_cert(*names).configure_cert(ctx)
        return ctx

    def _sni(self, sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        # A certificate per host name, issued the first time a client asks for it; hosts
        # outside the manifest get one too (and then a 404), like a real catch-all vhost.
        if not name:
            return
        host = name.lower()
        ctx = self._contexts.get(host)
        if ctx is None:
            ctx = self._contexts[host] = self._server_context(host)
        sslobj.context = ctx

    # -- connections -----------------------------------------------------------------------

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, scheme: str
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.active_connections += 1
        self.peak_connections = max(self.peak_connections, self.active_connections)
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None:
                    break
                host = urlsplit(f"//{request.headers.get('host', self.host)}").hostname or ""
                load = self.host_load.setdefault(host, HostLoad())
                load.begin(_arrived(writer, asyncio.get_running_loop().time()))
                try:
                    if self.latency > 0:
                        await asyncio.sleep(self.latency)
                    answered = await self._answer(request, reader, writer, scheme)
                finally:
                    load.active -= 1
                if not answered:
                    break
        except _Close:
            pass
        except asyncio.CancelledError:
            # stop() cancels open connections; end quietly (asyncio 3.11's stream callback
            # would log a cancelled handler task as an error).
            log.debug("replay connection closed by stop()")
        except (ConnectionError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.debug("replay connection ended: %r", exc)
        finally:
            self.active_connections -= 1
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.IncompleteReadError:
            return None  # the client closed the connection
        except asyncio.LimitOverrunError:
            await self._simple(writer, 431, b"request head too large\n", keep_alive=False)
            return None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            await self._simple(writer, 400, b"bad request line\n", keep_alive=False)
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                await self._simple(writer, 400, b"bad header line\n", keep_alive=False)
                return None
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        if length and length.isdigit():
            await reader.readexactly(int(length))  # a request body: read past it
        return _Request(method.upper(), target, version, headers)

    def _lookup(self, request: _Request, scheme: str) -> tuple[str, Entry | None]:
        """The URL asked for (for logs) and its entry."""
        if request.target.startswith(("http://", "https://")):
            url = request.target  # absolute-form, as a proxy client sends it
            try:
                key = url_key(url)
            except CorpusError:
                return url, None
            return url, self.entries.get(key)
        path, _, query = request.target.partition("?")
        host_header = request.headers.get("host", self.host)
        parts = urlsplit(f"//{host_header}")
        try:
            port = parts.port
        except ValueError:
            port = None
        hostname = parts.hostname or self.host
        target = target_key(path, query)
        url = origin_key(scheme, hostname, port) + target
        entry = self.entries.get(url)
        if entry is None and port in (self.http_port, self.https_port):
            # Reached as http://name:<our port>/ (e.g. a resolver mapping names to us).
            url = origin_key(scheme, hostname, None) + target
            entry = self.entries.get(url)
        return url, entry

    async def _answer(
        self,
        request: _Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        scheme: str,
    ) -> bool:
        """Answer one request; False when the connection must end."""
        url, entry = self._lookup(request, scheme)
        keep_alive = request.keep_alive
        head_only = request.method == "HEAD"
        if request.method not in ("GET", "HEAD"):
            self._record(request, url, 405, scheme)
            await self._simple(writer, 405, b"method not allowed\n", keep_alive, head_only)
            return keep_alive
        if entry is None:
            self._record(request, url, 404, scheme)
            await self._simple(writer, 404, b"not in this corpus\n", keep_alive, head_only)
            return keep_alive
        self.hits[entry.url] += 1
        if entry.fault:
            self._record(request, url, entry.fault, scheme)
            return await self._fault(entry, request, reader, writer, keep_alive, head_only)
        if _not_modified(entry, request.headers):
            self._record(request, url, 304, scheme)
            headers = [
                (k, v)
                for k, v in entry.headers
                if k.lower() in ("etag", "last-modified", "cache-control", "expires", "vary")
            ]
            await self._send(writer, 304, headers, b"", keep_alive, head_only=True)
            return keep_alive
        self._record(request, url, entry.status, scheme)
        body = entry.read_body()
        await self._send(writer, entry.status, list(entry.headers), body, keep_alive, head_only)
        return keep_alive

    def _record(self, request: _Request, url: str, status: int | str, scheme: str) -> None:
        self.log.append(RequestRecord(request.method, url, status, scheme))
        log.debug("%s %s -> %s", request.method, url, status)

    # -- writing ---------------------------------------------------------------------------

    @staticmethod
    def _head(
        status: int,
        headers: list[tuple[str, str]],
        keep_alive: bool,
        length: int | None,
    ) -> bytes:
        reason = _REASONS.get(status, "Unknown")
        skip = {"content-length", "transfer-encoding", "connection", "date", "server"}
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {email.utils.formatdate(usegmt=True)}"]
        lines.append("Server: newsline-replay")
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
        if length is None:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {length}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        keep_alive: bool,
        head_only: bool = False,
    ) -> None:
        writer.write(self._head(status, headers, keep_alive, len(body)))
        if not head_only and body:
            writer.write(body)
        await writer.drain()

    async def _simple(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        keep_alive: bool,
        head_only: bool = False,
    ) -> None:
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        await self._send(writer, status, headers, body, keep_alive, head_only)

    # -- faults ----------------------------------------------------------------------------

    async def _fault(
        self,
        entry: Entry,
        request: _Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
        head_only: bool,
    ) -> bool:
        fault = entry.fault
        content_type = entry.header("Content-Type") or "application/rss+xml; charset=utf-8"
        ctype = [("Content-Type", content_type)]
        if fault == "timeout":
            # Hold the connection open, answer nothing, until the client gives up.
            while await reader.read(65536):
                pass
            raise _Close
        if fault == "redirect-loop":
            await self._send(writer, 302, [("Location", entry.url)], b"", keep_alive, head_only)
            return keep_alive
        if fault in ("http-500", "http-503-retry-after", "http-429"):
            status = int(fault[5:8])
            headers = [("Content-Type", "text/html; charset=utf-8")]
            if fault == "http-503-retry-after":
                headers.append(("Retry-After", "2"))
            body = f"<html><body><h1>{status} {_REASONS[status]}</h1></body></html>\n".encode()
            await self._send(writer, status, headers, body, keep_alive, head_only)
            return keep_alive
        if fault == "not-a-feed":
            headers = [("Content-Type", "text/html; charset=utf-8")]
            await self._send(writer, 200, headers, NOT_A_FEED, keep_alive, head_only)
            return keep_alive
        is_html = "html" in content_type.lower()
        sample = FAULT_PAGE if is_html else FAULT_FEED
        body = entry.read_body() or sample.encode("utf-8")
        if fault == "truncated":
            await self._send(writer, 200, ctype, body[: len(body) // 2], keep_alive, head_only)
            return keep_alive
        if fault == "bad-charset":
            body, content_type = _latin1_declared_utf8(body, content_type, sample)
            headers = [("Content-Type", content_type)]
            await self._send(writer, 200, headers, body, keep_alive, head_only)
            return keep_alive
        if fault == "reset":
            writer.write(self._head(200, ctype, True, len(body)))
            if not head_only:
                writer.write(body[: len(body) // 2])
            await writer.drain()
            _reset(writer)
            raise _Close
        if fault == "slow":
            writer.write(self._head(200, ctype, keep_alive, len(body)))
            await writer.drain()
            if not head_only:
                step = max(1, self.slow_rate // 10)
                for i in range(0, len(body), step):
                    writer.write(body[i : i + step])
                    await writer.drain()
                    await asyncio.sleep(step / self.slow_rate)
            return keep_alive
        if fault == "gzip-bomb":
            headers = [("Content-Type", content_type), ("Content-Encoding", "gzip")]
            chunks = gzip_bomb_chunks(self.bomb_size)
            await self._stream(writer, headers, chunks, keep_alive, head_only)
            return keep_alive
        if fault == "oversize":
            chunks = _oversize_chunks(self.oversize)
            await self._stream(writer, ctype, chunks, keep_alive, head_only)
            return keep_alive
        raise AssertionError(f"unhandled fault {fault}")  # FAULTS and this method disagree

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        headers: list[tuple[str, str]],
        chunks: Iterator[bytes],
        keep_alive: bool,
        head_only: bool,
    ) -> None:
        """Send a chunked body produced piece by piece (never held in memory whole)."""
        writer.write(self._head(200, headers, keep_alive, None))
        if not head_only:
            for chunk in chunks:
                if chunk:
                    writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


#: struct tcp_info's head (linux/tcp.h): eight u8 fields, then u32s from tcpi_rto on; and
#: the socket option that reads it (Linux only).
_TCP_INFO = struct.Struct("8B13I")
_LAST_DATA_RECV = 8 + 11  # tcpi_rto .. tcpi_fackets (9), last_data_sent, last_ack_sent
_TCP_INFO_OPTION: int | None = getattr(socket, "TCP_INFO", None)


def _arrived(writer: asyncio.StreamWriter, now: float) -> float:
    """When the request just read reached this host: `now` (loop time) less how long ago the
    kernel received the connection's latest data (TCP_INFO's ``tcpi_last_data_recv``, ms).

    The loop's own clock at the read is late by however long a busy loop took to get to the
    connection, which differs from one request to the next (114 ms seen under the test suite's
    load, two arrivals 200 ms apart stamped 86 ms apart); the kernel's stamp is not. A request
    head arrives whole in one segment (loopback; aiohttp neither pipelines nor sends a body
    with a GET), so the latest data is the request's. Off Linux, `now` as before.
    """
    sock = writer.get_extra_info("socket")
    if sock is None or _TCP_INFO_OPTION is None:
        return now
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO_OPTION, _TCP_INFO.size)
    except OSError:
        return now
    if len(info) < _TCP_INFO.size:
        return now
    return now - _TCP_INFO.unpack_from(info)[_LAST_DATA_RECV] / 1000


def _not_modified(entry: Entry, headers: dict[str, str]) -> bool:
    """Whether a conditional request matches the entry (If-None-Match wins, per RFC 9110)."""
    etag = entry.header("ETag")
    inm = headers.get("if-none-match")
    if inm is not None:
        if etag is None:
            return False
        if inm.strip() == "*":
            return True
        wanted = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return etag.strip().removeprefix("W/") in wanted
    ims = headers.get("if-modified-since")
    last_modified = entry.header("Last-Modified")
    if not ims or not last_modified:
        return False
    try:
        since = email.utils.parsedate_to_datetime(ims)
        modified = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None or modified.tzinfo is None:
        return False
    return modified <= since


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), not a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


_XML_PROLOG = re.compile(r"\ufeff?\s*<\?xml[^>]*\?>")
_XML_ENCODING = re.compile(r"""encoding\s*=\s*["'][^"']*["']""")
_META_CHARSET = re.compile(r"""(<meta[^>]+charset\s*=\s*["']?)[-\w]+""", re.I)


def _latin1_declared_utf8(body: bytes, content_type: str, sample: str) -> tuple[bytes, str]:
    """The body re-encoded as Latin-1, while every declaration still says UTF-8."""
    text = body.decode("utf-8", errors="replace")
    if text.isascii():
        text = sample  # an ASCII body would hide the fault
    # Whatever the document declared, it now says UTF-8 (XML prolog, HTML meta charset).
    prolog = _XML_PROLOG.match(text)
    if prolog:
        fixed = _XML_ENCODING.sub('encoding="UTF-8"', prolog.group(0), count=1)
        text = fixed + text[prolog.end() :]
    text = _META_CHARSET.sub(r"\1UTF-8", text, count=1)
    media = content_type.split(";")[0].strip() or "application/rss+xml"
    return text.encode("latin-1", errors="replace"), f"{media}; charset=utf-8"


def _oversize_chunks(total: int) -> Iterator[bytes]:
    """``total`` bytes: the start of a feed, then filler items that never close."""
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>\n'
    head += b"<title>Oversize feed</title>\n"
    item = (
        b"<item><title>Filler</title><description>"
        + b"lorem ipsum " * 40
        + b"</description></item>\n"
    )
    block = item * max(1, (64 * 1024) // len(item))
    sent = len(head)
    yield head
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


_BOMB_PIECE_SIZE = 1 << 20


@functools.cache
def _bomb_parts() -> tuple[bytes, bytes, tuple[int, ...], int]:
    """One raw-deflate piece inflating to 1 MiB of zeros, the closing block, and the
    linear map of CRC-32 over 1 MiB of zeros (columns + constant) to total it cheaply."""
    zeros = bytes(_BOMB_PIECE_SIZE)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor forgets its window, so every piece is identical.
    piece = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    const = zlib.crc32(zeros, 0)
    columns = tuple(zlib.crc32(zeros, 1 << bit) ^ const for bit in range(32))
    return piece, tail, columns, const


def _crc32_of_zero_pieces(count: int) -> int:
    """``zlib.crc32(bytes(count * 1 MiB))`` without the gigabytes (CRC is affine in its start)."""
    _, _, columns, const = _bomb_parts()
    crc = 0
    for _ in range(count):
        out, bit, value = const, 0, crc
        while value:
            if value & 1:
                out ^= columns[bit]
            value >>= 1
            bit += 1
        crc = out
    return crc


def gzip_bomb_chunks(size: int = BOMB_SIZE) -> Iterator[bytes]:
    """A valid gzip stream of ``size`` (rounded up to MiB) zero bytes, ~1/1000 of it on the wire.

    Yielded piece by piece: nothing close to ``size`` is ever held in memory.
    """
    piece, tail, _, _ = _bomb_parts()
    count = max(1, -(-size // _BOMB_PIECE_SIZE))
    # gzip header: magic, deflate, no flags, mtime 0, max compression, OS unknown.
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    batch = 16
    for start in range(0, count, batch):
        yield piece * min(batch, count - start)
    crc = _crc32_of_zero_pieces(count)
    yield tail + struct.pack("<II", crc, (count * _BOMB_PIECE_SIZE) & 0xFFFFFFFF)


# -- running in a background thread (for synchronous tests and the CLI) ----------------------


@contextlib.contextmanager
def replay_in_thread(corpus_dir: Path | str, **kwargs: Any) -> Iterator[ReplayServer]:
    """Run a :class:`ReplayServer` on its own event loop in a daemon thread.

    ``with replay_in_thread(corpus) as server: ...`` — the server is started (ports bound,
    CA written) when the block begins, and stopped when it ends. Keyword arguments go to
    :class:`ReplayServer`.
    """
    server = ReplayServer(corpus_dir, **kwargs)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="newsline-replay", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@contextlib.asynccontextmanager
async def replay(corpus_dir: Path | str, **kwargs: Any) -> AsyncIterator[ReplayServer]:
    """``async with replay(corpus) as server:`` — the same as ``async with ReplayServer(...)``."""
    async with ReplayServer(corpus_dir, **kwargs) as server:
        yield server


async def serve_forever(server: ReplayServer) -> None:
    """Start ``server`` and run until cancelled (Ctrl-C), then stop it."""
    await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()

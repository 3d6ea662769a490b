"""WebSub (push), the subscriber side: the W3C WebSub Recommendation, section by section.

- **Discovery** (§4): after a feed is polled, :func:`discover_hub` reads the hub and the
  topic (``rel="self"``) from the response's ``Link`` headers, else from the feed itself
  (``<link rel="hub">``, ``<atom:link rel="hub">``, JSON Feed ``hubs``);
  :func:`after_refresh` records them as a subscription to make.
- **Subscribing** (§5.1): :func:`run_due` (a stage of every pipeline pass) sends
  ``hub.mode=subscribe`` with a random per-subscription ``hub.secret`` and a callback on
  our own site (``Urls.websub_callback``), renews leases before they expire, retries failed
  hubs with back-off, and unsubscribes what :func:`forget_feeds` marked (a removed
  publication).
- **Intent verification** (§5.3): :func:`verify_intent` answers the hub's GET only for
  the mode and topic we asked for; everything else gets None (the route answers 404).
- **Delivery** (§7, §8): :func:`receive` checks ``X-Hub-Signature`` (sha1/256/384/512
  HMAC of the body with our secret); a missing or wrong signature is ignored with a 2xx,
  as the spec allows, and counted on the subscription. A good one goes through the same
  path as a poll: :func:`~newsline.ingest.feeds.parse_feed` then
  :func:`~newsline.ingest.store.store_feed`, so a push and a poll of one entry make one
  item; the next pass finishes the pending items as usual.

While a subscription is active its feed is polled at ``fetch.max_interval`` only; when it
fails the feed goes back to its own interval, so polling is the fallback, never a gap.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import aiohttp
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Publication, WebSubSubscription, utcnow
from newsline.ingest import store
from newsline.ingest.decode import decode_xml
from newsline.ingest.feeds import FeedError, parse_feed
from newsline.ingest.netguard import AddressGuard, ConnectTo, GuardedResolver, describe
from newsline.urls import Urls

log = logging.getLogger(__name__)

#: Signature methods of ``X-Hub-Signature`` (WebSub §8), by the name the header uses.
SIGNATURE_METHODS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
#: Only the top of a feed is searched for its hub: hubs are feed-level, before any item.
DISCOVERY_BYTES = 256 * 1024
#: An unsubscribe the hub never confirms is dropped after this many tries.
UNSUBSCRIBE_TRIES = 5

_ITEM_START = re.compile(r"<(?:[\w.-]+:)?(?:item|entry)[\s>/]", re.I)
_LINK_TAG = re.compile(r"<(?:[\w.-]+:)?link\b([^>]*)>", re.I)
_ATTR = re.compile(r"([\w:.-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")


# -- discovery (§4) -----------------------------------------------------------------------


@dataclass(frozen=True)
class HubLinks:
    """The hub a feed advertises and the topic URL to subscribe to (its ``rel="self"``)."""

    hub: str
    topic: str


def parse_link_header(value: str) -> list[tuple[str, set[str]]]:
    """The links of an HTTP ``Link`` header (RFC 8288): ``(url, rel values)`` each."""
    links = []
    for match in re.finditer(r"<([^>]*)>((?:\s*;\s*[^,;]+(?:=(?:\"[^\"]*\"|[^,;]*))?)*)", value):
        rels: set[str] = set()
        for param in re.finditer(r";\s*([\w*-]+)\s*=\s*(\"[^\"]*\"|[^,;]*)", match.group(2)):
            if param.group(1).lower() == "rel":
                rels.update(param.group(2).strip().strip('"').lower().split())
        links.append((match.group(1).strip(), rels))
    return links


def _web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def discover_hub(body: bytes, headers: Mapping[str, str], url: str) -> HubLinks | None:
    """The hub and topic a fetched feed advertises, or None (never raises).

    ``Link`` headers come first, as §4 requires; then the feed's own links. Without a
    ``rel="self"`` the topic is the URL the feed was fetched from.
    """
    hub = topic = None
    for target, rels in parse_link_header(headers.get("link", "")):
        if "hub" in rels and hub is None:
            hub = urljoin(url, target)
        if "self" in rels and topic is None:
            topic = urljoin(url, target)
    if hub is None:
        hub, topic = _hub_in_body(body, headers.get("content-type", ""), url)
    if hub is None or not _web_url(hub):
        return None
    topic = topic if topic and _web_url(topic) else url
    return HubLinks(hub=hub, topic=topic)


def _hub_in_body(body: bytes, content_type: str, url: str) -> tuple[str | None, str | None]:
    head = body[:DISCOVERY_BYTES]
    try:
        text = decode_xml(head, content_type).text
    except (ValueError, LookupError):
        return None, None
    if text.lstrip().startswith("{"):
        return _hub_in_json(body, url)
    start = _ITEM_START.search(text)
    text = text[: start.start()] if start else text
    hub = topic = None
    for tag in _LINK_TAG.finditer(text):
        attrs = {
            name.lower(): html.unescape(value[1:-1]) for name, value in _ATTR.findall(tag.group(1))
        }
        rels = set(attrs.get("rel", "").lower().split())
        href = attrs.get("href", "").strip()
        if not href:
            continue
        if "hub" in rels and hub is None:
            hub = urljoin(url, href)
        if "self" in rels and topic is None:
            topic = urljoin(url, href)
    return hub, topic


def _hub_in_json(body: bytes, url: str) -> tuple[str | None, str | None]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    hub = None
    hubs = doc.get("hubs")
    for entry in hubs if isinstance(hubs, list) else []:
        kind = str(entry.get("type", "")).lower() if isinstance(entry, dict) else None
        if kind in ("websub", "pubsubhubbub", "") and isinstance(entry.get("url"), str):
            hub = urljoin(url, entry["url"])
            break
    topic = doc.get("feed_url")
    return hub, urljoin(url, topic) if isinstance(topic, str) else None


def after_refresh(
    session: Session, settings: Settings, feed_id: int, links: HubLinks | None
) -> None:
    """Record what a successful poll of a feed advertised; relax polling while pushed.

    A new or changed hub/topic makes a subscription for the next :func:`run_due`; a feed
    that no longer advertises a hub gets its subscription ended.
    """
    if not settings.websub.enabled:
        return
    sub = session.scalar(select(WebSubSubscription).where(WebSubSubscription.feed_id == feed_id))
    if links is None:
        if sub is not None:
            _end(session, sub)
        return
    if sub is None:
        session.add(
            WebSubSubscription(
                feed_id=feed_id,
                hub=links.hub[:2000],
                topic=links.topic[:2000],
                key=secrets.token_urlsafe(24),
                secret=secrets.token_urlsafe(32),
                state="new",
            )
        )
        return
    if (sub.hub, sub.topic) != (links.hub, links.topic):
        # Moved to another hub or topic: start afresh (the old lease simply runs out).
        sub.hub, sub.topic = links.hub[:2000], links.topic[:2000]
        sub.state, sub.pending_mode, sub.lease_expires_at = "new", None, None
        sub.secret = secrets.token_urlsafe(32)
        return
    if sub.state == "active":
        _relax(session, feed_id, settings)


def after_poll(
    settings: Settings, feed_id: int, body: bytes, headers: Mapping[str, str], url: str
) -> None:
    """:func:`after_refresh` for a feed just polled (`url`: where it was fetched from).

    Its own transaction, after the entries are stored: push bookkeeping never costs a poll
    its items, and a failure here is logged, not made the feed's error.
    """
    if not settings.websub.enabled:
        return
    try:
        links = discover_hub(body, headers, url)
        with session_scope(settings.database_url) as session:
            after_refresh(session, settings, feed_id, links)
    except Exception:
        log.exception("websub: recording the hub of feed %s failed", url)


def _relax(session: Session, feed_id: int, settings: Settings) -> None:
    """The hub pushes: poll only at fetch.max_interval, as a safety net."""
    feed = session.get(Feed, feed_id)
    if feed is not None:
        since = feed.last_fetched_at or utcnow()
        feed.next_fetch_at = since + timedelta(seconds=settings.fetch.max_interval)


def _unrelax(session: Session, feed_id: int | None) -> None:
    """Push failed: the feed is due again at its own polling interval."""
    feed = session.get(Feed, feed_id) if feed_id is not None else None
    if feed is None:
        return
    due = utcnow() + timedelta(seconds=feed.interval_seconds)
    if feed.next_fetch_at is None or feed.next_fetch_at > due:
        feed.next_fetch_at = due


def _end(session: Session, sub: WebSubSubscription) -> None:
    """Unsubscribe at the next pass, or simply forget a subscription the hub never granted."""
    if sub.verified_at is None and sub.state in ("new", "failed"):
        session.delete(sub)
        return
    sub.feed_id = None
    sub.state, sub.pending_mode, sub.next_attempt_at = "unsubscribing", None, None
    sub.consecutive_failures = 0


def forget_feeds(session: Session, feed_ids: list[int]) -> None:
    """The feeds are going away (their publication is removed): unsubscribe from their hubs.

    Called in the removing transaction, so the unsubscription is recorded with the removal;
    the next :func:`run_due` sends it.
    """
    if not feed_ids:
        return
    subs = session.scalars(
        select(WebSubSubscription).where(WebSubSubscription.feed_id.in_(feed_ids))
    )
    for sub in subs:
        _end(session, sub)
    session.flush()


# -- the hub's verification of intent (§5.3) --------------------------------------------


def verify_intent(
    settings: Settings,
    key: str,
    *,
    mode: str,
    topic: str,
    challenge: str,
    lease_seconds: str = "",
    reason: str = "",
) -> str | None:
    """The body to answer a hub's GET with (its challenge), or None to refuse it (404).

    Only a mode and topic we asked for are confirmed; ``denied`` is recorded.
    """
    with session_scope(settings.database_url) as session:
        sub = session.scalar(select(WebSubSubscription).where(WebSubSubscription.key == key))
        if sub is None or topic != sub.topic:
            return None
        now = utcnow()
        if mode == "denied":
            if sub.pending_mode == "subscribe" or sub.state in ("active", "requested"):
                _fail(session, sub, f"the hub denied the subscription: {reason or 'no reason'}")
            return ""
        if not challenge or mode != sub.pending_mode:
            return None
        if mode == "unsubscribe":
            session.delete(sub)
            return challenge
        lease = int(lease_seconds) if lease_seconds.isdigit() else None
        sub.state, sub.pending_mode = "active", None
        sub.verified_at = now
        sub.lease_seconds = lease
        sub.lease_expires_at = now + timedelta(seconds=lease) if lease else None
        sub.consecutive_failures = 0
        sub.next_attempt_at = None
        sub.last_error = None
        if sub.feed_id is not None:
            _relax(session, sub.feed_id, settings)
        return challenge


# -- deliveries (§7, §8) ----------------------------------------------------------------


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature`` (``method=hexdigest``) is the HMAC of `body` with `secret`."""
    if not header:
        return False
    method, _, digest = header.strip().partition("=")
    algorithm = SIGNATURE_METHODS.get(method.strip().lower())
    if algorithm is None or not digest:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, algorithm).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


@dataclass(frozen=True)
class Delivery:
    """What became of one content distribution request: the HTTP status to answer with."""

    status: int
    new_items: int = 0
    note: str = ""


def receive(
    settings: Settings, key: str, body: bytes, content_type: str, signature: str | None
) -> Delivery:
    """Take one delivery from a hub: check its signature, then store it like a poll."""
    with session_scope(settings.database_url) as session:
        sub = session.scalar(select(WebSubSubscription).where(WebSubSubscription.key == key))
        if sub is None or sub.state == "unsubscribing" or sub.feed_id is None:
            # §7: 410 Gone tells the hub this subscription is over.
            return Delivery(410, note="no such subscription")
        secret, topic, feed_id, sub_id = sub.secret, sub.topic, sub.feed_id, sub.id
        if not signature_ok(secret, body, signature):
            # §8: ignore it, but acknowledge (no oracle for forging signatures); record it.
            what = "a missing" if not signature else "a bad"
            sub.rejected_deliveries += 1
            sub.last_error = f"ignored a delivery with {what} X-Hub-Signature"
            sub.last_error_at = utcnow()
            log.warning("websub %s: %s", topic, sub.last_error)
            return Delivery(202, note=sub.last_error)
        paused = session.scalar(
            select(Publication.paused_at)
            .join(Feed, Feed.publication_id == Publication.id)
            .where(Feed.id == feed_id)
        )
        if paused is not None:
            # Pausing stops everything fetching would store; a push is acknowledged (the
            # hub keeps the subscription) and dropped. Resuming polls the feed at once.
            return Delivery(202, note="the publication is paused: delivery not stored")
    try:
        parsed = parse_feed(body, topic, content_type)
    except FeedError as exc:
        with session_scope(settings.database_url) as session:
            sub = session.get(WebSubSubscription, sub_id)
            if sub is not None:
                sub.last_error = f"a delivery was not a usable feed: {exc}"[:2000]
                sub.last_error_at = utcnow()
        return Delivery(202, note=str(exc))
    with session_scope(settings.database_url) as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            return Delivery(410, note="the feed is gone")
        # The poll's validators stay: a push is not the response they belong to.
        headers = store.FeedHeaders(200, feed.etag, feed.last_modified)
        new = store.store_feed(session, feed_id, parsed, headers, settings.fetch)
        sub = session.get(WebSubSubscription, sub_id)
        if sub is not None:
            sub.deliveries += 1
            sub.last_delivery_at = utcnow()
            if sub.state == "active":
                _relax(session, feed_id, settings)
    return Delivery(200, new_items=new)


# -- subscribing, renewing, unsubscribing (§5.1) -----------------------------------------


@dataclass
class WebSubReport:
    """What one run of :func:`run_due` did."""

    subscribed: int = 0
    unsubscribed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    id: int
    mode: str  # subscribe | unsubscribe
    hub: str
    topic: str
    key: str
    secret: str


def _renew_margin(settings: Settings, lease_seconds: int | None) -> timedelta:
    margin = settings.websub.renew_before_seconds
    if lease_seconds:
        margin = min(margin, lease_seconds // 2)
    return timedelta(seconds=margin)


def _fail(session: Session, sub: WebSubSubscription, error: str) -> None:
    """The hub failed us: record why, retry later with back-off, poll the feed meanwhile."""
    now = utcnow()
    sub.consecutive_failures += 1
    sub.last_error, sub.last_error_at = error[:2000], now
    sub.pending_mode = None
    if sub.state == "unsubscribing":
        expired = sub.lease_expires_at is None or sub.lease_expires_at <= now
        if sub.consecutive_failures >= UNSUBSCRIBE_TRIES or expired:
            session.delete(sub)  # the hub's lease ends on its own
            return
    else:
        sub.state = "failed"
        _unrelax(session, sub.feed_id)
    delay = min(300 * 2 ** min(sub.consecutive_failures - 1, 10), 86400)
    sub.next_attempt_at = now + timedelta(seconds=delay)


def due_requests(session: Session, settings: Settings, now: datetime) -> list[_Request]:
    """Mark what is due now as requested, and return the requests to send to hubs.

    The state is committed before the request goes out, because the hub may verify it
    before its answer to us arrives.
    """
    timeout = timedelta(seconds=settings.websub.verify_timeout_seconds)
    subs = session.scalars(
        select(WebSubSubscription).where(
            or_(
                WebSubSubscription.state.in_(("new", "unsubscribing")),
                WebSubSubscription.pending_mode.is_not(None),
                (WebSubSubscription.state == "failed")
                & (
                    WebSubSubscription.next_attempt_at.is_(None)
                    | (WebSubSubscription.next_attempt_at <= now)
                ),
                WebSubSubscription.state == "active",
            )
        )
    ).all()
    requests = []
    for sub in subs:
        if sub.pending_mode is not None:
            if sub.requested_at is not None and sub.requested_at + timeout > now:
                continue  # the hub still has time to verify
            _fail(
                session,
                sub,
                f"the hub accepted the {sub.pending_mode} request but never verified it",
            )
            continue
        if sub.state == "active":
            if sub.lease_expires_at is None:
                continue  # a lease without end: nothing to renew
            if sub.lease_expires_at - _renew_margin(settings, sub.lease_seconds) > now:
                continue
            if sub.lease_expires_at <= now:
                sub.state = "requested"  # expired: no pushes until the hub verifies again
                _unrelax(session, sub.feed_id)
        elif (
            sub.state == "failed" and sub.next_attempt_at is not None and sub.next_attempt_at > now
        ):
            continue
        mode = "unsubscribe" if sub.state == "unsubscribing" else "subscribe"
        if mode == "subscribe" and sub.state != "active":
            sub.state = "requested"
        sub.pending_mode = mode
        sub.requested_at = now
        requests.append(_Request(sub.id, mode, sub.hub, sub.topic, sub.key, sub.secret))
    return requests


@asynccontextmanager
async def hub_client(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for hubs, behind the same SSRF guard as every fetch (a hub's URL is
    the publisher's word, like any URL in a feed)."""
    s = settings.fetch
    rules = [ConnectTo.parse(r) for r in s.connect_to]
    guard = AddressGuard(rules, allow_private=s.allow_private)
    ctx = ssl.create_default_context()
    if s.ca_bundle is not None:
        ctx.load_verify_locations(cafile=str(s.ca_bundle))
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(rules, guard), socket_factory=guard.socket_factory, ssl=ctx
    )
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.websub.timeout),
        headers={"User-Agent": s.agent},
    ) as client:
        yield client


async def _send(client: aiohttp.ClientSession, settings: Settings, request: _Request) -> str | None:
    """POST one (un)subscription request to its hub; the error line, or None if accepted."""
    callback = Urls(settings.web.base_url).absolute(Urls().websub_callback(request.key))
    form = {
        "hub.callback": callback,
        "hub.mode": request.mode,
        "hub.topic": request.topic,
    }
    if request.mode == "subscribe":
        form["hub.lease_seconds"] = str(settings.websub.lease_seconds)
        form["hub.secret"] = request.secret
    try:
        async with client.post(request.hub, data=form, allow_redirects=False) as resp:
            if 200 <= resp.status < 300:
                return None
            text = (await resp.text(errors="replace"))[:200]
            first = " ".join(text.split())
            return f"the hub answered HTTP {resp.status}" + (f": {first}" if first else "")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        return f"cannot reach the hub {request.hub}: {describe(cause)}"


async def maintain(settings: Settings, now: datetime | None = None) -> WebSubReport:
    """Send every due (un)subscription request: new, failed-and-due, renewals, removals."""
    report = WebSubReport()
    if not settings.websub.enabled:
        return report
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        requests = due_requests(session, settings, now)
    if not requests:
        return report
    async with hub_client(settings) as client:
        errors = await asyncio.gather(*(_send(client, settings, r) for r in requests))
    with session_scope(settings.database_url) as session:
        for request, error in zip(requests, errors, strict=True):
            if error is None:
                if request.mode == "subscribe":
                    report.subscribed += 1
                else:
                    report.unsubscribed += 1
                continue
            report.failed += 1
            report.errors.append(f"websub {request.topic}: {error}")
            sub = session.get(WebSubSubscription, request.id)
            if sub is not None and sub.pending_mode == request.mode:
                _fail(session, sub, error)
    return report


def run_due(settings: Settings, now: datetime | None = None) -> WebSubReport:
    """:func:`maintain` for synchronous callers (the pipeline's pass). Never raises: push
    is an extra, so a failure here is logged and reported, and the pass goes on."""
    try:
        return asyncio.run(maintain(settings, now))
    except Exception as exc:
        log.exception("websub: the subscription stage failed")
        return WebSubReport(errors=[f"websub: {type(exc).__name__}: {exc}"[:500]])


# -- what operators see -------------------------------------------------------------------


def describe_subscription(sub: WebSubSubscription) -> str:
    """One line: state, hub, lease and last delivery or error."""
    line = f"{sub.state} at {sub.hub}"
    if sub.state == "active" and sub.lease_expires_at is not None:
        line += f", lease until {sub.lease_expires_at:%Y-%m-%d %H:%M}"
    if sub.last_delivery_at is not None:
        line += f", {sub.deliveries} deliveries (last {sub.last_delivery_at:%Y-%m-%d %H:%M})"
    if sub.rejected_deliveries:
        line += f", {sub.rejected_deliveries} rejected"
    if sub.last_error:
        line += f"; {sub.last_error}"
    return line


def subscriptions_by_feed(session: Session) -> dict[int, WebSubSubscription]:
    """Every feed's subscription, by feed id."""
    subs = session.scalars(
        select(WebSubSubscription).where(WebSubSubscription.feed_id.is_not(None))
    )
    return {sub.feed_id: sub for sub in subs if sub.feed_id is not None}

"""One ingest run: refresh due feeds, then fetch and extract every pending item, then enrich.

``run_fetch`` is what ``newsline fetch``, the scheduler in ``newsline serve`` and the
workers call. Each stage is idempotent and keyed by URL (see :mod:`newsline.ingest.store`).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import or_, select

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.lease import lease
from newsline.db.models import Feed, Item, Publication, utcnow
from newsline.ingest import store
from newsline.ingest.extract import Extracted, ExtractError, extract
from newsline.ingest.feeds import FeedError, parse_feed
from newsline.ingest.fetch import Attempt, Fetcher, FetchError, RobotsDisallowedError

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
HTML_TYPES = {"text/html", "application/xhtml+xml", ""}


class Reporter(Protocol):
    """Receives progress; the CLI shows it with rich or as log lines."""

    def stage(self, name: str, total: int) -> None: ...
    def advance(self, name: str, message: str | None = None) -> None: ...


class LogReporter:
    """Progress as plain log lines (non-terminal output, scheduler, workers)."""

    def stage(self, name: str, total: int) -> None:
        log.info("%s: %d to do", name, total)

    def advance(self, name: str, message: str | None = None) -> None:
        if message:
            log.info("%s: %s", name, message)


@dataclass
class FetchReport:
    """What one run did."""

    feeds_checked: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    new_items: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    items_ready: int = 0
    items_duplicate: int = 0
    errors: list[str] = field(default_factory=list)
    enriched: int = 0

    def summary(self) -> str:
        return (
            f"{self.feeds_checked} feeds checked ({self.feeds_not_modified} unchanged, "
            f"{self.feeds_failed} failed), {self.new_items} new items, "
            f"{self.items_ready} ready ({self.pages_fetched} from their page, "
            f"{self.pages_failed} from feed content), {self.items_duplicate} duplicates, "
            f"{self.enriched} enriched"
        )


def run_fetch(
    settings: Settings,
    *,
    source: str | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    enrich: bool = True,
) -> FetchReport:
    """Run one ingest pass (synchronous entry point).

    Holds the database's ``ingest`` lease throughout; raises :class:`LeaseHeld` when another
    process (the scheduler of ``newsline serve``, another ``newsline fetch``) is running one.
    """
    with lease(settings.database_url, "ingest"):
        report = asyncio.run(
            fetch_all(settings, source=source, force=force, reporter=reporter or LogReporter())
        )
        if enrich:
            from newsline.enrich.stage import enrich_pending

            report.enriched = enrich_pending(settings).enriched
    return report


async def fetch_all(
    settings: Settings, *, source: str | None, force: bool, reporter: Reporter
) -> FetchReport:
    """Refresh due feeds, then finish pending items."""
    url = settings.database_url
    report = FetchReport()
    with session_scope(url) as session:
        sync_channels(session, settings)
        store.prune_fetch_log(session)
        query = select(
            Feed.id, Feed.url, Feed.etag, Feed.last_modified, Feed.interval_seconds
        ).join(Publication)
        if source is not None:
            query = query.where(Publication.tag == source)
        if not force:
            query = query.where(or_(Feed.next_fetch_at.is_(None), Feed.next_fetch_at <= utcnow()))
        feeds = list(session.execute(query.order_by(Feed.id)))
    feed_ids = {f.url: f.id for f in feeds}
    intervals = {f.id: f.interval_seconds for f in feeds}
    attempts: list[Attempt] = []
    unchanged: list[tuple[int, int]] = []

    def flush_log() -> None:
        # Bookkeeping that may be lost in a crash (HTTP log, 304s) is written in batches.
        if attempts or unchanged:
            with session_scope(url) as session:
                store.write_fetch_log(session, attempts, feed_ids)
                store.record_not_modified(session, unchanged, settings.fetch)
            attempts.clear()
            unchanged.clear()

    async with Fetcher(settings.fetch, on_attempt=attempts.append) as fetcher:
        reporter.stage("feeds", len(feeds))
        limit = asyncio.Semaphore(settings.fetch.concurrency)

        async def one_feed(fid: int, furl: str, etag: str | None, lm: str | None) -> None:
            async with limit:
                not_modified, message = await _refresh_feed(
                    settings, fetcher, fid, furl, etag, lm, report
                )
            if not_modified:
                unchanged.append((fid, intervals[fid]))
            if len(attempts) >= 500:
                flush_log()
            reporter.advance("feeds", message)

        await asyncio.gather(*(one_feed(f.id, f.url, f.etag, f.last_modified) for f in feeds))
        flush_log()
        await finish_pending(settings, fetcher, source=source, report=report, reporter=reporter)
        flush_log()
    return report


async def _refresh_feed(
    settings: Settings,
    fetcher: Fetcher,
    feed_id: int,
    url: str,
    etag: str | None,
    last_modified: str | None,
    report: FetchReport,
) -> tuple[bool, str | None]:
    """Refresh one feed; returns (answered 304, a line worth showing the operator)."""
    report.feeds_checked += 1
    db = settings.database_url
    try:
        result = await fetcher.get(
            url, kind="feed", etag=etag, last_modified=last_modified, accept=FEED_ACCEPT
        )
    except FetchError as exc:
        report.feeds_failed += 1
        report.errors.append(f"feed {url}: {exc.reason}")
        with session_scope(db) as session:
            store.record_feed_failure(session, feed_id, exc, exc.status, settings.fetch)
        return False, f"{url}: {exc.reason}"
    if result.not_modified:
        report.feeds_not_modified += 1
        return True, None
    try:
        parsed = await asyncio.to_thread(
            parse_feed, result.body, result.final_url, result.headers.get("content-type", "")
        )
    except FeedError as exc:
        report.feeds_failed += 1
        report.errors.append(f"feed {url}: {exc}")
        with session_scope(db) as session:
            store.record_feed_failure(session, feed_id, exc, result.status, settings.fetch)
        return False, f"{url}: {exc}"
    headers = store.FeedHeaders(result.status, result.etag, result.last_modified)
    with session_scope(db) as session:
        new = store.store_feed(session, feed_id, parsed, headers, settings.fetch)
    report.new_items += new
    return False, (f"{url}: {new} new" if new else None)


async def finish_pending(
    settings: Settings,
    fetcher: Fetcher,
    *,
    source: str | None,
    report: FetchReport,
    reporter: Reporter,
) -> None:
    """Fetch and extract the page of every pending item (feed content when that fails)."""
    db = settings.database_url
    with session_scope(db) as session:
        query = select(Item.id, Item.link, Item.url).where(Item.state == "pending")
        if source is not None:
            query = query.join(Publication).where(Publication.tag == source)
        pending = list(session.execute(query.order_by(Item.id)))
    reporter.stage("pages", len(pending))
    limit = asyncio.Semaphore(settings.fetch.concurrency)
    # Extraction is CPU-bound: one worker thread keeps the event loop free for I/O.
    with ThreadPoolExecutor(1, thread_name_prefix="extract") as pool:

        async def one(item_id: int, url: str) -> None:
            async with limit:
                page, error = await _page_content(fetcher, url, pool)
            with session_scope(db) as session:
                state = store.finish_item(session, item_id, page, error)
            if state == "duplicate":
                report.items_duplicate += 1
            elif state == "ready":
                report.items_ready += 1
                if page is None:
                    report.pages_failed += 1
                else:
                    report.pages_fetched += 1
            if error:
                report.errors.append(f"page {url}: {error}")
            reporter.advance("pages", f"{url}: {error}" if error else None)

        await asyncio.gather(*(one(p.id, p.link or p.url) for p in pending))


async def _page_content(
    fetcher: Fetcher, url: str, pool: ThreadPoolExecutor
) -> tuple[Extracted | None, str | None]:
    """The extracted page, or (None, reason) when the feed's own content must do."""
    try:
        result = await fetcher.get(url, kind="page", accept=PAGE_ACCEPT)
    except RobotsDisallowedError:
        return None, "robots.txt disallows the page; kept the feed's content"
    except FetchError as exc:
        return None, f"{exc.reason}; kept the feed's content"
    if result.content_type not in HTML_TYPES:
        return None, f"not an HTML page ({result.content_type}); kept the feed's content"
    loop = asyncio.get_running_loop()
    page = decode_with_header(result.body, result.headers.get("content-type", ""))
    try:
        return await loop.run_in_executor(pool, extract, page, result.final_url), None
    except ExtractError as exc:
        return None, f"extraction failed: {exc}; kept the feed's content"


def decode_with_header(body: bytes, content_type: str) -> str | bytes:
    """The page as text when its HTTP charset decodes it cleanly, else the raw bytes.

    As in browsers, a charset in the HTTP header beats the page's ``<meta>``; a header that
    lies (the bytes do not decode) is ignored and the extractor sniffs instead.
    """
    if body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return body  # a byte-order mark wins over everything
    _mime, _, params = content_type.partition(";")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                return body.decode(value.strip().strip("\"'"))
            except (LookupError, UnicodeDecodeError):
                return body
    return body

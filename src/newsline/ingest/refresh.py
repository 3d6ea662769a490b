"""The ingest stage, one unit at a time: refresh one feed, finish one pending item.

Each unit is idempotent and keyed by URL (see :mod:`newsline.ingest.store`), and knows
nothing of what runs before or after it: :mod:`newsline.workers.pipeline` selects the due
feeds and pending items, runs the units concurrently and moves on to enrichment. A unit
never raises (cancellation aside): whatever fails, the publisher's fault or our bug, is
recorded on the feed or item as one readable line (the traceback goes to the log) and the
unit returns an outcome saying what happened, so one bad feed or page never stops a pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import Session

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, Publication, utcnow
from newsline.errors import NewslineError
from newsline.ingest import store, websub
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
#: Bookkeeping rows (HTTP log, 304s) kept in memory before they are written in one go.
BOOKKEEPING_BATCH = 500


@dataclass(frozen=True)
class DueFeed:
    """What refreshing one feed needs to know about it."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    interval_seconds: int


@dataclass(frozen=True)
class PendingItem:
    """An item stored from its feed whose page is still to be fetched and extracted."""

    id: int
    url: str


FeedStatus = Literal["updated", "unchanged", "failed"]


@dataclass(frozen=True)
class FeedOutcome:
    """What refreshing one feed did."""

    url: str
    status: FeedStatus
    new_items: int = 0
    error: str | None = None

    @property
    def message(self) -> str | None:
        """A line worth showing the operator, if any."""
        if self.error:
            return f"{self.url}: {self.error}"
        return f"{self.url}: {self.new_items} new" if self.new_items else None


@dataclass(frozen=True)
class ItemOutcome:
    """What finishing one pending item did."""

    url: str
    # ready, duplicate; pending (failed, tried again next pass) or failed (given up);
    # or what another process left (see store.finish_item)
    state: str
    from_page: bool
    error: str | None = None


def due_feeds(
    session: Session, *, publication: str | None = None, force: bool = False
) -> list[DueFeed]:
    """Feeds whose next refresh is due (every feed with `force`), of one publication or all;
    never those of a paused publication."""
    query = select(Feed.id, Feed.url, Feed.etag, Feed.last_modified, Feed.interval_seconds).join(
        Publication
    )
    if publication is not None:
        query = query.where(Publication.tag == publication)
    query = query.where(Publication.paused_at.is_(None))  # an editor paused it (console)
    if not force:
        query = query.where(or_(Feed.next_fetch_at.is_(None), Feed.next_fetch_at <= utcnow()))
    return [DueFeed(*row) for row in session.execute(query.order_by(Feed.id))]


def pending_items(session: Session, *, publication: str | None = None) -> list[PendingItem]:
    """Items waiting for their page, oldest first."""
    query = select(Item.id, Item.link, Item.url).where(Item.state == "pending")
    if publication is not None:
        query = query.join(Publication).where(Publication.tag == publication)
    return [
        PendingItem(row.id, row.link or row.url) for row in session.execute(query.order_by(Item.id))
    ]


@dataclass
class Bookkeeping:
    """The HTTP log and 304 answers of a run, written in batches.

    What is kept here may be lost in a crash: it is bookkeeping (the fetch log, a feed's
    next refresh time after a 304), never an item. Give :meth:`attempt` to the fetcher as
    its ``on_attempt`` and call :meth:`flush` at the end of the run.
    """

    settings: Settings
    attempts: list[Attempt] = field(default_factory=list)
    unchanged: list[tuple[int, int]] = field(default_factory=list)
    feed_ids: dict[str, int] = field(default_factory=dict)

    def attempt(self, attempt: Attempt) -> None:
        """Record one HTTP attempt (the fetcher's ``on_attempt``)."""
        self.attempts.append(attempt)

    def not_modified(self, feed: DueFeed) -> None:
        """Record a 304 for `feed`: its next refresh is scheduled in the next flush."""
        self.unchanged.append((feed.id, feed.interval_seconds))
        self.feed_ids[feed.url] = feed.id

    def flush(self, *, at_least: int = 1, connection: Connection | None = None) -> None:
        """Write what was collected (nothing while fewer than `at_least` rows wait), on
        `connection` when given (a distributed unit's own: no second checkout per unit)."""
        if len(self.attempts) + len(self.unchanged) < max(at_least, 1):
            return
        if connection is not None:
            store.write_fetch_log(connection, self.attempts, self.feed_ids)
            store.record_not_modified(connection, self.unchanged, self.settings.fetch)
        else:
            with session_scope(self.settings.database_url) as session:
                store.write_fetch_log(session, self.attempts, self.feed_ids)
                store.record_not_modified(session, self.unchanged, self.settings.fetch)
        self.attempts.clear()
        self.unchanged.clear()


class UnitFailure(NewslineError):
    """What a unit records when something unexpected failed: one line, the cause named."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(failure_line(error))


def failure_line(error: BaseException) -> str:
    """One readable line for a failure: a :class:`NewslineError` says it itself; anything
    else is named by its type (it is a bug or a library's surprise; the log has the rest)."""
    text = store.one_line(error, 500)
    if not isinstance(error, NewslineError):
        kind = type(error).__name__
        text = f"unexpected error ({kind}): {text}" if text else f"unexpected error ({kind})"
    return text


T = TypeVar("T")


async def off_loop(pool: Executor | None, work: Callable[[], T]) -> T:
    """Run CPU-bound `work` (parsing a feed, extracting a page) in `pool`, keeping the event
    loop free for I/O meanwhile; or, with None, on the loop's own thread, then yield once so
    that the loop sees to its other requests before the unit goes on.

    A distributed worker process passes None: it is one of N for N cores, with no core left
    for a second busy thread. Handing its pages to a thread cost each page about a quarter
    more CPU, and two such processes on two cores spent much of the page stage waiting for
    a CPU (docs/benchmarks.md, issue 15, wave 14). The loop is blocked meanwhile (about 20
    ms for a 100 KB page), far inside fetch timeouts and politeness's TTLs.
    """
    if pool is None:
        result = work()
        await asyncio.sleep(0)
        return result
    return await asyncio.get_running_loop().run_in_executor(pool, work)


async def refresh_feed(
    settings: Settings,
    fetcher: Fetcher,
    feed: DueFeed,
    book: Bookkeeping,
    pool: Executor | None,
) -> FeedOutcome:
    """Fetch and parse one feed; store its new entries as pending items.

    Parsing is CPU-bound and runs in `pool`, or with None on the event loop's own thread
    (see :func:`off_loop`). Never raises (cancellation aside): a failure of any kind is
    recorded on the feed.
    """
    try:
        return await _refresh_feed(settings, fetcher, feed, book, pool)
    except Exception as exc:
        log.exception("refreshing feed %s failed", feed.url)
        failure = UnitFailure(exc)
    try:
        with session_scope(settings.database_url) as session:
            store.record_feed_failure(session, feed.id, failure, None, settings.fetch)
    except Exception:
        log.exception("could not record the failure of feed %s", feed.url)
    return FeedOutcome(feed.url, "failed", error=str(failure))


async def _refresh_feed(
    settings: Settings,
    fetcher: Fetcher,
    feed: DueFeed,
    book: Bookkeeping,
    pool: Executor | None,
) -> FeedOutcome:
    db = settings.database_url
    book.feed_ids[feed.url] = feed.id
    try:
        result = await fetcher.get(
            feed.url,
            kind="feed",
            etag=feed.etag,
            last_modified=feed.last_modified,
            accept=FEED_ACCEPT,
        )
    except FetchError as exc:
        with session_scope(db) as session:
            store.record_feed_failure(session, feed.id, exc, exc.status, settings.fetch)
        return FeedOutcome(feed.url, "failed", error=exc.reason)
    if result.not_modified:
        book.not_modified(feed)
        return FeedOutcome(feed.url, "unchanged")
    try:
        content_type = result.headers.get("content-type", "")
        parsed = await off_loop(
            pool, lambda: parse_feed(result.body, result.final_url, content_type)
        )
    except FeedError as exc:
        with session_scope(db) as session:
            store.record_feed_failure(session, feed.id, exc, result.status, settings.fetch)
        return FeedOutcome(feed.url, "failed", error=str(exc))
    headers = store.FeedHeaders(
        result.status, result.etag, result.last_modified, moved_to=result.moved_to
    )
    with session_scope(db) as session:
        new = store.store_feed(session, feed.id, parsed, headers, settings.fetch)
    websub.after_poll(settings, feed.id, result.body, result.headers, result.final_url)
    return FeedOutcome(feed.url, "updated", new_items=new)


async def finish_item(
    settings: Settings, fetcher: Fetcher, item: PendingItem, pool: Executor | None
) -> ItemOutcome:
    """Fetch and extract one pending item's page (its feed content when that fails).

    Extraction is CPU-bound and runs in `pool`, or with None on the event loop's own
    thread (see :func:`off_loop`).
    Never raises (cancellation aside): when even the feed's content cannot be stored, the
    failure is recorded on the item, which the next pass tries again (until
    ``store.MAX_ITEM_ATTEMPTS``, when it is marked ``failed``).
    """
    db = settings.database_url
    try:
        page, error = await _page_content(fetcher, item.url, pool)
    except Exception as exc:
        log.exception("fetching the page of %s failed", item.url)
        page, error = None, f"{failure_line(exc)}; kept the feed's content"
    try:
        with session_scope(db) as session:
            state = store.finish_item(session, item.id, page, error)
        return ItemOutcome(item.url, state, from_page=page is not None, error=error)
    except Exception as exc:
        log.exception("storing item %s failed", item.url)
        failure = failure_line(exc)
    if page is not None:  # what the page gave could not be stored: the feed's content may
        error = f"storing the page failed, {failure}; kept the feed's content"
        try:
            with session_scope(db) as session:
                state = store.finish_item(session, item.id, None, error)
            return ItemOutcome(item.url, state, from_page=False, error=error)
        except Exception as exc:
            log.exception("storing item %s from its feed content failed", item.url)
            failure = failure_line(exc)
    try:
        with session_scope(db) as session:
            state = store.record_item_failure(session, item.id, failure)
    except Exception:
        log.exception("could not record the failure of item %s", item.url)
        state = "pending"
    return ItemOutcome(item.url, state, from_page=False, error=failure)


async def _page_content(
    fetcher: Fetcher, url: str, pool: Executor | None
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
    content_type = result.headers.get("content-type", "")
    try:
        page = await off_loop(
            pool, lambda: extract(result.body, result.final_url, content_type=content_type)
        )
        return page, None
    except ExtractError as exc:
        return None, f"extraction failed: {exc}; kept the feed's content"
    except Exception as exc:  # a bug of ours or of a library: recorded, never silent
        log.exception("extracting %s failed", url)
        return None, f"extraction failed, {failure_line(exc)}; kept the feed's content"

"""The pipeline, orchestrated in one place: refresh -> enrich -> publish due digests -> mail.

Each stage is a plain function over stored rows in its own package and knows nothing of
the others: :mod:`newsline.ingest.refresh` (one feed, one pending item),
:mod:`newsline.enrich.stage` (a batch of ready items), :mod:`newsline.publish.digest`
(one channel's slot) and :mod:`newsline.publish.mailer` (one channel's due mail). This
module strings them together. ``newsline fetch``, the scheduler of ``newsline serve`` and
``newsline demo`` all run :func:`run_pass`; a distributed runner calls the same unit
functions one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from newsline.config import Settings
from newsline.db.channels import effective_settings, sync_channels
from newsline.db.engine import session_scope
from newsline.db.lease import lease
from newsline.enrich.hashtags import ChannelClassifier, hashtags_of
from newsline.enrich.stage import EnrichReport, enrich_pending
from newsline.enrich.stories import NearDuplicateIndex
from newsline.enrich.summarize import summarize
from newsline.ingest import store, websub
from newsline.ingest.extract import extract
from newsline.ingest.fetch import Fetcher
from newsline.ingest.refresh import (
    BOOKKEEPING_BATCH,
    Bookkeeping,
    DueFeed,
    FeedOutcome,
    ItemOutcome,
    PendingItem,
    due_feeds,
    failure_line,
    finish_item,
    pending_items,
    refresh_feed,
)
from newsline.publish import websub_ping
from newsline.publish.digest import DigestResult, publish_due
from newsline.publish.mailer import DeliveryReport, send_due
from newsline.workers.progress import LogReporter, Reporter

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    """What one pass of the pipeline did."""

    feeds_checked: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    new_items: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    items_ready: int = 0
    items_duplicate: int = 0
    items_failed: int = 0
    enriched: int = 0
    websub_requests: int = 0  # (un)subscription requests hubs accepted
    digests: list[DigestResult] = field(default_factory=list)
    mail: list[DeliveryReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count_feed(self, outcome: FeedOutcome) -> None:
        """Add one feed's outcome."""
        self.feeds_checked += 1
        if outcome.status == "unchanged":
            self.feeds_not_modified += 1
        elif outcome.status == "failed":
            self.feeds_failed += 1
            self.errors.append(f"feed {outcome.url}: {outcome.error}")
        self.new_items += outcome.new_items

    def add_websub(self, done: websub.WebSubReport) -> None:
        """Add what the WebSub stage did (its failures: the feeds are polled meanwhile)."""
        self.websub_requests += done.subscribed + done.unsubscribed
        self.errors.extend(done.errors)

    def count_item(self, outcome: ItemOutcome) -> None:
        """Add one pending item's outcome."""
        if outcome.state == "duplicate":
            self.items_duplicate += 1
        elif outcome.state in ("failed", "pending"):
            self.items_failed += 1
        elif outcome.state == "ready":
            self.items_ready += 1
            if outcome.from_page:
                self.pages_fetched += 1
            else:
                self.pages_failed += 1
        if outcome.error:
            self.errors.append(f"page {outcome.url}: {outcome.error}")

    @property
    def published(self) -> list[DigestResult]:
        """The digests this pass published."""
        return [d for d in self.digests if d.status == "published"]

    def summary(self) -> str:
        """One line for the operator."""
        line = (
            f"{self.feeds_checked} feeds checked ({self.feeds_not_modified} unchanged, "
            f"{self.feeds_failed} failed), {self.new_items} new items, "
            f"{self.items_ready} ready ({self.pages_fetched} from their page, "
            f"{self.pages_failed} from feed content), {self.items_duplicate} duplicates, "
            f"{self.enriched} enriched"
        )
        if self.items_failed:
            line += f", {self.items_failed} items failed"
        if self.published:
            line += f", {len(self.published)} digests published"
        sent = sum(len(m.sent) for m in self.mail)
        if sent:
            line += f", {sent} digest e-mails sent"
        return line


def run_pass(
    settings: Settings,
    *,
    publication: str | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    enrich: bool = True,
    publish: bool = True,
    now: datetime | None = None,
) -> PassReport:
    """One pass: refresh due feeds, finish pending items, enrich, publish due digests, mail.

    Refresh and enrichment hold the database's ``ingest`` lease; raises
    :class:`~newsline.db.lease.LeaseHeld` when another process (the scheduler of ``newsline
    serve``, another ``newsline fetch``) is running them. Digests and mail need no lease:
    the database settles their races (one digest per channel and slot; claimed sends).
    """
    # The console's channel settings (hashtags for enrichment, schedules), as they are now.
    settings = effective_settings(settings)
    report = PassReport()
    started = datetime.now(UTC)
    with lease(settings.database_url, "ingest"):
        with session_scope(settings.database_url) as session:
            sync_channels(session, settings)
            store.prune_fetch_log(session)
        asyncio.run(
            ingest_due(
                settings,
                report,
                publication=publication,
                force=force,
                reporter=reporter or LogReporter(),
            )
        )
        # WebSub: (re)subscribe feeds found advertising a hub, renew leases, unsubscribe removed.
        report.add_websub(websub.run_due(settings, now))
        if enrich:
            report.enriched = enrich_pending(settings).enriched
    if publish:
        digests, mail = publish_and_mail(settings, now)
        report.digests, report.mail = digests, mail
    # Our feeds that changed: tell the configured hub (web.websub_hub) so it pushes them.
    report.errors.extend(websub_ping.ping_changed(settings, since=started))
    return report


async def ingest_due(
    settings: Settings,
    report: PassReport,
    *,
    publication: str | None = None,
    force: bool = False,
    reporter: Reporter,
) -> None:
    """Refresh due feeds, then finish every pending item, adding outcomes to `report`."""
    with session_scope(settings.database_url) as session:
        feeds = due_feeds(session, publication=publication, force=force)
    book = Bookkeeping(settings)
    limit = asyncio.Semaphore(settings.fetch.concurrency)
    # Parsing and extraction are CPU-bound: one thread keeps the event loop free for I/O.
    with ThreadPoolExecutor(1, thread_name_prefix="parse") as pool:
        async with Fetcher(settings.fetch, on_attempt=book.attempt) as fetcher:
            reporter.stage("feeds", len(feeds))

            async def one_feed(feed: DueFeed) -> None:
                async with limit:
                    outcome = await refresh_feed(settings, fetcher, feed, book, pool)
                report.count_feed(outcome)
                reporter.advance("feeds", outcome.message)
                book.flush(at_least=BOOKKEEPING_BATCH)

            await run_isolated(one_feed, feeds, report, what="feed")
            book.flush()

            with session_scope(settings.database_url) as session:
                pending = pending_items(session, publication=publication)
            reporter.stage("pages", len(pending))

            async def one_item(item: PendingItem) -> None:
                async with limit:
                    outcome = await finish_item(settings, fetcher, item, pool)
                report.count_item(outcome)
                message = f"{outcome.url}: {outcome.error}" if outcome.error else None
                reporter.advance("pages", message)

            await run_isolated(one_item, pending, report, what="page")
            book.flush()


#: What warm_up() extracts, tags, summarizes and indexes (written for it).
_WARM_TITLE = "Council approves the new budget"
_WARM_TEXT = (
    "The city council approved the new budget on Monday after a long debate. "
    "Residents will vote on the spending plan next month, officials said."
)
_WARM_PAGE = (
    f"<html><head><title>{_WARM_TITLE}</title></head><body><article><h1>{_WARM_TITLE}</h1>"
    f"<p>{_WARM_TEXT}</p><p>{_WARM_TEXT}</p></article></body></html>"
).encode()


def warm_up(settings: Settings) -> None:
    """Load what the stages otherwise load on their first unit: the extraction libraries,
    the word vectors and each channel's hashtag model, the sentence splitter and MinHash.
    A worker process calls it as it starts, before it takes any unit; bench/scale.py calls
    it before the single-process runner's pass, so both runners' CPU per unit leaves these
    one-time costs out alike (about 2 s of CPU in a process)."""
    started = time.process_time()
    try:
        extract(_WARM_PAGE, "http://warm-up.invalid/", content_type="text/html")
        for cfg in settings.channels:
            ChannelClassifier(hashtags_of(cfg.hashtags)).classify(_WARM_TITLE, _WARM_TEXT)
        summarize(_WARM_TITLE, _WARM_TEXT)
        NearDuplicateIndex().add(0, _WARM_TITLE, _WARM_TEXT, datetime.now(UTC))
    except Exception:  # a unit meets it again and records it; starting must not fail
        log.warning("warming up the stages failed", exc_info=True)
    log.info("stages warmed up in %.1f s of CPU", time.process_time() - started)


Unit = TypeVar("Unit", DueFeed, PendingItem)


async def run_isolated(
    unit: Callable[[Unit], Awaitable[None]], work: Iterable[Unit], report: PassReport, *, what: str
) -> None:
    """Run `unit` over `work` concurrently; a failure of one never stops or cancels another.

    The units record their own failures (see :mod:`newsline.ingest.refresh`); what still
    escapes (the bookkeeping around them) is logged and added to the report's errors.
    """
    todo = list(work)
    results = await asyncio.gather(*(unit(w) for w in todo), return_exceptions=True)
    for done, result in zip(todo, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancellation, interruption: not a unit's failure
        if isinstance(result, Exception):
            log.error("%s %s failed", what, done.url, exc_info=result)
            report.errors.append(f"{what} {done.url}: {failure_line(result)}")


def run_enrich(
    settings: Settings, *, rebuild: bool = False, limit: int | None = None
) -> EnrichReport:
    """Enrichment alone (``newsline enrich``): items not yet enriched, or all with `rebuild`.

    Holds the ``ingest`` lease, like a pass, so it never races a pass's enrichment.
    """
    with lease(settings.database_url, "ingest"):
        with session_scope(settings.database_url) as session:
            sync_channels(session, settings)
        return enrich_pending(settings, rebuild=rebuild, limit=limit)


def publish_and_mail(
    settings: Settings, now: datetime | None = None
) -> tuple[list[DigestResult], list[DeliveryReport]]:
    """Publish every channel's due digest, then send the due e-mail editions.

    A failure in one channel is logged and does not stop the others; the next tick
    retries it (both stages are idempotent).
    """
    now = now or datetime.now(UTC)
    digests = publish_due(settings, now)
    for result in digests:
        if result.status == "published":
            log.info("digest %s: %s (%d entries)", result.channel, result.title, result.entries)
    mail = send_due(settings, now) if settings.email.enabled else []
    return digests, mail

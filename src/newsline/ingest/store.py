"""Writing what ingest learned: feed state, new entries as pending items, finished items.

Every function here is one short transaction keyed by URL, so a run killed at any point
and started again finishes the work with no duplicate and no lost item.

URLs from publishers are checked here, on their way in: an entry whose link is not an
http(s) URL (``javascript:``, ``data:``, ...) or cannot be parsed is refused and named in
the feed's ``last_error``; a canonical URL that cannot be parsed is ignored and named in the
item's ``extract_error``.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import logging
import re
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsline.config import FetchSettings
from newsline.db.models import Feed, FetchLog, Item, utcnow
from newsline.ingest.decode import parseable_text
from newsline.ingest.extract import Extracted
from newsline.ingest.feeds import FeedEntry, ParsedFeed
from newsline.ingest.fetch import Attempt, HTTPStatusError
from newsline.ingest.identity import (
    InvalidURLError,
    body_fingerprint,
    canonical_url,
    normalize_url,
    shown_url,
    slugify,
)
from newsline.ingest.language import detect_language
from newsline.ingest.sanitize import sanitize_html
from newsline.sanitize import web_url
from newsline.text import printable, truncate_words

log = logging.getLogger(__name__)

TEASER_CHARS = 280
#: The longest URL stored (the URL columns' size).
MAX_URL_CHARS = 2000
#: Refused entries named one by one in a feed's last_error; the rest are counted.
NAMED_REFUSALS = 5
#: Passes that may fail to finish an item before it is marked ``failed``.
MAX_ITEM_ATTEMPTS = 3
#: Control characters and lone surrogates in a link: refused, not dropped (that would make
#: another URL).
_URL_CONTROLS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_TAGS = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|h[1-6]|li|blockquote|figcaption|div)>|<br\s*/?>", re.I)


def one_line(error: object, limit: int = 2000) -> str:
    """An error as the one line an operator reads: control characters and line breaks gone."""
    return " ".join(printable(str(error)).split())[:limit]


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment, one paragraph per line."""
    text = _BLOCK_END.sub("\n", fragment)
    text = htmllib.unescape(_TAGS.sub("", text))
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# -- URLs ---------------------------------------------------------------------------------


def entry_url(link: str) -> tuple[str, str]:
    """An entry's link checked for storing: (the link, its normalized URL).

    Raises :class:`~newsline.ingest.identity.InvalidURLError` saying why the link is
    refused: not an absolute http(s) URL, unparseable, or too long to store.
    """
    checked = web_url(link)
    if checked is None:
        raise InvalidURLError(f"not an http(s) URL: {shown_url(link)}")
    if _URL_CONTROLS.search(checked):
        raise InvalidURLError(f"control characters in URL: {shown_url(link)}")
    url = normalize_url(checked)
    if len(checked) > MAX_URL_CHARS or len(url) > MAX_URL_CHARS:
        raise InvalidURLError(f"URL longer than {MAX_URL_CHARS} characters: {shown_url(link)}")
    return checked, url


def stored_web_url(value: str | None) -> str | None:
    """`value` when it is an http(s) URL that parses and fits its column, else None."""
    try:
        return entry_url(value)[0] if value else None
    except InvalidURLError:
        return None


def storable(entry: FeedEntry) -> FeedEntry:
    """`entry` with what no text column takes (NUL, which PostgreSQL refuses, and the other
    control characters) removed from its text; its link is left for :func:`entry_url`."""
    changes: dict[str, Any] = {}
    for f in fields(entry):
        value = getattr(entry, f.name)
        if f.name != "link" and isinstance(value, str) and parseable_text(value) != value:
            changes[f.name] = parseable_text(value)
    return replace(entry, **changes) if changes else entry


# -- feeds --------------------------------------------------------------------------------


def next_interval(
    published: list[datetime], new_items: int, previous: int, s: FetchSettings
) -> int:
    """Seconds until the next refresh, from the feed's observed publishing rate.

    Polls about twice per expected new entry; a feed with too few dates to tell speeds up
    when it had news and backs off when it had none. Bounded by fetch.min/max_interval.
    """
    times = sorted(t for t in published if t is not None)[-20:]
    if len(times) >= 3 and times[-1] > times[0]:
        gap = (times[-1] - times[0]).total_seconds() / (len(times) - 1)
        since_last = (utcnow() - times[-1]).total_seconds()
        interval = max(gap, since_last / 4) / 2
    else:
        interval = previous * (0.5 if new_items else 1.5)
    return int(min(max(interval, s.min_interval), s.max_interval))


def failure_delay(feed: Feed, error: Exception, s: FetchSettings) -> int:
    """Seconds before retrying a failing feed: exponential in failures, at least Retry-After."""
    base = max(feed.interval_seconds, s.min_interval)
    delay = min(base * 2 ** min(feed.consecutive_failures, 8), s.max_interval)
    if isinstance(error, HTTPStatusError) and error.retry_after is not None:
        delay = max(delay, int(error.retry_after))
    return int(delay)


def record_feed_failure(
    session: Session, feed_id: int, error: Exception, status: int | None, s: FetchSettings
) -> None:
    """Mark a feed failed, with a readable error and when to try again."""
    feed = session.get(Feed, feed_id)
    if feed is None:
        return
    now = utcnow()
    feed.consecutive_failures += 1
    feed.status = "error"
    feed.last_error = one_line(error)
    feed.last_status_code = status
    feed.last_fetched_at = now
    feed.next_fetch_at = now + timedelta(seconds=failure_delay(feed, error, s))


def record_not_modified(
    session: Session | Connection, feeds: list[tuple[int, int]], s: FetchSettings
) -> None:
    """304s: nothing new, so back off a little. ``feeds`` holds (feed id, current interval).

    Feeds that get the same new interval share one UPDATE; a crash loses at most the
    bookkeeping of a few 304s.
    """
    now = utcnow()
    groups: dict[int, list[int]] = {}
    for feed_id, interval in feeds:
        groups.setdefault(next_interval([], 0, interval, s), []).append(feed_id)
    for seconds, ids in groups.items():
        session.execute(
            update(Feed)
            .where(Feed.id.in_(ids))
            .values(
                status="ok",
                last_status_code=304,
                last_error=None,
                consecutive_failures=0,
                last_fetched_at=now,
                last_success_at=now,
                interval_seconds=seconds,
                next_fetch_at=now + timedelta(seconds=seconds),
            )
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class FeedHeaders:
    """Validators and status of the response a feed came in."""

    status: int
    etag: str | None
    last_modified: str | None
    #: The feed's new address after a permanent redirect (see ``FetchResult.moved_to``).
    moved_to: str | None = None


def store_feed(
    session: Session, feed_id: int, parsed: ParsedFeed, response: FeedHeaders, s: FetchSettings
) -> int:
    """Store new entries as pending items and the feed's new state; return the count of new items.

    The validators (ETag, Last-Modified) are saved in the same transaction as the entries,
    so a crash cannot leave the feed marked as seen without its items.
    """
    feed = session.get(Feed, feed_id)
    if feed is None:
        return 0
    publication = feed.publication
    now = utcnow()
    new = 0
    refused: list[str] = []
    _lock_entry_urls(session, parsed.entries)
    for raw in parsed.entries:
        entry = storable(raw)
        if not entry.link:
            new += _store_linkless_entry(session, feed, entry, now)
            continue
        try:
            link, url = entry_url(entry.link)
        except InvalidURLError as exc:
            refused.append(f"entry {shown_url(entry.title or entry.guid)!r} refused, {exc}")
            continue
        known = session.scalar(
            select(Item.id)
            .where(
                or_(
                    (Item.publication_id == publication.id) & Item.guid.in_(_guids(entry)),
                    Item.url == url,
                    Item.canonical_url == url,
                    *_former_link_matches(entry),
                )
            )
            .limit(1)
        )
        if known is not None:
            continue
        content = entry.content_html or entry.summary_html
        feed_html = sanitize_html(content, link) if content else ""
        summary_text = html_to_text(entry.summary_html or content or "")
        published = entry.published
        item = Item(
            publication_id=publication.id,
            feed_id=feed.id,
            guid=entry.guid,
            url=url,
            link=link,
            state="pending",
            title=entry.title[:1000],
            author=entry.author,
            published_at=published,
            first_seen_at=now,
            sort_at=min(published, now) if published else now,
            image_url=stored_web_url(entry.image_url),
            teaser=truncate_words(summary_text, TEASER_CHARS),
            feed_html=feed_html,
            sections=list(entry.sections) or None,
        )
        try:
            with session.begin_nested():
                session.add(item)
        except IntegrityError:
            continue  # another process stored it first
        new += 1
    feed.title = parseable_text(parsed.title) or feed.title
    if not publication.home_url:
        publication.home_url = stored_web_url(parsed.link)
    if not publication.icon_url:
        publication.icon_url = stored_web_url(parsed.image_url)
    if response.moved_to and response.moved_to != feed.url:
        _follow_move(session, feed, response.moved_to)
    feed.etag = response.etag
    feed.last_modified = response.last_modified
    feed.status = "ok"
    feed.last_status_code = response.status
    if len(refused) > NAMED_REFUSALS:
        more = len(refused) - NAMED_REFUSALS
        refused[NAMED_REFUSALS:] = [f"{more} more entries refused for their links"]
    feed.last_error = one_line("; ".join([*parsed.warnings, *refused])) or None
    feed.consecutive_failures = 0
    feed.last_fetched_at = feed.last_success_at = now
    feed.entries_seen = len(parsed.entries)
    feed.interval_seconds = next_interval(
        [e.published for e in parsed.entries if e.published], new, feed.interval_seconds, s
    )
    feed.next_fetch_at = now + timedelta(seconds=feed.interval_seconds)
    return new


def _follow_move(session: Session, feed: Feed, url: str) -> None:
    """A feed that moved for good is fetched at its new address from now on, as feed
    readers do, unless another feed already has that address (then both stay as they are,
    and the operator sees the duplicate in ``publications list``)."""
    if session.scalar(select(Feed.id).where(Feed.url == url).limit(1)) is not None:
        log.info("feed %s moved to %s, which is another feed's address", feed.url, url)
        return
    log.info("feed %s moved permanently to %s; its address is updated", feed.url, url)
    feed.url = url


def _lock_entry_urls(session: Session, entries: list[FeedEntry]) -> None:
    """On PostgreSQL, lock the entries' URLs for this transaction in one order for everyone.

    Two workers storing two feeds that carry the same entries in different orders would
    otherwise each hold one new item's unique key and wait for the other's (a deadlock:
    PostgreSQL aborts one refresh). Items are still inserted in feed order.
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time
    urls = set()
    for entry in entries:
        try:
            if entry.link:
                urls.add(entry_url(entry.link)[1])
        except InvalidURLError:
            continue
    if len(urls) < 2:
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(u, 0) AS k"
            " FROM unnest(CAST(:urls AS text[])) AS u ORDER BY k) AS keys"
        ),
        {"urls": sorted(urls)},
    )


def _guids(entry: FeedEntry) -> list[str]:
    """The entry's GUID, and the one an earlier version stored for it (resolved against
    the feed's URL), so that items stored then are recognised."""
    return [entry.guid, entry.former_guid] if entry.former_guid else [entry.guid]


def _former_link_matches(entry: FeedEntry) -> list[ColumnElement[bool]]:
    """Item URL conditions for the link an earlier version derived for the entry."""
    if not entry.former_link:
        return []
    try:
        return [Item.url == normalize_url(entry.former_link)]
    except ValueError:
        return []


def linkless_url(publication_id: int, guid: str) -> str:
    """The key of an item with no link (``item.url`` is unique): a URN, never a web URL."""
    digest = hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()[:40]
    return f"urn:newsline:item:{publication_id}:{digest}"


def _store_linkless_entry(session: Session, feed: Feed, entry: FeedEntry, now: datetime) -> int:
    """Keep an entry that has no link (RSS 0.92, podcasts): 1 when it is new, else 0.

    There is no page to fetch, so the item is finished from its feed content at once and
    our item page is where it is read.
    """
    content = entry.content_html or entry.summary_html
    if not (entry.title or content.strip() or entry.enclosure_url):
        return 0  # an empty entry (no title, text, link or enclosure): nothing to show
    publication = feed.publication
    known = session.scalar(
        select(Item.id)
        .where(Item.publication_id == publication.id, Item.guid.in_(_guids(entry)))
        .limit(1)
    )
    if known is not None:
        return 0
    base = publication.home_url or feed.url
    summary_text = html_to_text(entry.summary_html or content or "")
    image = entry.image_url if entry.image_url and len(entry.image_url) <= 2000 else None
    item = Item(
        publication_id=publication.id,
        feed_id=feed.id,
        guid=entry.guid,
        url=linkless_url(publication.id, entry.guid),
        link="",
        state="pending",
        title=entry.title[:1000],
        author=entry.author,
        published_at=entry.published,
        first_seen_at=now,
        sort_at=min(entry.published, now) if entry.published else now,
        image_url=image,
        teaser=truncate_words(summary_text, TEASER_CHARS),
        feed_html=sanitize_html(content, base) if content else "",
        sections=list(entry.sections) or None,
    )
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
            finish_item(session, item.id, None, None)
    except IntegrityError:
        return 0  # another process stored it first
    return 1


# -- items --------------------------------------------------------------------------------


def finish_item(session: Session, item_id: int, page: Extracted | None, error: str | None) -> str:
    """Complete a pending item from its page (or from its feed content when ``page`` is None).

    Returns the item's new state: ``ready`` or ``duplicate`` (same canonical URL as another).
    """
    item = session.get(Item, item_id)
    if item is None or item.state != "pending":
        return item.state if item is not None else "missing"
    canonical, note = _canonical(page, item.url)
    twin = session.scalar(
        select(Item.id).where(Item.canonical_url == canonical, Item.id != item.id).limit(1)
    )
    item.attempts += 1
    item.extract_error = "; ".join(e for e in (error, note) if e) or None
    if twin is None:
        twin = _take_canonical(session, item, canonical)
    if twin is not None:
        item.state = "duplicate"
        item.duplicate_of_id = twin
        return item.state
    if page is not None and page.text.strip():
        item.content_source = "page"
        item.title = item.title or page.title or ""
        item.author = item.author or page.author
        item.published_at = item.published_at or page.published
        item.site_name = page.site_name
        item.image_url = page.image_url or item.image_url
        item.image_caption = page.image_caption
        item.body_html = page.html
        item.body_text = page.text
        item.language = page.language
        if not item.teaser:
            item.teaser = truncate_words(page.description or page.text, TEASER_CHARS)
    else:
        if page is not None:  # extracted, but nothing to read: said, not silently dropped
            empty = "extraction found no article text on the page; kept the feed's content"
            item.extract_error = "; ".join(e for e in (item.extract_error, empty) if e)
        item.content_source = "feed"
        item.body_html = item.feed_html or ""
        item.body_text = html_to_text(item.body_html)
        item.language = detect_language(f"{item.title}\n{item.body_text}")
        if not item.teaser:
            item.teaser = truncate_words(item.body_text, TEASER_CHARS)
    if item.published_at is not None:
        item.sort_at = min(item.published_at, item.first_seen_at)
    item.title = item.title or truncate_words(item.body_text, 120) or item.url
    item.content_hash = body_fingerprint(item.body_text)
    if item.content_hash is not None:
        item.duplicate_of_id = session.scalar(
            select(Item.id)
            .where(
                Item.content_hash == item.content_hash,
                Item.publication_id != item.publication_id,
                Item.state == "ready",
                Item.duplicate_of_id.is_(None),
                Item.id != item.id,
            )
            .order_by(Item.id)
            .limit(1)
        )
    item.slug = unique_slug(session, item)
    item.state = "ready"
    return item.state


def _take_canonical(session: Session, item: Item, canonical: str) -> int | None:
    """Give the item its canonical URL; the twin's id when another process gave it to its
    item first. Two workers finishing two entries of one article at once (two feeds, two
    links, one canonical page) both find no twin; the unique index decides, and the one
    that loses waits for the winner's commit, then marks its item a duplicate of it."""
    try:
        with session.begin_nested():
            item.canonical_url = canonical
            session.flush()
    except IntegrityError:
        twin = session.scalar(
            select(Item.id).where(Item.canonical_url == canonical, Item.id != item.id).limit(1)
        )
        if twin is None:
            raise  # another unique key: surface it
        return twin
    return None


def _canonical(page: Extracted | None, item_url: str) -> tuple[str, str | None]:
    """The item's canonical URL, and a note when the page's declared one had to be ignored."""
    if page is None:
        return item_url, None
    note = None
    if page.canonical_url:
        try:
            normalize_url(page.canonical_url)
        except InvalidURLError as exc:
            note = f"ignored the page's canonical URL, {exc}"
    try:
        return canonical_url(page.url, page.canonical_url), note
    except InvalidURLError as exc:  # the final URL itself (after redirects)
        return item_url, f"kept the feed's URL, {exc}"


def record_item_failure(session: Session, item_id: int, error: str) -> str:
    """Record why an item could not be finished, even from its feed content; return its state.

    The item stays ``pending`` (the next pass tries again) until its
    :data:`MAX_ITEM_ATTEMPTS`-th failure, when it is marked ``failed`` for good.
    """
    item = session.get(Item, item_id)
    if item is None or item.state != "pending":
        return item.state if item is not None else "missing"
    item.attempts += 1
    item.extract_error = one_line(error)
    if item.attempts >= MAX_ITEM_ATTEMPTS:
        item.state = "failed"
    return item.state


def unique_slug(session: Session, item: Item) -> str:
    """``<title-slug>`` unique within the item's publication (numeric suffix on clash)."""
    base = slugify(item.title) or f"item-{item.id}"
    taken = set(
        session.scalars(
            select(Item.slug).where(
                Item.publication_id == item.publication_id,
                Item.id != item.id,
                or_(Item.slug == base, Item.slug.like(f"{base}-%")),
            )
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# -- fetch log ----------------------------------------------------------------------------


def write_fetch_log(
    session: Session | Connection, attempts: list[Attempt], feed_ids: dict[str, int]
) -> None:
    """Append HTTP attempts to the fetch log (one multi-row INSERT)."""
    if not attempts:
        return
    now = utcnow()
    session.execute(
        insert(FetchLog),
        [
            {
                "at": now,
                "feed_id": feed_ids.get(a.url) if a.kind == "feed" else None,
                "kind": a.kind,
                "url": a.url[:2000],
                "status_code": a.status,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "bytes": a.bytes,
            }
            for a in attempts
        ],
    )


def prune_fetch_log(session: Session, keep_days: int = 14) -> int:
    """Forget fetch-log rows older than ``keep_days``."""
    cutoff = utcnow() - timedelta(days=keep_days)
    result = session.execute(delete(FetchLog).where(FetchLog.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def pending_count(session: Session) -> int:
    """Items found in feeds and not yet finished."""
    return int(
        session.scalar(select(func.count()).select_from(Item).where(Item.state == "pending")) or 0
    )

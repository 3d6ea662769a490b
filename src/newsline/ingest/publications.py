"""Publications and their feeds: add (with feed discovery), list, remove, OPML in and out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Publication
from newsline.errors import NewslineError
from newsline.ingest import websub
from newsline.ingest.feeds import (
    WELL_KNOWN_FEEDS,
    FeedError,
    NotAFeedError,
    OpmlSource,
    ParsedFeed,
    discover_feeds,
    load_opml,
    looks_like_html,
    parse_feed,
    well_known_feeds,
    write_opml,
)
from newsline.ingest.fetch import Fetcher, FetchError
from newsline.ingest.refresh import FEED_ACCEPT

REPUBLISH_MODES = ("full", "teaser")
T = TypeVar("T")


class PublicationError(NewslineError):
    """A publication cannot be added, changed or removed; ``str()`` tells the user what to do."""


@dataclass(frozen=True)
class FoundFeed:
    """A feed URL verified by fetching and parsing it."""

    url: str
    parsed: ParsedFeed


async def find_feed(settings: Settings, url: str) -> FoundFeed:
    """Fetch ``url``; if it is an HTML page, discover its feeds and take the first that parses."""
    async with Fetcher(settings.fetch) as fetcher:
        try:
            result = await fetcher.get(url, kind="feed", accept=FEED_ACCEPT)
        except FetchError as exc:
            raise PublicationError(f"cannot fetch {url}: {exc.reason}") from exc
        try:
            return FoundFeed(
                result.final_url, parse_feed(result.body, result.final_url, result.content_type)
            )
        except NotAFeedError:
            candidates = discover_feeds(result.body, result.final_url)
        except FeedError as exc:
            if not looks_like_html(result.body):
                raise PublicationError(f"{url} is not a usable feed: {exc}") from exc
            candidates = discover_feeds(result.body, result.final_url)
        guessed = not candidates
        problems = []
        for candidate in candidates[:5] or well_known_feeds(result.final_url):
            try:
                found = await fetcher.get(candidate, kind="feed", accept=FEED_ACCEPT)
                return FoundFeed(
                    found.final_url, parse_feed(found.body, found.final_url, found.content_type)
                )
            except (FetchError, FeedError) as exc:
                problems.append(f"{candidate}: {exc}")
        if guessed:
            raise PublicationError(
                f"{url} is a web page that announces no feed (no <link rel=alternate>, no "
                f"link to one, nothing at {', '.join(WELL_KNOWN_FEEDS)}); "
                "give the feed's URL instead"
            )
        raise PublicationError(f"no working feed on {url}: " + "; ".join(problems))


def tag_base(url: str) -> str:
    """A short publication tag from a host name: ``www.nationalreview.com`` -> ``nationalreview``."""
    try:
        host = (urlsplit(url).hostname or "source").lower()
    except ValueError:
        host = "source"
    labels = [lb for lb in host.split(".") if lb not in ("www", "feeds", "rss", "feed", "m")]
    core = labels[-2] if len(labels) >= 2 else (labels[0] if labels else "source")
    return re.sub(r"[^a-z0-9]+", "", core)[:30] or "source"


def tag_for(url: str, taken: set[str]) -> str:
    """A publication tag for ``url`` (see :func:`tag_base`) that is not in ``taken``."""
    return _fresh_tag(tag_base(url), taken, {})


def add_publication(
    session: Session,
    settings: Settings,
    feed_url: str,
    *,
    tag: str | None = None,
    name: str | None = None,
    republish: str = "teaser",
    home_url: str | None = None,
) -> tuple[Publication, bool]:
    """Create (or find) the publication for a feed URL; returns (publication, created)."""
    if republish not in REPUBLISH_MODES:
        raise PublicationError(
            f"republish must be one of {', '.join(REPUBLISH_MODES)}, not {republish!r}"
        )
    existing = session.scalar(select(Feed).where(Feed.url == feed_url))
    if existing is not None:
        return existing.publication, False
    if tag:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", tag):
            raise PublicationError(f"tag {tag!r} must be lower-case letters, digits, '-' or '_'")
        publication = session.scalar(select(Publication).where(Publication.tag == tag))
        if publication is not None and publication.is_channel_own:
            raise PublicationError(
                f"tag {tag!r} belongs to a channel's own publication; pick another"
            )
    else:
        taken = set(session.scalars(select(Publication.tag)))
        tag = tag_for(home_url or feed_url, taken)
        publication = None
    created = publication is None
    if publication is None:
        publication = Publication(
            tag=tag,
            name=name or tag,
            home_url=home_url or f"{urlsplit(feed_url).scheme}://{urlsplit(feed_url).netloc}/",
            republish=republish,
        )
        session.add(publication)
    elif name:
        publication.name = name
    publication.republish = republish
    session.add(Feed(publication=publication, url=feed_url))
    session.flush()
    sync_channels(session, settings)
    return publication, created


async def add_from_url(
    settings: Settings,
    url: str,
    *,
    tag: str | None = None,
    name: str | None = None,
    republish: str = "teaser",
) -> Publication:
    """``newsline publications add``: verify/discover the feed, then store the publication."""
    found = await find_feed(settings, url)
    home = found.parsed.link if found.parsed.link else None
    with session_scope(settings.database_url) as session:
        publication, _created = add_publication(
            session,
            settings,
            found.url,
            tag=tag,
            name=name or found.parsed.title or None,
            republish=republish,
            home_url=urljoin(found.url, home) if home else None,
        )
        if found.parsed.image_url and not publication.icon_url:
            publication.icon_url = found.parsed.image_url
        return publication


def remove_publication(session: Session, tag: str) -> Publication:
    """Delete a publication with its feeds and items."""
    publication = session.scalar(select(Publication).where(Publication.tag == tag))
    if publication is None:
        raise PublicationError(f"no publication tagged {tag!r} (see `newsline publications list`)")
    if publication.is_channel_own:
        raise PublicationError(
            f"{tag!r} is a channel's own publication (digests); it cannot be removed"
        )
    websub.forget_feeds(session, [feed.id for feed in publication.feeds])
    session.delete(publication)
    return publication


def read_opml(path: Path) -> bytes:
    """The bytes of an OPML file; :class:`PublicationError` when there is none to read."""
    if not path.exists():
        raise PublicationError(f"{path} does not exist")
    if path.is_dir():
        raise PublicationError(f"{path} is a directory, not an OPML file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PublicationError(f"cannot read {path}: {exc.strerror or exc}") from exc


#: Rows per multi-row INSERT / URLs per ``IN (...)`` lookup in an OPML import.
IMPORT_BATCH = 500


def import_opml(
    session: Session,
    settings: Settings,
    body: bytes,
    *,
    origin: str | None = None,
    skipped: list[str] | None = None,
) -> tuple[int, int]:
    """Add every subscription of an OPML document; returns (feeds added, already present).

    Outlines without a usable feed URL, with a tag that cannot be used, or repeating a URL
    of the file are skipped; when `skipped` is given, one line per such outline (or group
    of duplicates) is appended to it. `origin` (e.g. the file name) starts the message of
    a :class:`PublicationError`.

    Linear in the number of outlines: one lookup per batch of URLs and multi-row inserts,
    and the channels' membership is synced once, at the end.
    """
    where = f"{origin}: " if origin else ""
    try:
        document = load_opml(body)
    except FeedError as exc:
        raise PublicationError(f"{where}{exc}") from exc
    report = skipped if skipped is not None else []
    report.extend(document.skipped)
    if document.duplicates:
        report.append(
            f"{document.duplicates} outline(s) repeat a feed URL given earlier in the file"
        )
    urls = [src.xml_url for src in document.sources]
    known: set[str] = set()
    for chunk in _batches(urls):
        known.update(session.scalars(select(Feed.url).where(Feed.url.in_(chunk))))
    publications = {
        tag: (pid, own)
        for pid, tag, own in session.execute(
            select(Publication.id, Publication.tag, Publication.is_channel_own)
        )
    }
    taken = set(publications)
    suffixes: dict[str, int] = {}
    new_publications: dict[str, dict[str, Any]] = {}
    updates: dict[int, dict[str, Any]] = {}
    new_feeds: list[tuple[str, str]] = []  # (publication tag, feed URL)
    for src in document.sources:
        if src.xml_url in known:
            continue
        republish = src.republish if src.republish in REPUBLISH_MODES else "teaser"
        tag = src.tag
        if tag:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", tag):
                report.append(
                    f"{src.xml_url}: tag {tag!r} is not lower-case letters, digits, '-' or '_'"
                )
                continue
            if tag in publications:
                pid, own = publications[tag]
                if own:
                    report.append(
                        f"{src.xml_url}: tag {tag!r} belongs to a channel's own publication"
                    )
                    continue
                changes = updates.setdefault(pid, {"id": pid})
                changes["republish"] = republish
                if src.title:
                    changes["name"] = src.title
            elif tag in new_publications:
                new_publications[tag]["republish"] = republish
                if src.title:
                    new_publications[tag]["name"] = src.title
        else:
            tag = _fresh_tag(tag_base(src.html_url or src.xml_url), taken, suffixes)
        if tag not in publications and tag not in new_publications:
            parts = urlsplit(src.xml_url)
            new_publications[tag] = {
                "tag": tag,
                "name": src.title or tag,
                "home_url": src.html_url or f"{parts.scheme}://{parts.netloc}/",
                "republish": republish,
            }
        taken.add(tag)
        new_feeds.append((tag, src.xml_url))
    rows = list(new_publications.values())
    for row_batch in _batches(rows):
        session.execute(insert(Publication), row_batch)
    created = list(new_publications)
    for tag_batch in _batches(created):
        query = select(Publication.id, Publication.tag).where(Publication.tag.in_(tag_batch))
        publications.update({tag: (pid, False) for pid, tag in session.execute(query)})
    if updates:
        session.execute(update(Publication), list(updates.values()))
    feed_rows = [{"publication_id": publications[tag][0], "url": url} for tag, url in new_feeds]
    for feed_batch in _batches(feed_rows):
        session.execute(insert(Feed), feed_batch)
    sync_channels(session, settings)
    return len(new_feeds), len(known)


def _batches(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), IMPORT_BATCH):
        yield values[start : start + IMPORT_BATCH]


def _fresh_tag(base: str, taken: set[str], suffixes: dict[str, int]) -> str:
    """`base`, or `base` with the next free numeric suffix (remembered, so N clashes cost N)."""
    if base not in taken:
        return base
    n = suffixes.get(base, 2)
    while f"{base}{n}" in taken:
        n += 1
    suffixes[base] = n + 1
    return f"{base}{n}"


def export_opml(session: Session) -> str:
    """All feeds as OPML 2.0 (publication tag and republish mode kept)."""
    rows = session.scalars(
        select(Feed)
        .join(Publication)
        .where(Publication.is_channel_own.is_(False))
        .order_by(Publication.tag)
    )
    return write_opml(
        [
            OpmlSource(
                xml_url=f.url,
                title=f.publication.name,
                html_url=f.publication.home_url,
                tag=f.publication.tag,
                republish=f.publication.republish,
            )
            for f in rows
        ]
    )


@dataclass(frozen=True)
class FeedHealth:
    """A feed with its publication and fetch health, for ``newsline publications list``."""

    tag: str
    name: str
    republish: str
    feed_url: str
    status: str
    last_status_code: int | None
    last_error: str | None
    consecutive_failures: int
    last_fetched_at: datetime | None
    next_fetch_at: datetime | None
    interval_seconds: int
    websub: str | None = None  # the feed's push subscription, one line (None: no hub)


def feed_health(session: Session) -> list[FeedHealth]:
    """Every feed with its publication and fetch state."""
    rows = session.execute(
        select(Publication, Feed)
        .join(Feed)
        .where(Publication.is_channel_own.is_(False))
        .order_by(Publication.tag, Feed.id)
    )
    pushed = websub.subscriptions_by_feed(session)
    return [
        FeedHealth(
            tag=p.tag,
            name=p.name,
            republish=p.republish,
            feed_url=f.url,
            status=f.status,
            last_status_code=f.last_status_code,
            last_error=f.last_error,
            consecutive_failures=f.consecutive_failures,
            last_fetched_at=f.last_fetched_at,
            next_fetch_at=f.next_fetch_at,
            interval_seconds=f.interval_seconds,
            websub=websub.describe_subscription(pushed[f.id]) if f.id in pushed else None,
        )
        for p, f in rows
    ]

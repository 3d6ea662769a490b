"""The enrichment stage: hashtags, summary, near-duplicates and story for every ready item.

Two parts: hashtags and summary depend on the item alone (:func:`tag_pending` writes them
and ``tagged_at``; in distributed mode several workers run it at once, each claiming its
items with ``FOR UPDATE SKIP LOCKED``), while near-duplicates and stories depend on the
order items are placed in (:func:`enrich_pending`: one stream, under the ``ingest`` lease in
distributed mode). :func:`enrich_pending` writes hashtags and summary itself for the items
not tagged yet, so it alone does the whole stage (the single-process runner).

Runs after extraction in every pass of the pipeline (:mod:`newsline.workers.pipeline`)
and from ``newsline enrich [--rebuild]``. Idempotent: it picks ready items whose ``enriched_at``
is NULL (every ready item with ``rebuild``), in publication order, and commits in
batches. At start the story and near-duplicate indexes are rebuilt from the items of the
last window (3 days before the oldest pending item), so an interrupted or repeated run
places items as one long run would. A long-lived process (``newsline serve``'s scheduler)
keeps the warm indexes between runs and reuses them while the story table is as the last
run left it (count, max id, max ``updated_at``); any other writer, a ``--rebuild`` or a
failed run makes the next run warm afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from newsline.config import ChannelSettings, Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Item, ItemHashtag, Newsline, Publication, Story, utcnow
from newsline.enrich.hashtags import ChannelClassifier, Example, hashtags_of
from newsline.enrich.stories import NearDuplicateIndex, StoryIndex
from newsline.enrich.summarize import Summarizer, summarizer_for
from newsline.errors import NewslineError
from newsline.text import hashtag_name

log = logging.getLogger(__name__)

BATCH = 200
#: Items one :func:`tag_pending` call claims by default (a distributed tagging unit).
TAG_BATCH = 20
STORY_WINDOW = timedelta(days=3)
#: Editor corrections used as training examples, newest first, per channel.
MAX_EXAMPLES = 2000


@dataclass
class EnrichReport:
    """What one enrichment run did."""

    enriched: int = 0
    hashtags: int = 0
    summaries: int = 0
    summaries_llm: int = 0
    summary_fallbacks: int = 0
    near_duplicates: int = 0
    stories_new: int = 0
    stories_merged: int = 0
    skipped_own: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Channel:
    id: int
    cfg: ChannelSettings
    classifier: ChannelClassifier


class RetagError(NewslineError):
    """An editor's hashtag correction cannot be applied (unknown item, channel or hashtag)."""


def item_text(item: Item) -> str:
    """The text enrichment works on: the extracted body, else the feed's teaser."""
    return item.body_text or item.teaser or ""


def _channel_rows(session: Session, settings: Settings) -> dict[str, Channel]:
    """The configured channels' rows (the pipeline syncs them once per pass; else here)."""
    slugs = [cfg.slug for cfg in settings.channels]
    rows = {c.slug: c for c in session.scalars(select(Channel).where(Channel.slug.in_(slugs)))}
    if len(rows) < len(slugs):
        rows = sync_channels(session, settings)
    return rows


def _load_channels(session: Session, settings: Settings) -> list[_Channel]:
    rows = _channel_rows(session, settings)
    channels = []
    for cfg in settings.channels:
        channel = rows[cfg.slug]
        query = (
            select(Item.title, Item.body_text, Item.teaser, ItemHashtag.hashtag, Item.sections)
            .join(Item, Item.id == ItemHashtag.item_id)
            .where(
                ItemHashtag.channel_id == channel.id,
                ItemHashtag.source == "editor",
                ItemHashtag.rank == 0,
            )
            .order_by(Item.id.desc())
            .limit(MAX_EXAMPLES)
        )
        examples = [
            Example(t or "", b or s or "", h, tuple(labels or ()))
            for t, b, s, h, labels in session.execute(query)
        ]
        classifier = ChannelClassifier(hashtags_of(cfg.hashtags), examples)
        channels.append(_Channel(channel.id, cfg, classifier))
    return channels


def _carriers(session: Session) -> dict[int, list[int]]:
    """publication id -> ids of the channels whose newsline carries it."""
    carriers: dict[int, list[int]] = {}
    for channel_id, pub_id in session.execute(select(Newsline.channel_id, Newsline.publication_id)):
        carriers.setdefault(pub_id, []).append(channel_id)
    return carriers


def _reset(session: Session) -> None:
    """--rebuild: forget stories and near-duplicate links; editor hashtags stay."""
    session.execute(update(Item).values(story_id=None, near_duplicate_of_id=None))
    session.execute(delete(Story))
    session.execute(delete(ItemHashtag).where(ItemHashtag.source == "auto"))
    session.flush()


@dataclass
class _Indexes:
    """The warm story and near-duplicate indexes, kept between runs in a long-lived process."""

    stories: StoryIndex
    copies: NearDuplicateIndex
    story_ids: dict[str, int] = field(default_factory=dict)
    #: the story table's state after the run that left them: (count, max id, max updated_at)
    marker: tuple[Any, ...] = ()


# database URL -> indexes; a run takes its entry out and puts it back when it succeeds, so a
# failed or concurrent run never sees half-updated indexes (it warms its own instead).
_WARM: dict[str, _Indexes] = {}
_WARM_LOCK = threading.Lock()


def _marker(session: Session) -> tuple[Any, ...]:
    """What another writer (process, --rebuild) would change: the story table's shape."""
    row = session.execute(
        select(func.count(Story.id), func.max(Story.id), func.max(Story.updated_at))
    ).one()
    return tuple(row)


def _checkout(session: Session, url: str, oldest: datetime) -> _Indexes | None:
    """The warm indexes of the previous run, when the database has not moved under them."""
    with _WARM_LOCK:
        cached = _WARM.pop(url, None)
    if cached is None or cached.marker != _marker(session):
        return None
    clock = cached.stories.clock
    if clock is not None and oldest < clock - STORY_WINDOW:
        return None  # a backfill older than the window the indexes hold: warm afresh
    return cached


def forget_warm_indexes() -> None:
    """Drop the indexes kept between runs (tests; after restoring a database)."""
    with _WARM_LOCK:
        _WARM.clear()


class _Tagger:
    """The per-item part of enrichment: hashtags and summary (no order, no shared index)."""

    def __init__(self, session: Session, settings: Settings, report: EnrichReport) -> None:
        self.session = session
        self.settings = settings
        self.report = report
        self.channels = _load_channels(session, settings)
        self.by_id = {c.id: c for c in self.channels}
        self.carriers = _carriers(session)
        self.own = set(session.scalars(select(Publication.id).where(Publication.is_channel_own)))
        self.summarizer: Summarizer = summarizer_for(settings)

    def tag(self, item: Item, text: str | None = None) -> None:
        """Write the item's hashtags and summary (own items get neither) and ``tagged_at``;
        `text` is the item's :func:`item_text` when the caller has it already."""
        if item.publication_id not in self.own:
            text = item_text(item) if text is None else text
            channels = [
                self.by_id[c] for c in self.carriers.get(item.publication_id, []) if c in self.by_id
            ]
            self._hashtags(item, text, channels)
            self._summary(item, text, channels)
        item.tagged_at = utcnow()

    def _hashtags(self, item: Item, text: str, channels: list[_Channel]) -> None:
        existing = self.session.scalars(select(ItemHashtag).where(ItemHashtag.item_id == item.id))
        by_channel: dict[int, list[ItemHashtag]] = {}
        for row in existing:
            by_channel.setdefault(row.channel_id, []).append(row)
        for channel in channels:
            rows = by_channel.get(channel.id, [])
            if any(r.source == "editor" for r in rows):
                continue  # an editor decided; never overwrite
            for r in rows:
                self.session.delete(r)
            if rows:
                self.session.flush()
            # The publication's own section labels (feed categories) are a signal too.
            tags = channel.classifier.classify(item.title, text, sections=item.sections or ())
            for rank, (tag, score) in enumerate(tags):
                self.session.add(
                    ItemHashtag(
                        item_id=item.id,
                        channel_id=channel.id,
                        hashtag=tag,
                        rank=rank,
                        score=float(score),
                        source="auto",
                    )
                )
                self.report.hashtags += 1

    def _summary(self, item: Item, text: str, channels: list[_Channel]) -> None:
        limits = [c.cfg.summary_max_chars for c in channels] or [
            self.settings.channels[0].summary_max_chars
        ]
        result = self.summarizer.summarize(item.title, text, min(limits))
        item.summary = result.text or None
        self.report.summaries += 1
        if result.method in ("openai", "cache"):
            self.report.summaries_llm += 1
        elif result.note:
            self.report.summary_fallbacks += 1


class _Run:
    """One enrichment run's state: indexes, channel models, counters."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        report: EnrichReport,
        indexes: _Indexes | None = None,
        *,
        retag: bool = False,
    ) -> None:
        self.session = session
        self.settings = settings
        self.report = report
        self.tagger = _Tagger(session, settings, report)
        self.own = self.tagger.own
        #: write hashtags and summary even for items tagged already (``--rebuild``)
        self.retag = retag
        if indexes is None:
            indexes = _Indexes(
                StoryIndex(window=STORY_WINDOW), NearDuplicateIndex(window=STORY_WINDOW)
            )
        self.indexes = indexes
        self.stories = indexes.stories
        self.copies = indexes.copies
        self.story_ids = indexes.story_ids
        self.touched: set[int] = set()

    # warm-up -------------------------------------------------------------------------
    def warm(self, since: datetime, pending_ids: Sequence[int]) -> None:
        """Rebuild the indexes from enriched items of the window before ``since``."""
        pending = set(pending_ids)
        query = (
            select(
                Item.id, Item.title, Item.body_text, Item.teaser, Item.sort_at, Story.id, Story.key
            )
            .join(Story, Story.id == Item.story_id)
            .where(Item.state == "ready", Item.sort_at >= since - STORY_WINDOW)
            .order_by(Item.sort_at, Item.id)
        )
        n = 0
        for item_id, title, body, teaser, sort_at, story_id, key in self.session.execute(query):
            if item_id in pending:
                continue
            text = body or teaser or ""
            self.stories.add(item_id, title, text, sort_at, story_key=key)
            self.copies.add(item_id, title, text, sort_at)
            self.story_ids[key] = story_id
            n += 1
        self.stories.drain_merges()
        log.debug("enrich: warmed indexes with %d items", n)

    # per item ------------------------------------------------------------------------
    def enrich(self, item: Item) -> None:
        now = utcnow()
        if item.publication_id in self.own:
            item.enriched_at = item.tagged_at = now  # digests and other own items: not news
            self.report.skipped_own += 1
            return
        text = item_text(item)
        if self.retag or item.tagged_at is None:
            self.tagger.tag(item, text)
        self._near_duplicate(item, text)
        self._story(item, text)
        item.enriched_at = now
        self.report.enriched += 1

    def _near_duplicate(self, item: Item, text: str) -> None:
        matches = self.copies.add(item.id, item.title, text, item.sort_at)
        item.near_duplicate_of_id = None
        if not matches:
            return
        other = self.session.get(Item, matches[0][0])
        if other is None:
            return
        primary = other
        if other.near_duplicate_of_id is not None:
            primary = self.session.get(Item, other.near_duplicate_of_id) or other
        mine = (len(item.body_text or ""), item.sort_at, item.id)
        theirs = (len(primary.body_text or ""), primary.sort_at, primary.id)
        self.report.near_duplicates += 1
        if mine > theirs:
            # The new copy is more complete (or as complete and newer): it becomes primary.
            self.session.execute(
                update(Item)
                .where(Item.near_duplicate_of_id == primary.id)
                .values(near_duplicate_of_id=item.id)
            )
            primary.near_duplicate_of_id = item.id
        else:
            item.near_duplicate_of_id = primary.id

    def _story(self, item: Item, text: str) -> None:
        forced: str | None = None
        copy_of = item.near_duplicate_of_id
        if copy_of is not None:
            primary = self.session.get(Item, copy_of)
            if primary is not None and primary.story_id is not None:
                story = self.session.get(Story, primary.story_id)
                if story is not None and story.key in self.stories.stories:
                    forced = story.key  # a copy belongs to its original's story
        key = self.stories.add(item.id, item.title, text, item.sort_at, story_key=forced)
        story_id = self.story_ids.get(key)
        if story_id is None:
            row = self.session.scalar(select(Story).where(Story.key == key))
            if row is None:
                row = Story(key=key, title=item.title, first_seen_at=item.sort_at)
                self.session.add(row)
                self.session.flush()
                self.report.stories_new += 1
            story_id = row.id
            self.story_ids[key] = story_id
        item.story_id = story_id
        self.touched.add(story_id)

    # per batch -----------------------------------------------------------------------
    def finish_batch(self) -> None:
        """Merge stories that grew alike, then refresh counts and titles of touched stories."""
        self.stories.consolidate()
        for gone, keep in self.stories.drain_merges().items():
            gone_id = self.story_ids.pop(gone, None)
            keep_id = self.story_ids.get(keep)
            if gone_id is None or keep_id is None:
                continue
            self.session.execute(
                update(Item).where(Item.story_id == gone_id).values(story_id=keep_id)
            )
            self.session.execute(delete(Story).where(Story.id == gone_id))
            self.touched.discard(gone_id)
            self.touched.add(keep_id)
            self.report.stories_merged += 1
        self.session.flush()
        self._refresh_stories(self.touched)
        self.touched = set()

    def _refresh_stories(self, story_ids: set[int]) -> None:
        if not story_ids:
            return
        key_of = {v: k for k, v in self.story_ids.items()}
        stats = self.session.execute(
            select(
                Item.story_id,
                func.count(Item.id),
                func.count(func.distinct(Item.publication_id)),
                func.min(Item.sort_at),
                func.max(Item.sort_at),
            )
            .where(Item.story_id.in_(story_ids))
            .group_by(Item.story_id)
        )
        now = utcnow()
        for story_id, count, sources, first, _last in stats:
            story = self.session.get(Story, story_id) if story_id is not None else None
            if story is None:
                continue
            story.item_count = int(count)
            story.publication_count = int(sources)
            story.first_seen_at = min(story.first_seen_at, first) if story.first_seen_at else first
            story.updated_at = now
            live = self.stories.stories.get(key_of.get(story.id, ""))
            if live is not None and live.best_title:
                story.title = live.best_title[:1000]


def enrich_pending(
    settings: Settings, *, rebuild: bool = False, limit: int | None = None
) -> EnrichReport:
    """Enrich ready items not yet enriched (all ready items with ``rebuild``)."""
    started = time.perf_counter()
    report = EnrichReport()
    url = settings.database_url
    with session_scope(url) as session:
        if rebuild:
            with _WARM_LOCK:
                _WARM.pop(url, None)
            _reset(session)
        query = select(Item.id).where(Item.state == "ready")
        if not rebuild:
            query = query.where(Item.enriched_at.is_(None))
        query = query.order_by(Item.sort_at, Item.id)
        if limit is not None:
            query = query.limit(limit)
        ids = list(session.scalars(query))
        if not ids:
            report.seconds = time.perf_counter() - started
            return report
        oldest = session.scalar(select(func.min(Item.sort_at)).where(Item.id.in_(ids[:1])))
        cached = None if rebuild or oldest is None else _checkout(session, url, oldest)
        run = _Run(session, settings, report, cached, retag=rebuild)
        if cached is None and oldest is not None:
            run.warm(oldest, ids)
        # Warm document frequencies with the texts about to be placed (as ``cluster`` does).
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            for title, body, teaser in session.execute(
                select(Item.title, Item.body_text, Item.teaser).where(Item.id.in_(chunk))
            ):
                run.stories.observe(title, body or teaser or "")
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            # Locked (PostgreSQL): a tagging unit writing some of these items is waited for,
            # and its tagged_at is seen, so no item gets its hashtags and summary twice.
            items = session.scalars(
                select(Item)
                .where(Item.id.in_(chunk))
                .order_by(Item.sort_at, Item.id)
                .with_for_update(of=Item)
                .execution_options(populate_existing=True)
            ).all()
            for item in items:
                run.enrich(item)
            run.finish_batch()
            session.commit()
        live = run.stories.stories
        run.indexes.story_ids = {k: v for k, v in run.story_ids.items() if k in live}
        run.indexes.marker = _marker(session)
        with _WARM_LOCK:
            _WARM[url] = run.indexes
    report.seconds = time.perf_counter() - started
    log.info(
        "enrich: %d items, %d hashtags, %d summaries (%d LLM, %d fallbacks), %d near-duplicates, "
        "%d new stories, %d merged, %.1fs",
        report.enriched,
        report.hashtags,
        report.summaries,
        report.summaries_llm,
        report.summary_fallbacks,
        report.near_duplicates,
        report.stories_new,
        report.stories_merged,
        report.seconds,
    )
    return report


def tag_pending(settings: Settings, *, limit: int = TAG_BATCH) -> EnrichReport:
    """Hashtags and summary of up to `limit` ready items not yet enriched nor tagged, oldest
    first. Callers running at once take different items: each claims its own with ``FOR
    UPDATE SKIP LOCKED`` (PostgreSQL) until it commits, and skips those another holds, so no
    item is tagged twice; one that dies mid-way leaves its items untagged, for the next
    caller or :func:`enrich_pending`. ``enriched`` counts the items tagged."""
    started = time.perf_counter()
    report = EnrichReport()
    with session_scope(settings.database_url) as session:
        items = session.scalars(
            select(Item)
            .where(Item.state == "ready", Item.enriched_at.is_(None), Item.tagged_at.is_(None))
            .order_by(Item.sort_at, Item.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Item)
        ).all()
        if items:
            tagger = _Tagger(session, settings, report)
            for item in items:
                tagger.tag(item)
                report.enriched += 1
    report.seconds = time.perf_counter() - started
    return report


def untagged(session: Session) -> int:
    """How many ready items wait for :func:`tag_pending`."""
    query = select(func.count(Item.id)).where(
        Item.state == "ready", Item.enriched_at.is_(None), Item.tagged_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def retag(settings: Settings, item_id: int, hashtag: str, channel: str | None = None) -> str:
    """An editor's correction: make ``hashtag`` the item's only hashtag on a channel.

    Returns the channel's slug. The row has ``source='editor'``: enrichment never
    overwrites it, and it becomes a training example for that channel.
    """
    tag = hashtag_name(hashtag)
    slug = channel or settings.web.default_channel
    cfg = settings.channel(slug)
    if cfg is None:
        raise RetagError(f"no channel {slug!r} in the config")
    if tag not in {h.tag for h in cfg.hashtags}:
        raise RetagError(
            f"#{tag} is not a hashtag of channel {slug!r} "
            f"(its hashtags: {', '.join('#' + h.tag for h in cfg.hashtags)})"
        )
    with session_scope(settings.database_url) as session:
        channel_row = _channel_rows(session, settings)[slug]
        item = session.get(Item, item_id)
        if item is None:
            raise RetagError(f"no item with id {item_id}")
        _apply_retag(session, item, channel_row, tag)
    return slug


def _apply_retag(session: Session, item: Item, channel: Channel, tag: str) -> None:
    session.execute(
        delete(ItemHashtag).where(
            ItemHashtag.item_id == item.id, ItemHashtag.channel_id == channel.id
        )
    )
    session.add(
        ItemHashtag(
            item_id=item.id, channel_id=channel.id, hashtag=tag, rank=0, score=1.0, source="editor"
        )
    )

"""The Digest: scheduled per channel, time-zone-correct, one per slot, stored as an item.

A *slot* is an instant at which the channel's wall clock (in its own time zone) shows a
scheduled minute (default every :00 and :30). :func:`run_digest` composes the digest for
the slot containing ``at`` from the items that arrived since the previous digest (at most
``max_window_hours``), and stores it as an item of the channel's own publication plus a
``digest`` row. The database's unique key on ``(digest.channel_id, digest.slot_at)`` makes
"exactly one per channel and slot" hold even when processes race; a slot whose window has
nothing new publishes nothing. Items of the window still waiting for extraction when the
digest is composed are remembered on it and taken by the next digest once ready, so a
slow page never falls between two windows. :func:`publish_due` (run by every pass of the
pipeline) only ever runs the *current* slot, so after an outage the missed slots are
caught up once, by one digest whose window reaches back to the previous digest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsline.config import ChannelSettings, Settings
from newsline.db.channels import channel_row, channel_settings, effective_settings
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Digest, Item, ItemHashtag, Newsline, Publication, Story
from newsline.enrich.summarize import summarize, summarizer_for
from newsline.errors import NewslineError
from newsline.publish.digest_compose import (
    Composition,
    Entry,
    Memory,
    SponsorBlock,
    WindowItem,
    compose,
    entry_from_json,
    extractive_overview,
    line_entry,
    render_html,
    render_text,
)
from newsline.text import truncate_words
from newsline.urls import Urls

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "*/30"
#: At most this many still-pending items are carried over to the next digest.
MAX_PENDING_CARRIED = 5000
#: How far back a slot search walks (a schedule with an hour field can leave long gaps).
_MAX_SLOT_SEARCH = timedelta(days=8)


class DigestError(NewslineError):
    """A digest cannot be run (unknown channel, bad schedule, ...)."""


# --- schedule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Cron-like: the minutes (and optionally hours) of the channel's wall clock."""

    minutes: frozenset[int]
    hours: frozenset[int] = frozenset(range(24))

    def matches(self, local: datetime) -> bool:
        """Whether this local wall-clock time is a slot."""
        return local.minute in self.minutes and local.hour in self.hours


def _cron_field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError("step must be positive")
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(part)
            end = high if step > 1 else start
        if not (low <= start <= end <= high):
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_schedule(spec: str) -> Schedule:
    """Parse ``"*/30"``, ``"0,30"``, ``"15"`` or ``"0 6-22"`` (minute field, optional hour field)."""
    fields = spec.split()
    if not 1 <= len(fields) <= 2:
        raise DigestError(f"digest schedule {spec!r}: expected 'MINUTES' or 'MINUTES HOURS'")
    try:
        minutes = _cron_field(fields[0], 0, 59)
        hours = _cron_field(fields[1], 0, 23) if len(fields) == 2 else frozenset(range(24))
    except ValueError as exc:
        raise DigestError(f"digest schedule {spec!r}: {exc}") from exc
    if not minutes or not hours:
        raise DigestError(f"digest schedule {spec!r} has no slots")
    return Schedule(minutes, hours)


def _as_utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise DigestError("a naive datetime was given; use an aware one (e.g. ...+00:00)")
    return at.astimezone(UTC)


def slot_containing(
    at: datetime, tz: str | ZoneInfo, schedule: Schedule | str = DEFAULT_SCHEDULE
) -> datetime:
    """The latest slot at or before `at`, as an aware UTC datetime.

    Walks back minute by minute in UTC and asks the zone what its wall clock shows, so a
    repeated hour (fall back) yields two distinct slots and a skipped hour yields none,
    whatever the zone's offsets are.
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    sched = parse_schedule(schedule) if isinstance(schedule, str) else schedule
    t = _as_utc(at).replace(second=0, microsecond=0)
    stop = t - _MAX_SLOT_SEARCH
    while t > stop:
        if sched.matches(t.astimezone(zone)):
            return t
        t -= timedelta(minutes=1)
    raise DigestError("no digest slot in the last 8 days: check the schedule")


def next_slot(
    after: datetime, tz: str | ZoneInfo, schedule: Schedule | str = DEFAULT_SCHEDULE
) -> datetime:
    """The first slot strictly after `after` (UTC)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    sched = parse_schedule(schedule) if isinstance(schedule, str) else schedule
    t = _as_utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
    stop = t + _MAX_SLOT_SEARCH
    while t < stop:
        if sched.matches(t.astimezone(zone)):
            return t
        t += timedelta(minutes=1)
    raise DigestError("no digest slot in the next 8 days: check the schedule")


def label_for_slot(slot: datetime, tz: str | ZoneInfo) -> tuple[str, str]:
    """Title and slug for a slot instant: ``The Digest, 7/25/2025 @1030AM, CDT``."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = _as_utc(slot).astimezone(zone)
    hour12 = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    abbreviation = local.tzname() or "UTC"
    title = (
        f"The Digest, {local.month}/{local.day}/{local.year} "
        f"@{hour12}{local.minute:02d}{meridiem}, {abbreviation}"
    )
    slug = slugify_label(title)
    if _ambiguous_month_day(local.month, local.day, local.year):
        # "1/12" and "11/2" both squeeze to "112": keep the slash as a hyphen on such dates,
        # else two digests of one year would want the same page.
        plain = f"-{local.month}{local.day}{local.year}-"
        slug = slug.replace(plain, f"-{local.month}-{local.day}-{local.year}-", 1)
    return title, slug


def _ambiguous_month_day(month: int, day: int, year: int) -> bool:
    """Whether the digits of month and day, run together, also read as another date."""
    digits = f"{month}{day}"
    readings = 0
    for cut in range(1, len(digits)):
        m, d = digits[:cut], digits[cut:]
        if d.startswith("0"):
            continue
        try:
            date(year, int(m), int(d))
        except ValueError:
            continue
        readings += 1
    return readings > 1


def slugify_label(title: str) -> str:
    """``The Digest, 7/25/2025 @1030AM, CDT`` -> ``the-digest-7252025-1030am-cdt``."""
    kept = re.sub(r"[^a-z0-9\s]", "", title.lower())
    return re.sub(r"\s+", "-", kept.strip())


def digest_label(at: datetime, tz: str, schedule: str = DEFAULT_SCHEDULE) -> tuple[str, str]:
    """(title, slug) of the digest for the slot containing `at` in zone `tz`.

    The slug runs month, day and year together (``7252025``) except on the few dates
    where that reads as two dates (1/12 and 11/2 both give ``112``): those keep hyphens,
    ``the-digest-11-2-2025-1000am-cst``, so every slot of a channel has its own page.

    >>> from datetime import datetime, UTC
    >>> digest_label(datetime(2025, 7, 25, 15, 42, tzinfo=UTC), "America/Chicago")
    ('The Digest, 7/25/2025 @1030AM, CDT', 'the-digest-7252025-1030am-cdt')
    """
    return label_for_slot(slot_containing(at, tz, schedule), tz)


# --- composing ----------------------------------------------------------------------------


@dataclass
class ComposedDigest:
    """A digest ready to store (or to show, in a dry run)."""

    channel: str
    channel_id: int
    own_publication_id: int
    slot_at: datetime
    window_start: datetime
    title: str
    slug: str
    url: str
    overview: str
    composition: Composition
    body_html: str
    body_text: str
    pending_ids: list[int] = field(default_factory=list)  # carried to the next digest

    @property
    def entries(self) -> list[Entry]:
        """The entries in display order."""
        return self.composition.entries


DigestStatus = Literal["published", "exists", "empty", "dry-run"]


@dataclass
class DigestResult:
    """What :func:`run_digest` did."""

    channel: str
    slot_at: datetime
    title: str
    slug: str
    status: DigestStatus
    window_start: datetime | None = None
    digest_id: int | None = None
    item_id: int | None = None
    entries: int = 0
    considered: int = 0
    remembered: int = 0
    url: str = ""
    composed: ComposedDigest | None = field(default=None, repr=False)

    @classmethod
    def of(cls, composed: ComposedDigest, status: DigestStatus) -> DigestResult:
        """The result describing a composed digest."""
        return cls(
            channel=composed.channel,
            slot_at=composed.slot_at,
            title=composed.title,
            slug=composed.slug,
            status=status,
            window_start=composed.window_start,
            entries=len(composed.entries),
            considered=composed.composition.considered,
            remembered=composed.composition.remembered,
            url=composed.url,
            composed=composed,
        )


def digest_url(settings: Settings, cfg: ChannelSettings, slug: str) -> str:
    """The digest's page: an item page of the channel's own publication."""
    urls = Urls(settings.web.base_url)
    return urls.absolute(urls.digest(cfg.slug, cfg.own_tag, slug))


def window_start_for(session: Session, channel_id: int, slot: datetime, max_hours: int) -> datetime:
    """Since the previous digest before `slot`, but at most `max_hours` back."""
    earliest = slot - timedelta(hours=max_hours)
    previous = session.scalar(
        select(func.max(Digest.slot_at)).where(
            Digest.channel_id == channel_id, Digest.slot_at < slot
        )
    )
    return max(previous, earliest) if previous is not None else earliest


def late_item_ids(session: Session, channel_id: int, slot: datetime) -> list[int]:
    """Items the previous digest saw still pending (not yet extracted): due now if ready."""
    previous = session.execute(
        select(Item.extra)
        .join(Digest, Digest.item_id == Item.id)
        .where(Digest.channel_id == channel_id, Digest.slot_at < slot)
        .order_by(Digest.slot_at.desc())
        .limit(1)
    ).scalar()
    pending = (previous or {}).get("pending") or []
    return [int(i) for i in pending]


def pending_item_ids(
    session: Session, channel: Channel, window_start: datetime, window_end: datetime
) -> list[int]:
    """Items of the window still waiting for extraction (the next digest takes them late)."""
    return list(
        session.scalars(
            select(Item.id)
            .join(
                Newsline,
                and_(
                    Newsline.publication_id == Item.publication_id,
                    Newsline.channel_id == channel.id,
                ),
            )
            .where(
                Item.state == "pending",
                Item.first_seen_at >= window_start,
                Item.first_seen_at < window_end,
                Item.publication_id != channel.own_publication_id,
            )
            .order_by(Item.id)
            .limit(MAX_PENDING_CARRIED)
        )
    )


def load_candidates(
    session: Session,
    channel: Channel,
    window_start: datetime,
    window_end: datetime,
    late_ids: Sequence[int] = (),
) -> list[WindowItem]:
    """Ready items of the channel's newsline first seen in [start, end), plus `late_ids`
    (pending at the previous digest, ready now); the channel's own publication excluded."""
    primary = and_(
        ItemHashtag.item_id == Item.id,
        ItemHashtag.channel_id == channel.id,
        ItemHashtag.rank == 0,
    )
    query = (
        select(
            Item.id,
            Item.publication_id,
            Publication.name,
            Item.title,
            func.coalesce(Item.canonical_url, Item.url),
            Item.sort_at,
            Item.image_url,
            Item.summary,
            Item.teaser,
            func.length(Item.body_text),
            Item.near_duplicate_of_id,
            Item.story_id,
            Story.publication_count,
            ItemHashtag.hashtag,
        )
        .join(Publication, Publication.id == Item.publication_id)
        .join(
            Newsline,
            and_(Newsline.publication_id == Item.publication_id, Newsline.channel_id == channel.id),
        )
        .outerjoin(Story, Story.id == Item.story_id)
        .outerjoin(ItemHashtag, primary)
        .where(
            Item.state == "ready",
            or_(
                and_(Item.first_seen_at >= window_start, Item.first_seen_at < window_end),
                Item.id.in_(list(late_ids)),
                Item.digest_choice == "include",  # an editor's pick, whatever its window
            ),
            or_(Item.digest_choice.is_(None), Item.digest_choice != "exclude"),
            Item.publication_id != channel.own_publication_id,
            Publication.is_channel_own.is_(False),
        )
        .order_by(Item.id)
    )
    out: list[WindowItem] = []
    last_id = None
    for row in session.execute(query):
        if row[0] == last_id:
            continue  # two rank-0 hashtags: keep the first
        last_id = row[0]
        out.append(
            WindowItem(
                id=row[0],
                publication_id=row[1],
                publication=row[2],
                title=row[3] or "",
                url=row[4],
                sort_at=row[5],
                image_url=row[6],
                summary=row[7],
                teaser=row[8] or "",
                text_length=row[9] or 0,
                near_duplicate_of_id=row[10],
                story_id=row[11],
                story_sources=row[12] or 0,
                hashtag=row[13],
            )
        )
    return out


def load_memory(session: Session, channel_id: int, slot: datetime, hours: int) -> Memory:
    """What the channel's digests of the last `hours` before `slot` showed."""
    memory = Memory()
    rows = session.scalars(
        select(Digest.entries).where(
            Digest.channel_id == channel_id,
            Digest.slot_at < slot,
            Digest.slot_at >= slot - timedelta(hours=hours),
        )
    )
    for entries in rows:
        for entry in entries or []:
            memory.remember(entry)
    return memory


def _fill_summaries(
    session: Session, settings: Settings, cfg: ChannelSettings, entries: list[Entry]
) -> None:
    """Entries without a summary get one from the enrichment summarizer (or the text's start)."""
    missing = [e for e in entries if not e.summary.strip()]
    if not missing:
        return
    texts = dict(
        session.execute(
            select(Item.id, Item.body_text).where(Item.id.in_([e.item_id for e in missing]))
        ).all()
    )
    for e in missing:
        text = texts.get(e.item_id) or ""
        e.summary = summarize(e.title, text, cfg.summary_max_chars) if text else ""


def make_overview(settings: Settings, cfg: ChannelSettings, entries: list[Entry]) -> str:
    """The overview (<= 1,000 chars): a short brief, one line per top story in section
    order (:func:`extractive_overview`); with the LLM backend configured, its overview of
    the same entries instead, when that passes the grounding check and fits."""
    limit = min(cfg.digest.overview_max_chars, 1000)
    brief = extractive_overview(entries, limit)
    if settings.summarize.backend != "openai":
        return brief
    texts = [e.summary or e.title for e in entries]
    titles = [e.title for e in entries]
    overview = summarizer_for(settings).overview(texts, max_chars=limit, titles=titles)
    text = " ".join(overview.text.split())
    if overview.method == "extractive" or not text or len(text) > limit:
        return brief  # the backend failed or was not grounded: never the lead pile-up
    return text


def sponsor_block(cfg: ChannelSettings) -> SponsorBlock | None:
    """The #sponsor section, when enabled: the longest text variant."""
    if not cfg.digest.sponsor_section:
        return None
    variants = [v for v in cfg.sponsor.variants if v.strip()]
    text = variants[-1] if variants else cfg.sponsor.name
    return SponsorBlock(name=cfg.sponsor.name, url=_sponsor_url(cfg), text=text)


def _sponsor_url(cfg: ChannelSettings) -> str:
    sep = "&" if "?" in cfg.sponsor.url else "?"
    return f"{cfg.sponsor.url}{sep}utm_source=newsline&utm_medium=digest&utm_content={cfg.slug}"


def compose_digest(
    session: Session, settings: Settings, cfg: ChannelSettings, slot: datetime
) -> ComposedDigest:
    """Compose the digest of `slot` (a slot instant, UTC); no entries when nothing is new."""
    channel = channel_row(session, settings, cfg.slug)
    assert channel.own_publication_id is not None  # channel_row guarantees it
    window_start = window_start_for(session, channel.id, slot, cfg.digest.max_window_hours)
    late = late_item_ids(session, channel.id, slot)
    candidates = load_candidates(session, channel, window_start, slot, late)
    pending = pending_item_ids(session, channel, window_start, slot)
    if late:  # still not extracted: keep carrying them (one more slot each time)
        pending += session.scalars(
            select(Item.id).where(Item.id.in_(late), Item.state == "pending")
        ).all()
    memory = load_memory(session, channel.id, slot, cfg.digest.memory_hours)
    composition = compose(
        candidates,
        [h.tag for h in cfg.hashtags],
        memory,
        per_group=cfg.digest.max_entries_per_group,
        total=cfg.digest.max_entries,
    )
    title, slug = label_for_slot(slot, cfg.zone)
    if not composition.groups:
        log.info(
            "%s %s: nothing new (%d items in window, %d already shown)",
            cfg.slug,
            title,
            len(candidates),
            composition.remembered,
        )
    entries = composition.entries
    _fill_summaries(session, settings, cfg, entries)
    overview = make_overview(settings, cfg, entries) if entries else ""
    sponsor = sponsor_block(cfg) if entries else None
    return ComposedDigest(
        channel=cfg.slug,
        channel_id=channel.id,
        own_publication_id=channel.own_publication_id,
        slot_at=slot,
        window_start=window_start,
        title=title,
        slug=slug,
        url=digest_url(settings, cfg, slug),
        overview=overview,
        composition=composition,
        # The overview is the item's summary (the page's summary box), so not repeated here.
        body_html=render_html("", composition.groups, sponsor),
        body_text=render_text(title, overview, composition.groups, sponsor),
        pending_ids=pending,
    )


def store_digest(settings: Settings, composed: ComposedDigest) -> DigestResult:
    """Store the digest item and row in one transaction; a lost race reports ``exists``."""
    if not composed.entries:
        raise DigestError(f"{composed.title}: an empty digest is never stored")
    result = DigestResult.of(composed, "published")
    first = composed.entries[0] if composed.entries else None
    try:
        with session_scope(settings.database_url) as session:
            item = Item(
                publication_id=composed.own_publication_id,
                guid=composed.slug,
                url=composed.url,
                state="ready",
                content_source="digest",
                title=composed.title,
                published_at=composed.slot_at,
                first_seen_at=composed.slot_at,
                sort_at=composed.slot_at,
                image_url=first.image_url if first else None,
                teaser=truncate_words(composed.overview, 280),
                summary=composed.overview,
                body_html=composed.body_html,
                body_text=composed.body_text,
                language="en",
                slug=composed.slug,
                enriched_at=composed.slot_at,
                extra={
                    "digest": True,
                    "slot_at": composed.slot_at.isoformat(),
                    "pending": composed.pending_ids,
                },
            )
            session.add(item)
            session.flush()
            digest = Digest(
                channel_id=composed.channel_id,
                slot_at=composed.slot_at,
                window_start=composed.window_start,
                item_id=item.id,
                entries=[e.to_json() for e in composed.entries],
            )
            session.add(digest)
            session.flush()
            result.digest_id, result.item_id = digest.id, item.id
            # Editors' picks carried now are done; those left out wait for the next one.
            carried = [i for e in composed.entries for i in e.item_ids]
            session.execute(
                update(Item)
                .where(Item.id.in_(carried), Item.digest_choice == "include")
                .values(digest_choice=None)
            )
    except IntegrityError:
        with session_scope(settings.database_url) as session:
            existing = session.scalar(
                select(Digest).where(
                    Digest.channel_id == composed.channel_id, Digest.slot_at == composed.slot_at
                )
            )
            if existing is None:
                raise  # a different conflict (e.g. a foreign item took the URL): surface it
            result.status = "exists"
            result.digest_id, result.item_id = existing.id, existing.item_id
            log.info("%s %s: another process published it first", composed.channel, composed.title)
    return result


def run_digest(
    settings: Settings,
    channel_slug: str,
    at: datetime | None = None,
    dry_run: bool = False,
) -> DigestResult:
    """Compose and publish the digest of the slot containing `at` (default: now). Idempotent."""
    # The channel as the console set it (schedule, time zone, sponsor win over the file's).
    cfg = channel_settings(effective_settings(settings), channel_slug)
    slot = slot_containing(at or datetime.now(UTC), cfg.zone, cfg.digest.schedule)
    title, slug = label_for_slot(slot, cfg.zone)
    with session_scope(settings.database_url) as session:
        channel = channel_row(session, settings, cfg.slug)
        existing = session.scalar(
            select(Digest).where(Digest.channel_id == channel.id, Digest.slot_at == slot)
        )
        if existing is not None:
            return DigestResult(
                channel=cfg.slug,
                slot_at=slot,
                title=title,
                slug=slug,
                status="exists",
                window_start=existing.window_start,
                digest_id=existing.id,
                item_id=existing.item_id,
                entries=len(existing.entries or []),
                url=digest_url(settings, cfg, slug),
            )
        composed = compose_digest(session, settings, cfg, slot)
    if not composed.entries:
        return DigestResult(
            channel=cfg.slug,
            slot_at=slot,
            title=title,
            slug=slug,
            status="empty",
            window_start=composed.window_start,
            considered=composed.composition.considered,
            remembered=composed.composition.remembered,
            url=composed.url,
        )
    if dry_run:
        return DigestResult.of(composed, "dry-run")
    result = store_digest(settings, composed)
    if result.status == "published":
        log.info("%s: published %r with %d entries", cfg.slug, title, result.entries)
    return result


#: An item's state once an editor withdrew it: shown nowhere, its page answers 410, and the
#: digests already published (their pages, feeds and e-mail editions) leave it out.
UNPUBLISHED = "unpublished"


def unpublished_among(conn: Connection | Session, item_ids: Iterable[int]) -> dict[int, str]:
    """Which of `item_ids` editors unpublished: their URLs by id."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(Item.id, Item.url).where(Item.id.in_(ids), Item.state == UNPUBLISHED)
    )
    return {item_id: url for item_id, url in rows}


def without_unpublished(conn: Connection | Session, entries: list[Entry]) -> list[Entry]:
    """A published Digest's entries without what editors unpublished since: an entry whose
    lead item is withdrawn goes whole (its headline, thumbnail and summary are that item's),
    an "also" link to a withdrawn item goes. The e-mail editions' counterpart of
    :func:`newsline.publish.editorial.without_withdrawn` (the Digest's page and feeds)."""
    gone = unpublished_among(conn, (i for e in entries for i in (e.item_id, *e.item_ids)))
    if not gone:
        return entries
    urls = set(gone.values())
    kept = []
    for entry in entries:
        if entry.item_id in gone or entry.url in urls:
            continue
        entry.also = [link for link in entry.also if link.url not in urls]
        kept.append(entry)
    return kept


def current_overview(conn: Connection | Session, digest_item_id: int, overview: str | None) -> str:
    """A published Digest's overview as shown now (:func:`shown_overview`)."""
    return shown_overview(conn, digest_item_id, overview)[0]


def shown_overview(
    conn: Connection | Session, digest_item_id: int, overview: str | None
) -> tuple[str, list[Entry]]:
    """A published Digest's overview as shown now, and the entries still shown.

    An automatic overview follows its entries, so the lines of entries whose item editors
    unpublished since go; one an editor wrote stays as written. The stored text is
    unchanged, so republishing brings the lines back. An automatic overview is one line per
    entry, each opening with the entry's headline (:func:`overview_lines`); one that is not
    (the LLM backend's prose) is written again extractively from the entries left, grounded
    by construction. The entries let a renderer link each line (:func:`overview_html`).
    """
    text = overview or ""
    if not text:
        return text, []
    found = conn.execute(
        select(Digest.entries, Item.original_summary)
        .join(Item, Item.id == Digest.item_id)
        .where(Digest.item_id == digest_item_id)
    ).first()
    if found is None:
        return text, []
    stored, original = found
    entries = [entry_from_json(e) for e in stored or []]
    kept = without_unpublished(conn, list(entries))
    if editor_wrote(text, original):
        return text, kept  # an editor's words: theirs to rewrite
    if len(kept) == len(entries):
        return text, kept
    gone = [e for e in entries if not any(e is k for k in kept)]
    lines = [line for line in text.split("\n") if line.strip()]
    if all(line_entry(line, entries) is not None for line in lines):
        return "\n".join(line for line in lines if line_entry(line, gone) is None), kept
    return extractive_overview(kept, min(len(text), 1000)), kept


def editor_wrote(overview: str, original: str | None) -> bool:
    """Whether a Digest's overview is an editor's: an edit kept the original, and the
    overview differs from it (a title-only edit leaves the overview automatic)."""
    return original is not None and overview != original


def refresh_teasers(session: Session, item_id: int) -> int:
    """After item `item_id` is unpublished or republished: the stored teaser of each Digest
    listing it (the overview's first words, shown on lists and in the API) is made again
    from the overview as shown now (:func:`current_overview`), so it drops or regains that
    entry's line. An overview an editor wrote keeps its teaser. Returns how many changed."""
    item = session.get(Item, item_id)
    if item is None:
        return 0
    since = item.first_seen_at - timedelta(days=1)  # only later Digests can list it
    changed = 0
    for digest in session.scalars(
        select(Digest).where(Digest.slot_at >= since, Digest.item_id.is_not(None))
    ):
        ids = {i for e in digest.entries or [] for i in (e.get("item_id"), *e.get("item_ids", []))}
        if item_id not in ids or digest.item_id is None:
            continue
        page = session.get(Item, digest.item_id)
        if page is None or editor_wrote(page.summary or "", page.original_summary):
            continue
        teaser = truncate_words(current_overview(session, page.id, page.summary), 280)
        if teaser != (page.teaser or ""):
            page.teaser = teaser
            changed += 1
    return changed


def due_slot(cfg: ChannelSettings, now: datetime) -> datetime | None:
    """The slot a tick at `now` should run: the current one, once it has settled."""
    slot = slot_containing(now, cfg.zone, cfg.digest.schedule)
    if now - slot < timedelta(seconds=cfg.digest.settle_seconds):
        return None
    return slot


def due_slots(settings: Settings, now: datetime) -> list[tuple[str, datetime]]:
    """Each channel's slot due at `now` as (channel, slot), by the console's schedules: what
    :func:`publish_due` runs and distributed mode's scheduler enqueues."""
    found = []
    for cfg in effective_settings(settings).channels:
        slot = due_slot(cfg, now)
        if slot is not None:
            found.append((cfg.slug, slot))
    return found


def publish_due(settings: Settings, now: datetime | None = None) -> list[DigestResult]:
    """Run each channel's current slot once it has settled; the results of those run.

    Only the current slot is ever run, so a long outage is caught up by exactly one digest.
    A failure in one channel is logged and does not stop the others.
    """
    now = now or datetime.now(UTC)
    results: list[DigestResult] = []
    for slug, slot in due_slots(settings, now):
        try:
            results.append(run_digest(settings, slug, at=slot))
        except Exception:  # one channel's failure must not stop the others
            log.exception("digest for channel %s failed", slug)
    return results

"""The editor's desk: every editorial and operator action, one function each, audited.

The console (``/admin``) and the CLI (``newsline items unpublish`` …) both call these, so
both write the same audit entries (:mod:`newsline.community.audit`), in the same
transaction as the change: an action and its entry commit or roll back together.

How each choice is kept, and so how every reader-facing query honours it:

- **Unpublished** is an item state: ``ready`` -> ``unpublished`` -> ``ready``. Every page,
  list, story, feed, sitemap, API answer, search and digest lists ``ready`` items only, so
  an unpublished item is gone from all of them at once; its page answers 410
  (:func:`withdrawn`). Ingest never touches an item it already knows (``store.py`` skips
  known entries and finishes ``pending`` items only), so a feed showing the item again
  does not bring it back.
- **Digest choice**: ``include`` (the next Digest takes it whatever its window; cleared
  once a Digest has carried it) or ``exclude`` (no Digest ever takes it).
- **Pin**: ``pinned_until``; the front page leads with the newest pinned item until then.
- **Edited title / summary**: the shown ``title`` / ``summary`` are rewritten and the
  originals kept in ``original_title`` / ``original_summary`` (:func:`revert_edit`).
- **Paused publication**: ``paused_at``; its feeds are not fetched. **Removed**: its feeds
  are gone (nothing more is fetched) and its items are kept listed, or hidden
  (unpublished, each one restorable); a publication is deleted outright only when it has
  no item at all.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import lxml.html
from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from newsline.community.audit import Actor, record
from newsline.config import ChannelSettings, Settings
from newsline.db.channels import channel_row, channel_settings, effective_settings
from newsline.db.engine import session_scope
from newsline.db.models import (
    Channel,
    Digest,
    Feed,
    Item,
    ItemHashtag,
    Newsline,
    Publication,
    SponsorStat,
    Subscriber,
    utcnow,
)
from newsline.errors import NewslineError
from newsline.ingest import websub
from newsline.publish.digest import (
    UNPUBLISHED,
    DigestResult,
    refresh_teasers,
    run_digest,
    slot_containing,
    unpublished_among,
)
from newsline.publish.mailer import MailError, digest_edition, digest_message, smtp_session
from newsline.text import hashtag_name

DIGEST_CHOICES = ("include", "exclude")
#: The longest pin: a week.
MAX_PIN_HOURS = 24 * 7
MAX_TITLE = 1000
MAX_SUMMARY = 5000


class EditorialError(NewslineError):
    """An editorial action that cannot be done; ``str()`` says why, in one line."""


# --- items ---------------------------------------------------------------------------------


def item_of(session: Session, item_id: int) -> Item:
    """The item, or :class:`EditorialError`."""
    item = session.get(Item, item_id)
    if item is None:
        raise EditorialError(f"no item with id {item_id}")
    return item


def _channel_of(session: Session, item: Item) -> int | None:
    """A channel the item is shown on, for the audit entry (its publication's first)."""
    return session.scalar(
        select(Newsline.channel_id)
        .where(Newsline.publication_id == item.publication_id)
        .order_by(Newsline.channel_id)
        .limit(1)
    )


def _audit_item(
    session: Session,
    actor: Actor,
    action: str,
    item: Item,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    record(
        session,
        actor,
        action,
        "item",
        item.id,
        channel_id=_channel_of(session, item),
        reason=reason.strip(),
        detail={"title": item.title[:200], **(detail or {})},
    )


def unpublish(session: Session, actor: Actor, item_id: int, reason: str = "") -> Item:
    """Withdraw a ready item from every page, list, feed, sitemap, API answer and search."""
    item = item_of(session, item_id)
    if item.state == UNPUBLISHED:
        raise EditorialError(f"item {item_id} is unpublished already")
    if item.state != "ready":
        raise EditorialError(
            f"item {item_id} is {item.state}, not ready: only a published item can be unpublished"
        )
    item.state = UNPUBLISHED
    item.pinned_until = None
    refresh_teasers(session, item.id)  # past Digests' teasers drop its overview line
    _audit_item(session, actor, "item.unpublish", item, reason)
    return item


def republish(session: Session, actor: Actor, item_id: int, reason: str = "") -> Item:
    """Put an unpublished item back where it was (``ready``)."""
    item = item_of(session, item_id)
    if item.state != UNPUBLISHED:
        raise EditorialError(f"item {item_id} is {item.state}, not unpublished")
    item.state = "ready"
    refresh_teasers(session, item.id)
    _audit_item(session, actor, "item.republish", item, reason)
    return item


def set_digest_choice(
    session: Session,
    actor: Actor,
    item_id: int,
    choice: Literal["include", "exclude"] | None,
    reason: str = "",
) -> Item:
    """``include``: the next Digest takes the item; ``exclude``: no Digest does; None: undo."""
    if choice is not None and choice not in DIGEST_CHOICES:
        raise EditorialError(f"digest choice must be include or exclude, not {choice!r}")
    item = item_of(session, item_id)
    if choice == "include" and item.state not in ("ready", "pending"):
        raise EditorialError(f"item {item_id} is {item.state}: it cannot go in a Digest")
    previous = item.digest_choice
    item.digest_choice = choice
    action = {"include": "item.include_next", "exclude": "item.exclude_digest"}.get(
        choice or "", "item.digest_default"
    )
    _audit_item(session, actor, action, item, reason, {"before": previous})
    return item


def pin(
    session: Session,
    actor: Actor,
    item_id: int,
    hours: float,
    reason: str = "",
    now: datetime | None = None,
) -> Item:
    """Lead the front page with this item for `hours` (0 unpins)."""
    if not 0 <= hours <= MAX_PIN_HOURS:
        raise EditorialError(f"--hours must be between 0 and {MAX_PIN_HOURS}, not {hours:g}")
    item = item_of(session, item_id)
    if hours and item.state != "ready":
        raise EditorialError(f"item {item_id} is {item.state}: only a published item can be pinned")
    now = now or utcnow()
    item.pinned_until = now + timedelta(hours=hours) if hours else None
    action = "item.pin" if hours else "item.unpin"
    until = item.pinned_until.isoformat(timespec="minutes") if item.pinned_until else None
    _audit_item(session, actor, action, item, reason, {"hours": hours, "until": until})
    return item


def pinned(session: Session, channel_id: int, now: datetime | None = None) -> list[Item]:
    """The channel's pinned items still pinned, newest pin first."""
    now = now or utcnow()
    members = select(Newsline.publication_id).where(Newsline.channel_id == channel_id)
    return list(
        session.scalars(
            select(Item)
            .where(
                Item.pinned_until > now,
                Item.state == "ready",
                Item.duplicate_of_id.is_(None),
                Item.publication_id.in_(members),
            )
            .order_by(Item.pinned_until.desc(), Item.id.desc())
        )
    )


def edit(
    session: Session,
    actor: Actor,
    item_id: int,
    *,
    title: str | None = None,
    summary: str | None = None,
    reason: str = "",
) -> Item:
    """Rewrite the shown title and/or summary; the first originals are kept."""
    item = item_of(session, item_id)
    changes: dict[str, Any] = {}
    if title is not None:
        new_title = " ".join(title.split())
        if not new_title:
            raise EditorialError("the title cannot be empty")
        if len(new_title) > MAX_TITLE:
            raise EditorialError(f"the title is longer than {MAX_TITLE} characters")
        if new_title != item.title:
            if item.original_title is None:
                item.original_title = item.title
            changes["title"] = {"from": item.title[:300], "to": new_title[:300]}
            item.title = new_title
    if summary is not None:
        new_summary = summary.strip().replace("\r\n", "\n")
        if len(new_summary) > MAX_SUMMARY:
            raise EditorialError(f"the summary is longer than {MAX_SUMMARY} characters")
        if new_summary != (item.summary or ""):
            if item.original_summary is None:  # the first summary edit keeps the original
                item.original_summary = item.summary or ""
            changes["summary"] = {"from": (item.summary or "")[:300], "to": new_summary[:300]}
            item.summary = new_summary or None
    if not changes:
        raise EditorialError(f"item {item_id}: nothing to change (give a new --title or --summary)")
    item.edited_at = utcnow()
    item.enriched_at = item.edited_at  # pages and caches keyed by it show the new text
    _audit_item(session, actor, "item.edit", item, reason, changes)
    return item


def revert_edit(session: Session, actor: Actor, item_id: int, reason: str = "") -> Item:
    """Show the original title and summary again."""
    item = item_of(session, item_id)
    if item.edited_at is None:
        raise EditorialError(f"item {item_id} was never edited")
    if item.original_title is not None:
        item.title = item.original_title
    if item.original_summary is not None:
        item.summary = item.original_summary or None
    item.original_title = item.original_summary = None
    item.edited_at = None
    item.enriched_at = utcnow()
    _audit_item(session, actor, "item.revert_edit", item, reason)
    return item


def retag(
    settings: Settings, actor: Actor, item_id: int, hashtag: str, channel: str | None = None
) -> str:
    """An editor's hashtag correction (it trains the channel's tagger), audited."""
    from newsline.enrich.stage import retag as apply_retag

    with session_scope(settings.database_url) as session:
        before = [
            h
            for (h,) in session.execute(
                select(ItemHashtag.hashtag)
                .join(Channel, Channel.id == ItemHashtag.channel_id)
                .where(
                    ItemHashtag.item_id == item_id,
                    Channel.slug == (channel or settings.web.default_channel),
                )
                .order_by(ItemHashtag.rank)
            )
        ]
    slug = apply_retag(settings, item_id, hashtag, channel)
    tag = hashtag_name(hashtag)
    with session_scope(settings.database_url) as session:
        item = item_of(session, item_id)
        row = channel_row(session, settings, slug)
        record(
            session,
            actor,
            "item.retag",
            "item",
            item_id,
            channel_id=row.id,
            detail={"title": item.title[:200], "hashtag": tag, "before": before},
        )
    return slug


# --- publications ----------------------------------------------------------------------------


def publication_of(session: Session, tag: str) -> Publication:
    """The publication with this tag (not a channel's own), or :class:`EditorialError`."""
    publication = session.scalar(select(Publication).where(Publication.tag == tag))
    if publication is None:
        raise EditorialError(f"no publication tagged {tag!r} (see `newsline publications list`)")
    if publication.is_channel_own:
        raise EditorialError(f"{tag!r} is a channel's own publication (its digests)")
    return publication


def pause_publication(session: Session, actor: Actor, tag: str, reason: str = "") -> Publication:
    """Stop fetching a publication's feeds (its items stay as they are)."""
    publication = publication_of(session, tag)
    if publication.paused_at is not None:
        raise EditorialError(f"{tag} is paused already")
    publication.paused_at = utcnow()
    record(session, actor, "publication.pause", "publication", tag, reason=reason)
    return publication


def resume_publication(session: Session, actor: Actor, tag: str, reason: str = "") -> Publication:
    """Fetch a paused publication's feeds again, at once."""
    publication = publication_of(session, tag)
    if publication.paused_at is None:
        raise EditorialError(f"{tag} is not paused")
    publication.paused_at = None
    session.execute(
        update(Feed).where(Feed.publication_id == publication.id).values(next_fetch_at=None)
    )
    record(session, actor, "publication.resume", "publication", tag, reason=reason)
    return publication


def update_publication(
    session: Session,
    actor: Actor,
    tag: str,
    *,
    name: str | None = None,
    icon_url: str | None = None,
    republish: str | None = None,
    new_tag: str | None = None,
) -> Publication:
    """Rename, re-icon, change the republish mode or the tag of a publication."""
    import re

    from newsline.sanitize import web_url

    publication = publication_of(session, tag)
    changes: dict[str, Any] = {}
    if name is not None and " ".join(name.split()) != publication.name:
        clean = " ".join(name.split())
        if not clean or len(clean) > 300:
            raise EditorialError("a publication's name is 1 to 300 characters")
        changes["name"] = {"from": publication.name, "to": clean}
        publication.name = clean
    if icon_url is not None and (icon_url.strip() or None) != publication.icon_url:
        icon = icon_url.strip() or None
        if icon is not None and web_url(icon) is None:
            raise EditorialError("the icon must be an http(s) URL")
        changes["icon_url"] = {"from": publication.icon_url, "to": icon}
        publication.icon_url = icon
    if republish is not None and republish != publication.republish:
        if republish not in ("full", "teaser"):
            raise EditorialError(f"republish must be full or teaser, not {republish!r}")
        changes["republish"] = {"from": publication.republish, "to": republish}
        publication.republish = republish
    if new_tag is not None and new_tag != publication.tag:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", new_tag):
            raise EditorialError(f"tag {new_tag!r} must be lower-case letters, digits, '-' or '_'")
        if session.scalar(select(Publication.id).where(Publication.tag == new_tag)):
            raise EditorialError(f"tag {new_tag!r} is taken")
        changes["tag"] = {"from": publication.tag, "to": new_tag}
        publication.tag = new_tag
    if not changes:
        raise EditorialError(f"{tag}: nothing to change")
    record(session, actor, "publication.update", "publication", publication.tag, detail=changes)
    return publication


@dataclass
class Removal:
    """What removing a publication did."""

    tag: str
    deleted: bool  # the publication had no item and is gone entirely
    items: int  # its items
    hidden: int = 0  # of which unpublished now


def remove_publication(
    session: Session,
    actor: Actor,
    tag: str,
    items: Literal["keep", "hide"] | None,
    reason: str = "",
) -> Removal:
    """Stop carrying a publication: its feeds go; its items are kept or hidden, never lost.

    With no item at all it is deleted outright. With items, `items` must say what becomes
    of them: ``keep`` (still shown) or ``hide`` (unpublished, each one restorable).
    """
    publication = publication_of(session, tag)
    count = (
        session.scalar(
            select(func.count()).select_from(Item).where(Item.publication_id == publication.id)
        )
        or 0
    )
    if count and items not in ("keep", "hide"):
        raise EditorialError(
            f"{tag} has {count} item{'s' if count != 1 else ''}: say what becomes of them "
            "with --keep-items (still shown) or --hide-items (unpublished, restorable)"
        )
    feeds = [feed.id for feed in publication.feeds]
    websub.forget_feeds(session, feeds)
    detail: dict[str, Any] = {"items": count, "feeds": len(feeds)}
    if not count:
        session.delete(publication)
        record(
            session, actor, "publication.remove", "publication", tag, reason=reason, detail=detail
        )
        return Removal(tag, deleted=True, items=0)
    for feed in list(publication.feeds):
        session.delete(feed)
    publication.removed_at = utcnow()
    hidden = 0
    if items == "hide":
        ids = list(
            session.scalars(
                select(Item.id).where(Item.publication_id == publication.id, Item.state == "ready")
            )
        )
        for start in range(0, len(ids), 500):
            session.execute(
                update(Item).where(Item.id.in_(ids[start : start + 500])).values(state=UNPUBLISHED)
            )
        hidden = len(ids)
        detail["hidden_item_ids"] = ids[:1000]
    detail["kept"] = items
    record(session, actor, "publication.remove", "publication", tag, reason=reason, detail=detail)
    return Removal(tag, deleted=False, items=count, hidden=hidden)


# --- the Digest --------------------------------------------------------------------------------


def preview_digest(settings: Settings, channel: str, at: datetime | None = None) -> DigestResult:
    """The next Digest exactly as publishing it now would compose it; nothing is stored."""
    return run_digest(settings, channel, at=at, dry_run=True)


def publish_digest_now(
    settings: Settings, actor: Actor, channel: str, at: datetime | None = None
) -> DigestResult:
    """Publish the current slot's Digest now (idempotent per slot), audited."""
    result = run_digest(settings, channel, at=at)
    with session_scope(settings.database_url) as session:
        row = channel_row(session, settings, channel)
        record(
            session,
            actor,
            "digest.publish",
            "digest",
            result.digest_id if result.digest_id is not None else result.slug,
            channel_id=row.id,
            detail={"status": result.status, "title": result.title, "entries": result.entries},
        )
    return result


def digest_of(session: Session, digest_id: int) -> tuple[Digest, Item]:
    """A stored Digest and its item, or :class:`EditorialError`."""
    digest = session.get(Digest, digest_id)
    if digest is None or digest.item_id is None:
        raise EditorialError(f"no digest with id {digest_id}")
    item = session.get(Item, digest.item_id)
    if item is None:
        raise EditorialError(f"digest {digest_id} has lost its item")
    return digest, item


def edit_overview(
    session: Session, actor: Actor, digest_id: int, overview: str, reason: str = ""
) -> Item:
    """Rewrite a published Digest's overview (its page's summary box); the first kept."""
    digest, item = digest_of(session, digest_id)
    text = " ".join(overview.split())
    if len(text) > 1000:
        raise EditorialError("the overview is longer than 1,000 characters")
    if text == (item.summary or ""):
        raise EditorialError("the overview is unchanged")
    if item.original_summary is None:  # the first overview edit keeps the original
        item.original_summary = item.summary or ""
    before = item.summary or ""
    item.summary = text or None
    item.teaser = text[:280]
    item.edited_at = item.enriched_at = utcnow()
    record(
        session,
        actor,
        "digest.edit_overview",
        "digest",
        digest.id,
        channel_id=digest.channel_id,
        reason=reason,
        detail={"from": before[:500], "to": text[:500]},
    )
    return item


@dataclass
class Resend:
    """What resending a Digest's e-mail edition did."""

    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def resend_digest(settings: Settings, actor: Actor, digest_id: int) -> Resend:
    """E-mail a published Digest again to every confirmed subscriber of its channel."""
    if not settings.email.enabled:
        raise EditorialError(
            "e-mail is not enabled: set [email] enabled = true and the SMTP server"
        )
    report = Resend()
    with session_scope(settings.database_url) as session:
        digest, _item = digest_of(session, digest_id)
        channel = session.get(Channel, digest.channel_id)
        assert channel is not None
        # As the console set the channel (name, hashtag order), like the scheduled mail.
        cfg = channel_settings(effective_settings(settings), channel.slug)
        edition = digest_edition(session, cfg, digest)
        outbox = [
            (sub.email, digest_message(settings, cfg, sub, edition))
            for sub in session.scalars(
                select(Subscriber)
                .where(Subscriber.channel_id == channel.id, Subscriber.status == "confirmed")
                .order_by(Subscriber.id)
            )
        ]
        channel_id = channel.id
    try:
        with smtp_session(settings.email) as smtp:
            for address, message in outbox:
                try:
                    smtp.send_message(message)
                except smtplib.SMTPException as exc:
                    report.failed[address] = str(exc)
                else:
                    report.sent.append(address)
    except (MailError, OSError) as exc:
        raise EditorialError(f"resending failed after {len(report.sent)} mails: {exc}") from exc
    finally:
        with session_scope(settings.database_url) as session:
            record(
                session,
                actor,
                "digest.resend",
                "digest",
                digest_id,
                channel_id=channel_id,
                detail={"sent": len(report.sent), "failed": len(report.failed)},
            )
    return report


def next_slot_of(cfg: ChannelSettings, now: datetime | None = None) -> datetime:
    """The slot a Digest published now would take."""
    return slot_containing(now or datetime.now(UTC), cfg.zone, cfg.digest.schedule)


# --- the sponsor's counts ------------------------------------------------------------------


def count_sponsor(
    session: Session, channel_id: int, band: str, *, click: bool, now: datetime | None = None
) -> None:
    """Add one impression or click of a sponsor variant to today's count (no reader kept)."""
    day = (now or utcnow()).astimezone(UTC).strftime("%Y-%m-%d")
    key = {"channel_id": channel_id, "day": day, "band": band}
    column = SponsorStat.clicks if click else SponsorStat.impressions
    changed = session.execute(
        update(SponsorStat)
        .where(*(getattr(SponsorStat, k) == v for k, v in key.items()))
        .values({column: column + 1})
    )
    if getattr(changed, "rowcount", 0):
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    values = {**key, "impressions": 0 if click else 1, "clicks": 1 if click else 0}
    session.execute(
        upsert(SponsorStat)
        .values(values)
        .on_conflict_do_update(
            index_elements=["channel_id", "day", "band"], set_={column.key: column + 1}
        )
    )


def sponsor_stats(
    session: Session, channel_id: int, days: int = 14, now: datetime | None = None
) -> list[SponsorStat]:
    """The last `days` days of sponsor counts, oldest first."""
    since = ((now or utcnow()) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    return list(
        session.scalars(
            select(SponsorStat)
            .where(SponsorStat.channel_id == channel_id, SponsorStat.day >= since)
            .order_by(SponsorStat.day, SponsorStat.band)
        )
    )


# --- what readers are told -----------------------------------------------------------------


def withdrawn(conn: Connection, channel_id: int, publication_tag: str, slug: str) -> bool:
    """Whether the item page at (publication tag, slug or bare id) is one an editor
    unpublished from this channel: it answers 410 Gone, not 404."""
    members = select(Newsline.publication_id).where(Newsline.channel_id == channel_id)
    query = (
        select(Item.id)
        .join(Publication, Publication.id == Item.publication_id)
        .where(
            Publication.tag == publication_tag,
            Item.state == UNPUBLISHED,
            Item.publication_id.in_(members),
        )
    )
    by_slug = query.where(Item.slug == slug).limit(1)
    if conn.execute(by_slug).first() is not None:
        return True
    if slug.isdigit() and len(slug) < 19:
        by_id = query.where(Item.id == int(slug), Item.slug.is_(None)).limit(1)
        return conn.execute(by_id).first() is not None
    return False


def withdrawn_id(conn: Connection, channel_id: int, item_id: int) -> bool:
    """Whether item ``item_id`` is one an editor unpublished from this channel (its API
    answer is 410 Gone, like its page)."""
    members = select(Newsline.publication_id).where(Newsline.channel_id == channel_id)
    query = select(Item.id).where(
        Item.id == item_id, Item.state == UNPUBLISHED, Item.publication_id.in_(members)
    )
    return conn.execute(query).first() is not None


def without_withdrawn(conn: Connection | Session, digest_item_id: int, body_html: str) -> str:
    """A Digest's body without what editors unpublished since it was published.

    An entry whose lead item is unpublished is dropped whole (headline, thumbnail and
    summary are that item's words, often the very reason it was withdrawn; a headline
    left as plain text would still show it); an "also" link to an unpublished item goes;
    a hashtag section left empty goes too. The stored body stays as published.
    """
    entries = conn.execute(select(Digest.entries).where(Digest.item_id == digest_item_id))
    ids = {i for (rows,) in entries for e in rows or [] for i in e.get("item_ids") or []}
    if not ids or not body_html:
        return body_html
    gone = set(unpublished_among(conn, ids).values())
    if not gone:
        return body_html
    root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    emptied: list[Any] = []
    for link in list(root.iter("a")):
        if link.get("href") not in gone or link.getparent() is None:
            continue
        entry = next(link.iterancestors("article"), None)
        if next(link.iterancestors("h3"), None) is not None and entry is not None:
            emptied.extend(entry.iterancestors("section"))
            entry.drop_tree()
            continue
        footer = next(link.iterancestors("footer"), None)
        link.drop_tree()
        if footer is not None:
            kept = list(footer.iter("a"))
            for child in list(footer):
                footer.remove(child)
            footer.text = "also: " if kept else ""
            for n, a in enumerate(kept):
                a.tail = ", " if n < len(kept) - 1 else ""
                footer.append(a)
            if not kept:
                footer.drop_tree()
    for section in emptied:
        if section.getparent() is not None and section.find(".//article") is None:
            section.drop_tree()
    out = [root.text or ""]
    out.extend(lxml.html.tostring(child, encoding="unicode") for child in root)
    return "".join(out)


# --- adding publications -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A feed found at an address: its URL, title and how many entries it has now."""

    url: str
    title: str
    entries: int
    error: str = ""


async def discover(settings: Settings, url: str, limit: int = 8) -> list[Candidate]:
    """What an address offers: itself when it is a feed, else every feed its page announces
    (each fetched and parsed, so the editor sees which work)."""
    from newsline.ingest.feeds import (
        WELL_KNOWN_FEEDS,
        FeedError,
        NotAFeedError,
        discover_feeds,
        looks_like_html,
        parse_feed,
        well_known_feeds,
    )
    from newsline.ingest.fetch import Fetcher, FetchError
    from newsline.ingest.refresh import FEED_ACCEPT

    async with Fetcher(settings.fetch) as fetcher:
        try:
            result = await fetcher.get(url, kind="feed", accept=FEED_ACCEPT)
        except FetchError as exc:
            raise EditorialError(f"cannot fetch {url}: {exc.reason}") from exc
        try:
            parsed = parse_feed(result.body, result.final_url, result.content_type)
            return [Candidate(result.final_url, parsed.title or "", len(parsed.entries))]
        except NotAFeedError:
            links = discover_feeds(result.body, result.final_url)
        except FeedError as exc:
            if not looks_like_html(result.body):
                raise EditorialError(f"{url} is not a usable feed: {exc}") from exc
            links = discover_feeds(result.body, result.final_url)
        found: list[Candidate] = []
        guessed = not links
        for link in links[:limit] or well_known_feeds(result.final_url):
            try:
                got = await fetcher.get(link, kind="feed", accept=FEED_ACCEPT)
                parsed = parse_feed(got.body, got.final_url, got.content_type)
                found.append(Candidate(got.final_url, parsed.title or "", len(parsed.entries)))
                if guessed:  # the first well-known address that works is the site's feed
                    break
            except (FetchError, FeedError) as exc:
                if not guessed:
                    found.append(Candidate(link, "", 0, error=str(exc)[:200]))
        if not found:
            raise EditorialError(
                f"{url} is a web page that announces no feed (no <link rel=alternate>, no "
                f"link to one, nothing at {', '.join(WELL_KNOWN_FEEDS)}); "
                "give the feed's URL instead"
            )
        return found


async def add_publication(
    settings: Settings,
    actor: Actor,
    feed_url: str,
    *,
    tag: str | None = None,
    name: str | None = None,
    republish: str = "teaser",
) -> Publication:
    """Add a publication by a feed URL (verified again), audited."""
    from newsline.ingest.publications import add_from_url

    publication = await add_from_url(
        settings, feed_url, tag=tag or None, name=name or None, republish=republish
    )
    with session_scope(settings.database_url) as session:
        record(
            session,
            actor,
            "publication.add",
            "publication",
            publication.tag,
            detail={"feed": feed_url, "name": publication.name, "republish": republish},
        )
    return publication


@dataclass
class Health:
    """A publication's health for the console."""

    publication: Publication
    feeds: list[Feed]
    items: int
    per_day: float  # items first seen per day over the last week
    from_page: float | None  # share of last week's items extracted from their page
    failed: int  # last week's items whose page could not be used at all

    @property
    def status(self) -> str:
        if self.publication.removed_at is not None:
            return "removed"
        if self.publication.paused_at is not None:
            return "paused"
        states = {f.status for f in self.feeds}
        return "error" if "error" in states else "ok" if "ok" in states else "new"

    @property
    def last_fetched_at(self) -> datetime | None:
        stamps = [f.last_fetched_at for f in self.feeds if f.last_fetched_at]
        return max(stamps) if stamps else None


def publication_health(session: Session, now: datetime | None = None) -> list[Health]:
    """Every publication (not channels' own) with its feeds and last week's figures."""
    week = (now or utcnow()) - timedelta(days=7)
    publications = list(
        session.scalars(
            select(Publication)
            .where(Publication.is_channel_own.is_(False))
            .order_by(Publication.tag)
        )
    )
    totals = dict(
        session.execute(
            select(Item.publication_id, func.count()).group_by(Item.publication_id)
        ).all()
    )
    recent: dict[int, dict[str, int]] = {}
    for pid, source, state, n in session.execute(
        select(Item.publication_id, Item.content_source, Item.state, func.count())
        .where(Item.first_seen_at >= week)
        .group_by(Item.publication_id, Item.content_source, Item.state)
    ):
        bucket = recent.setdefault(pid, {"all": 0, "page": 0, "done": 0, "failed": 0})
        bucket["all"] += n
        if state == "failed":
            bucket["failed"] += n
        elif state != "pending":
            bucket["done"] += n
            if source == "page":
                bucket["page"] += n
    out = []
    for p in publications:
        r = recent.get(p.id, {"all": 0, "page": 0, "done": 0, "failed": 0})
        out.append(
            Health(
                publication=p,
                feeds=list(p.feeds),
                items=int(totals.get(p.id, 0)),
                per_day=r["all"] / 7,
                from_page=r["page"] / r["done"] if r["done"] else None,
                failed=r["failed"],
            )
        )
    return out


# --- e-mail subscribers --------------------------------------------------------------------


def subscriber_of(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber, or :class:`EditorialError`."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None:
        raise EditorialError(f"no subscriber with id {subscriber_id}")
    return sub


def confirm_subscriber(session: Session, actor: Actor, subscriber_id: int) -> Subscriber:
    """Confirm an address for someone who asked the editors directly."""
    from newsline.community.subscribers import confirm

    sub = subscriber_of(session, subscriber_id)
    if sub.status == "confirmed":
        raise EditorialError(f"{sub.email} is confirmed already")
    if sub.status == "unsubscribed":
        raise EditorialError(f"{sub.email} unsubscribed: only they can subscribe again")
    confirm(session, sub.token)
    record(
        session,
        actor,
        "subscriber.confirm",
        "subscriber",
        sub.id,
        channel_id=sub.channel_id,
        detail={"email": sub.email},
    )
    return sub


def remove_subscriber(session: Session, actor: Actor, channel_id: int, email: str) -> None:
    """Delete a subscriber outright."""
    from newsline.community.subscribers import remove

    if not remove(session, channel_id, email):
        raise EditorialError(f"{email} is not a subscriber")
    record(
        session, actor, "subscriber.remove", "subscriber", email.strip()[:64], channel_id=channel_id
    )


# --- channel settings from the console -----------------------------------------------------


def set_channel_setting(
    session: Session, settings: Settings, actor: Actor, slug: str, key: str, value: Any
) -> None:
    """Store a channel setting that wins over the config file's (validated first)."""
    from pydantic import ValidationError

    from newsline.db.channels import (
        OVERRIDABLE,
        bump_settings_version,
        stored_overrides,
        with_overrides,
    )
    from newsline.db.models import ChannelSetting

    if key not in OVERRIDABLE:
        raise EditorialError(f"{key!r} cannot be changed from the console")
    cfg = channel_settings(settings, slug)
    current = stored_overrides(session).get(slug, {})
    try:
        checked = with_overrides(cfg, {**current, key: value})
        if key == "digest.schedule":
            from newsline.publish.digest import parse_schedule

            parse_schedule(checked.digest.schedule)
    except (ValidationError, NewslineError) as exc:
        first_error = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise EditorialError(f"{key}: {first_error}") from exc
    row = channel_row(session, settings, slug)
    found = session.get(ChannelSetting, (row.id, key))
    before = found.value if found is not None else None
    if found is None:
        session.add(
            ChannelSetting(channel_id=row.id, key=key, value=value, updated_by=actor.label[:320])
        )
    else:
        found.value = value
        found.updated_at = utcnow()
        found.updated_by = actor.label[:320]
    bump_settings_version(session)
    record(
        session,
        actor,
        "channel.set",
        "channel",
        slug,
        channel_id=row.id,
        detail={"key": key, "from": before, "to": value},
    )


def clear_channel_setting(
    session: Session, settings: Settings, actor: Actor, slug: str, key: str
) -> None:
    """Forget a console setting: the config file's value applies again."""
    from newsline.db.channels import bump_settings_version
    from newsline.db.models import ChannelSetting

    row = channel_row(session, settings, slug)
    found = session.get(ChannelSetting, (row.id, key))
    if found is None:
        raise EditorialError(f"{slug}: {key} is the config file's already")
    before = found.value
    session.delete(found)
    bump_settings_version(session)
    record(
        session,
        actor,
        "channel.reset",
        "channel",
        slug,
        channel_id=row.id,
        detail={"key": key, "from": before},
    )

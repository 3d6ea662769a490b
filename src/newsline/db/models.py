"""The tables. One concept, one name: channel, publication, feed, item, story, digest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Channel(Base):
    """A branded site; its settings live in the config file, this row anchors references."""

    __tablename__ = "channel"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    own_publication_id: Mapped[int | None] = mapped_column(
        ForeignKey("publication.id", ondelete="SET NULL")
    )


class Publication(Base):
    """A source: display name, short tag, home page, icon and republish mode."""

    __tablename__ = "publication"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    home_url: Mapped[str | None] = mapped_column(String(2000))
    icon_url: Mapped[str | None] = mapped_column(String(2000))
    republish: Mapped[str] = mapped_column(String(10), default="teaser")  # full | teaser
    is_channel_own: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paused_at: Mapped[datetime | None] = mapped_column()  # set: its feeds are not fetched
    removed_at: Mapped[datetime | None] = mapped_column()  # removed, its items kept or hidden
    feeds: Mapped[list[Feed]] = relationship(
        back_populates="publication", cascade="all, delete-orphan"
    )


class Newsline(Base):
    """Membership: which publications a channel carries."""

    __tablename__ = "newsline"
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publication.id", ondelete="CASCADE"), primary_key=True
    )


class Feed(Base):
    """A feed URL of a publication, with its fetch state."""

    __tablename__ = "feed"
    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="new")  # new | ok | error
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_fetched_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    next_fetch_at: Mapped[datetime | None] = mapped_column(index=True)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    publication: Mapped[Publication] = relationship(back_populates="feeds")


class WebSubSubscription(Base):
    """A WebSub subscription of a feed at the hub it advertises (see ingest/websub.py).

    It outlives its feed (``feed_id`` becomes NULL) until the hub confirms the unsubscribe.
    """

    __tablename__ = "websub_subscription"
    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("feed.id", ondelete="SET NULL"), unique=True
    )
    hub: Mapped[str] = mapped_column(String(2000))
    topic: Mapped[str] = mapped_column(String(2000))
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the callback's path segment
    secret: Mapped[str] = mapped_column(String(200))  # hub.secret: signs every delivery
    # new -> requested -> active; failed (the feed is polled as usual); unsubscribing
    state: Mapped[str] = mapped_column(String(16), default="new")
    pending_mode: Mapped[str | None] = mapped_column(String(12))  # what the hub may verify
    requested_at: Mapped[datetime | None] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    rejected_deliveries: Mapped[int] = mapped_column(Integer, default=0)
    last_delivery_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Story(Base):
    """Items from different publications about the same event."""

    __tablename__ = "story"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(1000), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    publication_count: Mapped[int] = mapped_column(Integer, default=0)


class Item(Base):
    """One article (digests are items of a channel's own publication)."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("publication_id", "guid"),
        UniqueConstraint("publication_id", "slug"),
        Index("ix_item_published_sort", "state", "sort_at"),
        Index("ix_item_publication_sort", "publication_id", "sort_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feed.id", ondelete="SET NULL"))
    guid: Mapped[str] = mapped_column(String(2000))
    url: Mapped[str] = mapped_column(String(2000), unique=True)  # normalized entry link
    link: Mapped[str] = mapped_column(String(2000), default="")  # the link as the feed gave it
    canonical_url: Mapped[str | None] = mapped_column(String(2000), unique=True)
    # pending (found in a feed) -> ready (extracted or feed content kept) | duplicate;
    # ready <-> unpublished (an editor withdrew it: shown nowhere, its page answers 410)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    extract_error: Mapped[str | None] = mapped_column(Text)
    content_source: Mapped[str | None] = mapped_column(String(12))  # page | feed
    title: Mapped[str] = mapped_column(String(1000), default="")
    author: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None] = mapped_column()
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    sort_at: Mapped[datetime] = mapped_column(default=utcnow)  # published, capped at first seen
    site_name: Mapped[str | None] = mapped_column(String(300))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    image_caption: Mapped[str | None] = mapped_column(Text)
    teaser: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    feed_html: Mapped[str | None] = mapped_column(Text)  # the feed's own content, kept as fallback
    language: Mapped[str | None] = mapped_column(String(12))
    slug: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("item.id", ondelete="SET NULL"), index=True
    )
    near_duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("item.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("story.id", ondelete="SET NULL"), index=True
    )
    enriched_at: Mapped[datetime | None] = mapped_column()
    # Hashtags and summary written (enrich/stage.tag_pending: several workers at once); the
    # order-dependent rest of enrichment (near-duplicates, story) then sets enriched_at.
    tagged_at: Mapped[datetime | None] = mapped_column()
    comment_count: Mapped[int] = mapped_column(Integer, default=0)  # published comments
    # Bumped by every change of what its comment section shows (web/comments.py caches the
    # rendered section per version; the item page dates itself by the stamp).
    comment_version: Mapped[int] = mapped_column(Integer, default=0)
    comments_changed_at: Mapped[datetime | None] = mapped_column()
    # An editor's choices (publish/editorial.py): include | exclude (None: the digest decides)
    digest_choice: Mapped[str | None] = mapped_column(String(8))
    pinned_until: Mapped[datetime | None] = mapped_column(index=True)  # lead of the front page
    # What the feed or page gave, kept when an editor rewrote the displayed title/summary.
    original_title: Mapped[str | None] = mapped_column(String(1000))
    original_summary: Mapped[str | None] = mapped_column(Text)
    edited_at: Mapped[datetime | None] = mapped_column()
    # The publication's own section/category labels for the item (feed categories, JSON
    # Feed tags): a signal for the hashtag classifier. None when the feed gave none.
    sections: Mapped[list[str] | None] = mapped_column(JSON)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    publication: Mapped[Publication] = relationship()
    hashtags: Mapped[list[ItemHashtag]] = relationship(
        cascade="all, delete-orphan", order_by="ItemHashtag.rank"
    )


class ItemHashtag(Base):
    """A hashtag given to an item for one channel (rank 0 = primary)."""

    __tablename__ = "item_hashtag"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("item.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    hashtag: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(String(10), default="auto")  # auto | editor
    __table_args__ = (Index("ix_item_hashtag_channel_tag", "channel_id", "hashtag", "rank"),)


class Digest(Base):
    """One published Digest of a channel: exactly one per channel and slot."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("channel_id", "slot_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    slot_at: Mapped[datetime] = mapped_column()
    window_start: Mapped[datetime] = mapped_column()
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    entries: Mapped[list[Any]] = mapped_column(default=list)


class ChannelSetting(Base):
    """A channel setting changed from the console: it wins over the config file's value."""

    __tablename__ = "channel_setting"
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. hometown, sponsor
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class SettingsVersion(Base):
    """One row whose number every console or CLI channel-settings write bumps: a process
    re-reads ``channel_setting`` only when it changed (db/channels.py)."""

    __tablename__ = "settings_version"
    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    version: Mapped[int] = mapped_column(Integer, default=0)


class DataVersion(Base):
    """One row whose number every write that changes what the reader's pages show bumps, in
    the writer's transaction (db/data_version.py): the web keeps pages' fragments by it."""

    __tablename__ = "data_version"
    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    version: Mapped[int] = mapped_column(Integer, default=0)


class SponsorStat(Base):
    """Sponsor impressions and clicks of one day and width band: counts, nobody's trail."""

    __tablename__ = "sponsor_stat"
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    band: Mapped[str] = mapped_column(String(16), primary_key=True)  # lt500 ... ge1800
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)


class Subscriber(Base):
    """An e-mail subscriber to a channel's Digest (double opt-in, one-click unsubscribe)."""

    __tablename__ = "subscriber"
    __table_args__ = (UniqueConstraint("channel_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    # pending (confirmation mail sent) -> confirmed -> unsubscribed
    status: Mapped[str] = mapped_column(String(12), default="pending")
    token: Mapped[str] = mapped_column(String(64), unique=True)  # confirm + unsubscribe links
    cadence: Mapped[str] = mapped_column(String(8), default="all")  # all | daily
    daily_hour: Mapped[int] = mapped_column(Integer, default=7)  # local hour for "daily"
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the channel's zone
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    unsubscribed_at: Mapped[datetime | None] = mapped_column()
    last_sent_at: Mapped[datetime | None] = mapped_column()  # newest digest slot e-mailed
    confirmation_sent_at: Mapped[datetime | None] = mapped_column()  # throttles the form
    last_error: Mapped[str | None] = mapped_column(Text)


class FetchLog(Base):
    """One HTTP attempt: what was asked, what came back, how long it took."""

    __tablename__ = "fetch_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("feed.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # feed | page | robots
    url: Mapped[str] = mapped_column(String(2000))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(Integer, default=0)


class Presence(Base):
    """A reader seen on a channel recently (page heartbeats): the dateline's online count."""

    __tablename__ = "presence"
    __table_args__ = (Index("ix_presence_channel_seen", "channel_id", "seen_at"),)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    visitor: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who sent the heartbeats (a hash of the client's IP): each counts a few readers at most.
    client: Mapped[str] = mapped_column(String(64), default="")


class SendBudget(Base):
    """Mails of one kind sent within one hour, per key (a client, or everyone): the
    budgets that keep the subscribe form from becoming a mail cannon, on every worker."""

    __tablename__ = "send_budget"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Throttle(Base):
    """Failed attempts of one kind by one key (an account, an IP range): back-off and lock-out
    that hold across workers (community/limits.py)."""

    __tablename__ = "throttle"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column()
    blocked_until: Mapped[datetime | None] = mapped_column()


class SiteSecret(Base):
    """A random server secret made on first use (signs CSRF tokens) when none is configured."""

    __tablename__ = "site_secret"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A job that at most one process may run at a time on this database."""

    __tablename__ = "lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column()


# --- Community: accounts, sessions, comments, moderation, reader preferences -------------


class User(Base):
    """A reader's account. ``role`` is install-wide; :class:`ChannelRole` adds per channel."""

    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    display_name: Mapped[str] = mapped_column(String(64))
    # The display name folded (NFKC, case-folded, invisible characters removed): unique.
    display_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: e-mail links only
    role: Mapped[str] = mapped_column(String(12), default="reader")  # reader|moderator|editor|admin
    verified_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column()
    notify_replies: Mapped[bool] = mapped_column(Boolean, default=False)
    # Private feeds (the reader's own newsline): revocable; None until asked for.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Unsubscribe link of reply notifications (one click, no sign-in).
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    deleted_at: Mapped[datetime | None] = mapped_column()


class ChannelRole(Base):
    """A role a user holds on one channel only (e.g. moderator of ``news``)."""

    __tablename__ = "channel_role"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(12))


class AuthSession(Base):
    """A signed-in browser. The cookie carries the secret; the table keeps its hash."""

    __tablename__ = "auth_session"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    client: Mapped[str] = mapped_column(String(64), default="")  # a hash of the IP
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class AuthToken(Base):
    """A one-time link sent by e-mail (verify, sign in, reset password): kept as a hash."""

    __tablename__ = "auth_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(12))  # verify | signin | reset | email
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class ApiToken(Base):
    """A personal API token (``Authorization: Bearer``): kept as a hash, revocable."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class Ban(Base):
    """An account or an IP range barred from posting until a time (None: for good)."""

    __tablename__ = "ban"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    network: Mapped[str | None] = mapped_column(String(64))  # CIDR, e.g. 203.0.113.0/24
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime | None] = mapped_column()
    lifted_at: Mapped[datetime | None] = mapped_column()


class Comment(Base):
    """A reader's comment on an item (digests are items too), threaded by ``parent_id``."""

    __tablename__ = "comment"
    __table_args__ = (
        Index("ix_comment_item_status_created", "item_id", "status", "created_at"),
        Index("ix_comment_channel_status_created", "channel_id", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("comment.id", ondelete="SET NULL"), index=True
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    author_id: Mapped[int | None] = mapped_column(  # None: the author deleted their account
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    body: Mapped[str] = mapped_column(Text)  # the Markdown as written
    body_html: Mapped[str] = mapped_column(Text)  # rendered through sanitize.COMMENT
    # published | held (awaiting a moderator) | hidden | spam | deleted
    status: Mapped[str] = mapped_column(String(10), default="published")
    hold_reason: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(Integer, default=0)  # upvotes
    client: Mapped[str] = mapped_column(String(64), default="")  # a hash of the IP
    network: Mapped[str] = mapped_column(String(64), default="")  # the IP's /24 or /48
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column()
    # What the channel's spam model learnt from this comment (spam | ham), None: nothing yet.
    trained: Mapped[str | None] = mapped_column(String(4))


class SpamFeature(Base):
    """A channel's spam model: per hashed word, how many spam and ham comments carried it.

    Bucket -1 counts the comments themselves (the priors). Moderators' decisions add to the
    counts with atomic upserts, so two moderators at once lose nothing.
    """

    __tablename__ = "spam_feature"
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    spam: Mapped[int] = mapped_column(Integer, default=0)
    ham: Mapped[int] = mapped_column(Integer, default=0)


class CommentVote(Base):
    """One reader's upvote of one comment."""

    __tablename__ = "comment_vote"
    comment_id: Mapped[int] = mapped_column(
        ForeignKey("comment.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommentFlag(Base):
    """A reader's report of a comment, until a moderator resolves it."""

    __tablename__ = "comment_flag"
    __table_args__ = (UniqueConstraint("comment_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(
        ForeignKey("comment.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """One moderation, editorial or operator action: append-only (who, what, when, why)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_target", "target_type", "target_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))  # e-mail, or "cli:<os user>"
    action: Mapped[str] = mapped_column(String(64), index=True)  # e.g. comment.hide
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReaderPublication(Base):
    """A publication a signed-in reader switched off in a channel's newsline."""

    __tablename__ = "reader_publication"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publication.id", ondelete="CASCADE"), primary_key=True
    )


class ReaderHashtag(Base):
    """A hashtag a signed-in reader follows in a channel."""

    __tablename__ = "reader_hashtag"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    hashtag: Mapped[str] = mapped_column(String(64), primary_key=True)


class SavedItem(Base):
    """An item a signed-in reader saved for later."""

    __tablename__ = "saved_item"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("item.id", ondelete="CASCADE"), primary_key=True
    )
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Channels in the database: look one up by slug, and keep channel rows, their own
publications and newsline membership in step with the config."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from newsline.config import ChannelSettings, Settings
from newsline.db.data_version import bump_row
from newsline.db.engine import session_scope
from newsline.db.models import Channel, ChannelSetting, Newsline, Publication, SettingsVersion
from newsline.errors import NewslineError

log = logging.getLogger(__name__)


class UnknownChannel(NewslineError):
    """No channel of that slug is configured (or it has no database row)."""


def channel_settings(settings: Settings, slug: str) -> ChannelSettings:
    """The channel's settings, or :class:`UnknownChannel` naming the configured ones."""
    cfg = settings.channel(slug)
    if cfg is None:
        known = ", ".join(c.slug for c in settings.channels)
        raise UnknownChannel(f"unknown channel {slug!r} (configured: {known})")
    return cfg


def channel_row(session: Session, settings: Settings, slug: str) -> Channel:
    """The channel's row with its own publication, creating both (:func:`sync_channels`, in
    a transaction of its own) when the channel was configured after the last sync."""
    row = session.scalar(select(Channel).where(Channel.slug == slug))
    if row is None or row.own_publication_id is None:
        channel_settings(settings, slug)  # a slug nobody configured says so
        log.info("channel %s has no database row yet; syncing channels from the config", slug)
        try:
            with session_scope(settings.database_url) as own:
                sync_channels(own, settings)
        except IntegrityError:
            log.debug("another process created channel %s first", slug)
        row = session.scalar(select(Channel).where(Channel.slug == slug))
    if row is None or row.own_publication_id is None:
        raise UnknownChannel(f"channel {slug!r} has no database row; run `newsline db upgrade`")
    return row


def sync_channels(session: Session, settings: Settings) -> dict[str, Channel]:
    """Create or update a row per configured channel; return them by slug."""
    channels: dict[str, Channel] = {}
    for cfg in settings.channels:
        channel = session.scalar(select(Channel).where(Channel.slug == cfg.slug))
        if channel is None:
            channel = Channel(slug=cfg.slug, display_name=cfg.display_name)
            session.add(channel)
        channel.display_name = cfg.display_name
        own = session.scalar(select(Publication).where(Publication.tag == cfg.own_tag))
        if own is None:
            own = Publication(tag=cfg.own_tag, name=cfg.display_name, republish="full")
            session.add(own)
        own.is_channel_own = True
        session.flush()
        channel.own_publication_id = own.id
        channels[cfg.slug] = channel
        _sync_membership(session, channel, cfg)
    session.flush()
    return channels


def _sync_membership(session: Session, channel: Channel, cfg: ChannelSettings) -> None:
    query = select(Publication.id).where(Publication.is_channel_own.is_(False))
    if cfg.publications is not None:
        query = query.where(Publication.tag.in_(cfg.publications))
    wanted = set(session.scalars(query))
    if channel.own_publication_id is not None:
        wanted.add(channel.own_publication_id)
    have = set(
        session.scalars(select(Newsline.publication_id).where(Newsline.channel_id == channel.id))
    )
    if wanted - have:
        session.execute(
            insert(Newsline),
            [{"channel_id": channel.id, "publication_id": pid} for pid in wanted - have],
        )
    if have - wanted:
        session.execute(
            delete(Newsline).where(
                Newsline.channel_id == channel.id, Newsline.publication_id.in_(have - wanted)
            )
        )


# --- settings changed from the console ------------------------------------------------------

#: Channel settings the console may change, by dotted path in :class:`ChannelSettings`. A
#: value stored here (``channel_setting``) wins over the config file's; the file stays the
#: bootstrap and the fallback when the row is removed.
OVERRIDABLE = ("display_name", "hometown", "timezone", "digest.schedule", "sponsor", "hashtags")


def stored_overrides(session: Session) -> dict[str, dict[str, Any]]:
    """The console's channel settings, by channel slug then dotted key."""
    found: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(Channel.slug, ChannelSetting.key, ChannelSetting.value).join(
            Channel, Channel.id == ChannelSetting.channel_id
        )
    )
    for slug, key, value in rows:
        if key in OVERRIDABLE:
            found.setdefault(slug, {})[key] = value
    return found


def with_overrides(cfg: ChannelSettings, overrides: dict[str, Any]) -> ChannelSettings:
    """`cfg` with the stored values put in (validated like the config file's)."""
    if not overrides:
        return cfg
    data = cfg.model_dump()
    for key, value in overrides.items():
        target = data
        *parents, leaf = key.split(".")
        for name in parents:
            target = target[name]
        target[leaf] = value
    return ChannelSettings.model_validate(data)


def settings_version(conn: Connection) -> int:
    """The channel settings' version number (:func:`bump_settings_version`): one read by
    primary key, so a process can ask on every render-cache cycle whether to re-read them."""
    found = conn.execute(select(SettingsVersion.version).where(SettingsVersion.id == 1)).scalar()
    return int(found or 0)


def bump_settings_version(session: Session) -> None:
    """Tell every process the channel settings changed (in the writer's transaction, so the
    new number is seen together with the new settings)."""
    bump_row(session, SettingsVersion)


def effective_settings(settings: Settings) -> Settings:
    """The settings with every channel's console overrides applied (a stored value that no
    longer validates is skipped and logged: the file's value stands)."""
    try:
        with session_scope(settings.database_url) as session:
            found = stored_overrides(session)
    except SQLAlchemyError as exc:  # no tables yet (before `newsline init`)
        log.debug("no channel overrides read: %s", exc)
        return settings
    if not found:
        return settings
    channels = []
    for cfg in settings.channels:
        try:
            channels.append(with_overrides(cfg, found.get(cfg.slug, {})))
        except ValidationError as exc:
            log.error(
                "channel %s: a stored setting is invalid, the file's stands: %s", cfg.slug, exc
            )
            channels.append(cfg)
    return settings.model_copy(update={"channels": channels})

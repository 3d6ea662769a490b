"""Keep channel rows, their own publications and newsline membership in step with the config."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from newsline.config import ChannelSettings, Settings
from newsline.db.models import Channel, Newsline, Publication


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

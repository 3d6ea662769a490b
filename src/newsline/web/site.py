"""The running site: settings, database engine, templates and channel lookup."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine, select

from newsline.config import ChannelSettings, Settings
from newsline.db.engine import engine_for, session_scope
from newsline.db.models import Channel

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


class NotFound(Exception):
    """A page that does not exist; rendered as the 404 page in the channel's chrome."""

    def __init__(self, message: str = "page not found", channel: ChannelRef | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class BadRequest(Exception):
    """A malformed request (a bad cursor, say); rendered as a 400 page."""

    def __init__(self, message: str, channel: ChannelRef | None = None) -> None:
        super().__init__(message)
        self.channel = channel


@dataclass(frozen=True)
class ChannelRef:
    """A configured channel and its database id."""

    cfg: ChannelSettings
    id: int

    @property
    def slug(self) -> str:
        return self.cfg.slug


class Site:
    """Everything a request needs, created once per worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.web.base_url.rstrip("/")
        self.engine: Engine = engine_for(settings.database_url)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._channel_ids: dict[str, int] = {}
        self._memo: dict[tuple[str, ...], Any] = {}

    def memo(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        """A value computed once per process (derived from settings only)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build()
            return value

    def channel(self, slug: str) -> ChannelRef:
        """The channel with this slug, or :class:`NotFound`."""
        cfg = self.settings.channel(slug)
        if cfg is None:
            raise NotFound(f"no channel {slug!r}")
        channel_id = self._channel_ids.get(slug)
        if channel_id is None:
            channel_id = self._load_channel_id(cfg)
            self._channel_ids[slug] = channel_id
        return ChannelRef(cfg, channel_id)

    def default_channel(self) -> ChannelRef:
        """The channel served at ``/``."""
        return self.channel(self.settings.web.default_channel)

    def _load_channel_id(self, cfg: ChannelSettings) -> int:
        with self.engine.connect() as conn:
            found = conn.scalar(select(Channel.id).where(Channel.slug == cfg.slug))
        if found is not None:
            return int(found)
        # A channel configured after the last `newsline serve`/`init`: create its rows now.
        from newsline.db.channels import sync_channels

        log.info("channel %s has no database row yet; syncing channels from the config", cfg.slug)
        with session_scope(self.settings.database_url) as session:
            rows = sync_channels(session, self.settings)
            return rows[cfg.slug].id

    def url(self, path: str) -> str:
        """An absolute URL on this site."""
        return self.base_url + path


def site_of(request: Request) -> Site:
    """The :class:`Site` of the app serving `request`."""
    site: Site = request.app.state.site
    return site

"""The running site: settings, database engine, templates, URLs and channel lookup."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from newsline.community.limits import DatabaseLimits, Limits
from newsline.community.limits_redis import RedisLimits
from newsline.config import ChannelSettings, HashtagSettings, Settings
from newsline.db.channels import channel_row, effective_settings, settings_version
from newsline.db.engine import engine_for, session_scope
from newsline.errors import NewslineError
from newsline.text import hashtag_name
from newsline.urls import Urls

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: How often a process asks whether the console's channel settings changed when the render
#: cache is off (else as often as cached pages expire, ``web.render_cache_seconds``).
OVERRIDES_CHECK_SECONDS = 1.0
#: Headers of a response no cache may keep (tokens, addresses, a reader's own data).
NO_STORE = {"cache-control": "no-store"}

log = logging.getLogger(__name__)


class NotFound(NewslineError):
    """A page that does not exist; rendered as the 404 page in the channel's chrome."""

    def __init__(self, message: str = "page not found", channel: ChannelRef | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class BadRequest(NewslineError):
    """A malformed request (a bad cursor, say); rendered as a 400 page."""

    def __init__(self, message: str, channel: ChannelRef | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class Refused(NewslineError):
    """A request refused on purpose (403 forgery, 429 budget spent); rendered as its page."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        channel: ChannelRef | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.channel = channel
        self.retry_after = retry_after


def see_other(target: str) -> RedirectResponse:
    """The answer to a form: a 303 to `target`, kept by no cache."""
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


@dataclass(frozen=True)
class ChannelRef:
    """A configured channel and its database id."""

    cfg: ChannelSettings
    id: int

    @property
    def slug(self) -> str:
        return self.cfg.slug

    def hashtag(self, name: str) -> HashtagSettings:
        """The channel's hashtag `name` (any case, with or without its "#"), or NotFound."""
        wanted = hashtag_name(name)
        found = next((h for h in self.cfg.hashtags if h.tag == wanted), None)
        if found is None:
            raise NotFound(f"no hashtag #{name} on this channel", self)
        return found


class Site:
    """Everything a request needs, created once per worker process."""

    def __init__(self, settings: Settings) -> None:
        self.file_settings = settings  # as the config file says
        self.urls = Urls(settings.web.base_url)
        self.engine: Engine = engine_for(settings.database_url)
        self.limits = limits_for(settings)
        # With the channel settings changed from the console (they win over the file's). A
        # save from any process bumps their version number (db/channels.py); it is looked
        # at once per render-cache cycle, and the settings re-read only when it changed.
        self._check_every = settings.web.render_cache_seconds or OVERRIDES_CHECK_SECONDS
        self._version = self._settings_version()
        self._settings = effective_settings(settings)
        self._checked_at = time.monotonic()
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Templates ask `urls` for every path; nobody formats one by hand.
        self.templates.globals["urls"] = self.urls
        self._channel_ids: dict[str, int] = {}
        self._memo: dict[tuple[str, ...], Any] = {}

    def memo(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        """A value computed once per process (derived from settings only)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build()
            return value

    @property
    def settings(self) -> Settings:
        """The settings with the console's channel settings, re-read when another process
        (or worker) changed them: their version is checked once per render-cache cycle."""
        now = time.monotonic()
        if now - self._checked_at >= self._check_every:
            self._checked_at = now
            version = self._settings_version()
            if version != self._version:
                self._reload(version)
        return self._settings

    def reload_channel_settings(self) -> None:
        """Apply the console's channel settings now (after one was saved in this worker)."""
        self._checked_at = time.monotonic()
        self._reload(self._settings_version())

    def _reload(self, version: int | None) -> None:
        # The version is read before the settings: a change in between is seen next check.
        self._version = version
        # What pages make from a channel's settings is kept with them and made again when
        # they are new objects (web/render.per_channel_settings): nothing to clear here.
        self._settings = effective_settings(self.file_settings)

    def _settings_version(self) -> int | None:
        try:
            with self.engine.connect() as conn:
                return settings_version(conn)
        except SQLAlchemyError as exc:  # no tables yet (before `newsline init`)
            log.debug("channel settings version not read: %s", exc)
            return None

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
        # A channel configured after the last `newsline serve`/`init` gets its rows now.
        with session_scope(self.settings.database_url) as session:
            return channel_row(session, self.settings, cfg.slug).id


def limits_for(settings: Settings) -> Limits:
    """The install's rate limits (``[limits]``): counted in Redis when distributed mode
    configures one (``queue_url``), else in the database; both hold across workers."""
    if settings.queue_url:
        from newsline.workers.queue import redis_client

        return RedisLimits(settings.limits, redis_client(settings))
    return DatabaseLimits(settings.limits)


def site_of(request: Request) -> Site:
    """The :class:`Site` of the app serving `request`."""
    site: Site = request.app.state.site
    return site
